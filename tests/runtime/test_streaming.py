"""The message-streaming transport: AWS's order of calls, no socket, notifications routed, held, deduplicated."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from botkit import hookimpl
from botkit.bot import BotProcess, Endpoints
from botkit.config import parse_config
from botkit.connect.models import Item
from botkit.connect.secrets import Secret
from botkit.plugins import new_plugin_manager
from botkit.runtime import metrics
from botkit.runtime.streaming import Delivery, Streaming, StreamingSettings
from tests.emulator.snsclient import eventually
from tests.runtime.harness import TOPIC_ARN, Customer, running_bot


class Echo:
    def __init__(self) -> None:
        self.seen: list[str] = []
        self.ended = asyncio.Event()

    @hookimpl
    async def on_message(self, session: Any, message: Any) -> None:
        self.seen.append(message.content)
        await session.send_message(f"echo: {message.content}")

    @hookimpl
    def on_session_end(self) -> None:
        self.ended.set()


async def test_a_contact_on_streaming_follows_aws_order_holds_no_socket_and_stops_its_stream(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []
    completed = metrics.CONNECT_OBSERVER.completed

    def record(service: str, operation: str, outcome: str, seconds: float, attempts: int) -> None:
        calls.append(operation)
        completed(service, operation, outcome, seconds, attempts)

    monkeypatch.setattr(metrics.CONNECT_OBSERVER, "completed", record)
    echo = Echo()
    async with running_bot([echo], transport="streaming") as bot:
        assert bot.emulator is not None
        customer = Customer(bot.emulator.base_url)
        await customer.start()
        await customer.send("hello")
        await customer.wait_for(lambda items: "echo: hello" in customer.bot_messages())
        contact = bot.emulator.center.contacts[customer.contact_id]
        bot_participant = next(p for p in contact.participants.values() if p.role == "CUSTOM_BOT")
        assert not bot_participant.sockets, "the bot opened a websocket on message streaming"
        assert list(contact.streaming.values()) == [TOPIC_ARN]
        await customer.disconnect()
        await asyncio.wait_for(echo.ended.wait(), 10)
        await customer.close()
        assert bot.streaming is not None
        await bot.streaming.close()  # StopContactStreaming runs in the background: wait for it
        assert contact.streaming == {}
    assert echo.seen == ["hello"]
    joining = [name for name in calls if name in ("StartContactStreaming", "CreateParticipant", "CreateParticipantConnection")]
    assert joining[:3] == ["StartContactStreaming", "CreateParticipant", "CreateParticipantConnection"]
    assert calls.index("StopContactStreaming") > calls.index("CreateParticipantConnection")


async def test_an_in_order_chat_reads_the_transcript_once_per_customer_message_and_never_for_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A notification of the bot's own reply wakes no GetTranscript: no plugin hears it, and the read for the
    customer's next message passes it, in transcript order."""
    calls: list[str] = []
    completed = metrics.CONNECT_OBSERVER.completed

    def record(service: str, operation: str, outcome: str, seconds: float, attempts: int) -> None:
        calls.append(operation)
        completed(service, operation, outcome, seconds, attempts)

    monkeypatch.setattr(metrics.CONNECT_OBSERVER, "completed", record)
    echo = Echo()
    async with running_bot([echo], transport="streaming") as bot:
        assert bot.emulator is not None
        stats = bot.emulator.streaming.stats
        customer = Customer(bot.emulator.base_url)
        await customer.start()
        before = 0
        for text in ("one", "two", "three", "four"):
            await customer.send(text)
            await customer.wait_for(lambda items, text=text: f"echo: {text}" in customer.bot_messages())
            # every notification so far answered by the bot (the 1 is its SubscriptionConfirmation)
            await eventually(lambda: stats.delivered == stats.notifications + 1)
            if text == "one":
                before = calls.count("GetTranscript")
        reads = calls.count("GetTranscript") - before
        await customer.close()
    assert echo.seen == ["one", "two", "three", "four"]
    assert reads == 3, calls


# The hub alone, with stand-ins for the Connect clients ------------------------------------------------


class Control:
    def __init__(self) -> None:
        self.started: list[str] = []
        self.tokens: list[str] = []
        self.stopped: list[tuple[str, str]] = []

    async def start_contact_streaming(self, instance_id: str, contact_id: str, topic_arn: str, client_token: str,
                                      *, timeout: float | None = None) -> str:
        self.started.append(contact_id)
        self.tokens.append(client_token)
        return f"stream-{contact_id}"

    async def stop_contact_streaming(self, instance_id: str, contact_id: str, streaming_id: str,
                                     *, timeout: float | None = None) -> None:
        self.stopped.append((contact_id, streaming_id))


class Feed:
    contact_id = "c-1"
    finished = False

    def __init__(self) -> None:
        self.fed: list[str] = []

    def feed(self, item: Item) -> None:
        self.fed.append(item.id)

    def seen(self, item_id: str) -> bool:
        return item_id in self.fed

    def own(self, item: Item) -> bool:
        return False

    def connected(self, connection_token: Secret) -> None: ...

    def live(self) -> None: ...


def item(item_id: str, contact_id: str = "c-1", content_type: str = "text/plain") -> Item:
    return Item.from_wire({"Id": item_id, "Type": "MESSAGE", "ContentType": content_type, "ContactId": contact_id})


def hub(control: Control, **settings: Any) -> Streaming:
    return Streaming(None, control, "instance", StreamingSettings(TOPIC_ARN, **settings))  # type: ignore[arg-type]


async def test_a_notification_for_a_contact_never_joined_is_ignored() -> None:
    streaming = hub(Control())
    assert streaming.deliver("m-1", item("i-1", "unknown")) is Delivery.IGNORED


async def test_notifications_during_a_join_are_held_for_the_contact_and_repeats_are_dropped_by_message_id() -> None:
    control = Control()
    streaming = hub(control, held_per_contact=2)
    await streaming.before_join("c-1", timeout=None)
    assert control.started == ["c-1"]
    assert streaming.deliver("m-1", item("i-1")) is Delivery.HELD
    assert streaming.deliver("m-1", item("i-1")) is Delivery.DUPLICATE
    assert streaming.deliver("m-2", item("typing", content_type="application/vnd.amazonaws.connect.event.typing")) is Delivery.HELD
    assert streaming.deliver("m-3", item("i-3")) is Delivery.BUSY  # SNS will deliver it again
    transport = streaming.opener("c-1", Secret("participant-token"))(Feed())
    assert transport.streaming_id == "stream-c-1"  # type: ignore[attr-defined]
    assert streaming.deliver("m-3", item("i-3")) is Delivery.QUEUED
    await transport.close(final=True)
    await streaming.close()
    assert control.stopped == [("c-1", "stream-c-1")]
    assert streaming.deliver("m-4", item("i-4")) is Delivery.IGNORED  # the session is over


async def test_a_failed_join_leaves_its_stream_to_its_retry_and_one_given_up_stops_it() -> None:
    """The join's retry, here or at another worker, asks under the same ClientToken and gets the stream back; a
    join given up for good (its participant can no longer connect) stops it."""
    control = Control()
    streaming = hub(control)
    await streaming.before_join("c-1", client_token="join-0", timeout=None)
    streaming.join_failed("c-1")
    assert streaming.deliver("m-1", item("i-1")) is Delivery.IGNORED
    await streaming.before_join("c-1", client_token="join-0", timeout=None)
    streaming.join_failed("c-1", stop=True)
    await streaming.close()
    assert control.tokens == ["join-0", "join-0"]
    assert control.stopped == [("c-1", "stream-c-1")]


async def test_an_abandoned_session_keeps_its_stream_for_another_worker() -> None:
    control = Control()
    streaming = hub(control)
    await streaming.before_join("c-1", timeout=None)
    transport = streaming.opener("c-1", Secret("participant-token"))(Feed())
    await transport.close(final=False)
    await streaming.close()
    assert control.stopped == []


async def test_the_bot_binds_its_sns_route_again_when_the_emulator_forgot_it() -> None:
    """As after an emulator restart: the webhook and the subscription gone, the monitor registers both again,
    the route confirms the new subscription, and the next chat is answered."""
    echo = Echo()
    config = parse_config(
        "connect: {endpoint: embedded}\nemulator: {port: 0}\nserver: {port: 0}\n"
        f"transport: streaming\nstreaming: {{topic_arn: '{TOPIC_ARN}'}}\n"
    )
    manager = new_plugin_manager()
    manager.register(echo)
    async with BotProcess(config, manager, check_interval=0.2, emulator_overrides={"sns_retry_delay_factor": 0.005}) as bot:
        assert bot.emulator is not None and bot.sns_route is not None and bot.server_url is not None
        base = bot.emulator.base_url
        bot.sns_route.confirmed.clear()
        async with aiohttp.ClientSession() as http:
            async with http.delete(f"{base}/emulator/webhooks", json={"Url": bot.server_url + "/contact-flow"}) as answer:
                assert answer.status == 200, await answer.text()
            subscription = {"StreamingEndpointArn": TOPIC_ARN, "Url": bot.sns_url}
            async with http.delete(f"{base}/emulator/streaming-endpoints", json=subscription) as answer:
                assert answer.status == 200, await answer.text()
        await asyncio.wait_for(bot.sns_route.confirmed.wait(), 10)
        customer = Customer(base)
        await customer.start()
        await customer.send("still there?")
        await customer.wait_for(lambda items: "echo: still there?" in customer.bot_messages())
        await customer.close()


@pytest.mark.parametrize(("emulator", "trusted"), [(True, True), (False, False)], ids=["emulator", "aws-mode"])
def test_the_emulators_host_is_trusted_for_certificates_only_when_the_bot_is_pointed_at_it(
    emulator: bool, trusted: bool
) -> None:
    config = parse_config(f"transport: streaming\nstreaming: {{topic_arn: '{TOPIC_ARN}'}}\n")
    bot = BotProcess(config)
    bot.endpoints = Endpoints("http://127.0.0.1:8765", "http://127.0.0.1:8765", "us-east-1", "instance", emulator)
    _, route = bot._streaming(None, None)  # type: ignore[arg-type]
    assert route._verifier.trusts("http://127.0.0.1:8765/emulator/sns/certificate.pem") is trusted
    assert route._verifier.trusts("https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem")
