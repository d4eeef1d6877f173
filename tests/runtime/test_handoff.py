"""Hand-off to an agent: the bot says so, sets the contact's attributes, leaves, and the flow queues the contact.

A real bot on a real emulator; the customer and the agent speak through boto3 and their own websockets.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from botkit import hookimpl
from botkit.connect.client import ParticipantClient
from botkit.connect.control import ControlPlaneClient
from botkit.connect.errors import ParticipantServiceError
from botkit.connect.models import Item, SendResult
from botkit.connect.secrets import Secret
from botkit.emulator import Emulator
from botkit.plugins import new_plugin_manager
from botkit.runtime.dispatch import Dispatcher
from botkit.runtime.manager import SessionManager
from botkit.runtime.session import ContactControl, Session
from tests.runtime.harness import Customer, join_human, running_bot

ASK_FOR_AGENT = "I want a refund, a human please"
HANDOFF_MESSAGE = "Passing you to our billing team"
SORRY = "Sorry, nobody can take your chat right now"
BILLING = {"queue": "Billing", "reason": "refund"}
LEFT = "application/vnd.amazonaws.connect.event.participant.left"


class HandsOff:
    """Echoes the customer, and hands the contact off when asked for a human; records what came of it."""

    def __init__(self) -> None:
        self.errors: list[BaseException] = []
        self.reasons: list[str] = []
        self.tried = asyncio.Event()
        self.ended = asyncio.Event()

    @hookimpl
    async def on_message(self, session: Any, message: Any) -> None:
        if message.content != ASK_FOR_AGENT:
            await session.send_message(f"echo: {message.content}")
            return
        try:
            await session.handoff(attributes=BILLING, message=HANDOFF_MESSAGE)
        except ParticipantServiceError as error:
            self.errors.append(error)
            await session.send_message(SORRY)
        finally:
            self.tried.set()

    @hookimpl
    def on_session_end(self, reason: str) -> None:
        self.reasons.append(reason)
        self.ended.set()


class RefusesBadArguments:
    """A plain (threaded) handler that tries hand-offs the service would refuse, then says it is still there."""

    BAD: list[tuple[Any, Any]] = [
        ({"queue": 5}, HANDOFF_MESSAGE),
        ({5: "Billing"}, HANDOFF_MESSAGE),
        ({"queue name": "Billing"}, HANDOFF_MESSAGE),
        ({"": "Billing"}, HANDOFF_MESSAGE),
        (["queue", "Billing"], HANDOFF_MESSAGE),
        ({"notes": "x" * 40_000}, HANDOFF_MESSAGE),
        (BILLING, ""),
        (BILLING, b"bytes are not text"),
    ]

    def __init__(self) -> None:
        self.raised: list[type[BaseException] | None] = []
        self.done = asyncio.Event()
        self.ended = asyncio.Event()
        self._loop = asyncio.get_running_loop()

    @hookimpl
    def on_message(self, session: Any) -> None:
        for attributes, message in self.BAD:
            try:
                session.blocking.handoff(attributes=attributes, message=message)
                self.raised.append(None)
            except (TypeError, ValueError) as error:
                self.raised.append(type(error))
        session.blocking.send_message("still here")
        self._loop.call_soon_threadsafe(self.done.set)

    @hookimpl
    def on_session_end(self) -> None:
        self._loop.call_soon_threadsafe(self.ended.set)


async def contact_state(base_url: str, contact_id: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base_url}/emulator/contacts/{contact_id}") as answer:
            assert answer.status == 200, await answer.text()
            return await answer.json()


async def set_faults(base_url: str, faults: dict[str, Any]) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.put(f"{base_url}/emulator/faults", json=faults) as answer:
            assert answer.status == 200, await answer.text()


async def contact_attributes(customer: Customer, instance_id: str) -> dict[str, str]:
    """GetContactAttributes through boto3, as anything reading what the bot set would call it."""
    answer = await asyncio.to_thread(
        lambda: customer.connect.get_contact_attributes(InstanceId=instance_id, InitialContactId=customer.contact_id)
    )
    return answer["Attributes"]


def texts(items: list[dict[str, Any]], role: str) -> list[str]:
    return [i["Content"] for i in items if i["Type"] == "MESSAGE" and i.get("ParticipantRole") == role]


def bot_left(items: list[dict[str, Any]]) -> bool:
    return any(i["ContentType"] == LEFT and i.get("ParticipantRole") == "CUSTOM_BOT" for i in items)


async def test_the_bot_hands_off_the_contact_waits_in_billing_and_an_agent_talks_to_the_customer() -> None:
    plugin = HandsOff()
    async with running_bot([plugin]) as bot:
        base = bot.emulator.base_url
        customer = Customer(base)
        await customer.start()
        await customer.send("hello")
        await customer.wait_for(lambda items: "echo: hello" in texts(items, "CUSTOM_BOT"))

        await customer.send(ASK_FOR_AGENT)
        await customer.wait_for(bot_left)
        await asyncio.wait_for(plugin.ended.wait(), 10)

        said = [i for i in customer.items if i["Type"] == "MESSAGE" or i["ContentType"] == LEFT]
        from_bot = [(i["Type"], i.get("Content")) for i in said if i.get("ParticipantRole") == "CUSTOM_BOT"]
        assert from_bot == [("MESSAGE", "echo: hello"), ("MESSAGE", HANDOFF_MESSAGE), ("EVENT", None)]
        assert plugin.reasons == ["handoff"] and plugin.errors == []

        waiting = await contact_state(base, customer.contact_id)
        assert (waiting["State"], waiting["Queue"], waiting["Ended"]) == ("QUEUED", "Billing", False)
        assert waiting["Attributes"] == BILLING
        assert await contact_attributes(customer, bot.endpoints.instance_id) == BILLING
        assert customer.contact_id not in bot.manager.sessions

        joined = await join_human(base, customer.contact_id, "AGENT", "Ann")
        agent = Customer(base)
        await agent.open(joined["ParticipantToken"])
        assert (await contact_state(base, customer.contact_id))["State"] == "CONNECTED_TO_AGENT"

        await asyncio.to_thread(
            lambda: agent.participant.send_message(
                ConnectionToken=agent.token, ContentType="text/plain", Content="Hi, I am Ann from Billing"
            )
        )
        await customer.wait_for(lambda items: texts(items, "AGENT") == ["Hi, I am Ann from Billing"])
        await customer.send("Order 42, please")
        await agent.wait_for(lambda items: "Order 42, please" in texts(items, "CUSTOMER"))

        transcript = await customer.transcript()
        assert texts(transcript, "CUSTOMER") == ["hello", ASK_FOR_AGENT, "Order 42, please"]
        assert texts(transcript, "CUSTOM_BOT") == ["echo: hello", HANDOFF_MESSAGE]
        assert texts(transcript, "AGENT") == ["Hi, I am Ann from Billing"]
        await agent.close()
        await customer.close()


async def test_bad_arguments_raise_before_anything_is_sent_and_the_bot_stays() -> None:
    plugin = RefusesBadArguments()
    async with running_bot([plugin]) as bot:
        base = bot.emulator.base_url
        customer = Customer(base)
        await customer.start()
        await customer.send(ASK_FOR_AGENT)
        await asyncio.wait_for(plugin.done.wait(), 10)
        await customer.wait_for(lambda items: "still here" in texts(items, "CUSTOM_BOT"))

        expected = [TypeError, TypeError, ValueError, ValueError, TypeError, ValueError, ValueError, TypeError]
        assert plugin.raised == expected
        transcript = await customer.transcript()
        assert texts(transcript, "CUSTOM_BOT") == ["still here"]
        assert not bot_left(transcript)
        state = await contact_state(base, customer.contact_id)
        assert (state["State"], state["Attributes"]) == ("IN_FLOW", {})
        assert not plugin.ended.is_set() and customer.contact_id in bot.manager.sessions
        await customer.close()


async def test_when_the_attributes_cannot_be_set_the_bot_stays_in_the_chat_and_the_plugin_hears_why() -> None:
    plugin = HandsOff()
    async with running_bot([plugin]) as bot:
        base = bot.emulator.base_url
        customer = Customer(base)
        await customer.start()
        await set_faults(base, {"error_rate": 1.0, "error_statuses": [500], "operations": ["UpdateContactAttributes"]})

        await customer.send(ASK_FOR_AGENT)
        await asyncio.wait_for(plugin.tried.wait(), 60)
        await customer.wait_for(lambda items: SORRY in texts(items, "CUSTOM_BOT"))

        assert [(e.operation, e.status) for e in plugin.errors if isinstance(e, ParticipantServiceError)] == [
            ("UpdateContactAttributes", 500)
        ]
        assert not bot_left(await customer.transcript())
        state = await contact_state(base, customer.contact_id)
        assert (state["State"], state["Queue"], state["Attributes"]) == ("IN_FLOW", None, {})
        assert not plugin.ended.is_set() and customer.contact_id in bot.manager.sessions

        await set_faults(base, {})
        plugin.tried.clear()
        await customer.send(ASK_FOR_AGENT)
        await customer.wait_for(bot_left)
        await asyncio.wait_for(plugin.ended.wait(), 10)
        assert plugin.reasons == ["handoff"] and len(plugin.errors) == 1
        state = await contact_state(base, customer.contact_id)
        assert (state["State"], state["Queue"], state["Attributes"]) == ("QUEUED", "Billing", BILLING)
        await customer.close()


async def test_the_attributes_go_to_the_initial_contact_the_join_was_given(emulator: Emulator) -> None:
    """A transferred chat's attributes live on its first contact: `join` is told which, or takes the contact's own id.

    The emulator keys attributes on the InitialContactId as Connect does; a second chat stands for the
    first contact of a transferred one.
    """
    first, transferred = Customer(emulator.base_url), Customer(emulator.base_url)
    await first.start()
    await transferred.start()
    plugin = HandsOff()
    plugins = new_plugin_manager()
    plugins.register(plugin, name="hands-off")
    participants = ParticipantClient(emulator.base_url)
    control = ControlPlaneClient(emulator.base_url, emulator.config.region)
    dispatcher = Dispatcher(plugins)
    manager = SessionManager(participants, control, dispatcher, instance_id=emulator.config.instance_id)
    try:
        await manager.join(transferred.contact_id, initial_contact_id=first.contact_id)
        await transferred.send(ASK_FOR_AGENT)
        await transferred.wait_for(bot_left)
        await asyncio.wait_for(plugin.ended.wait(), 10)
    finally:
        await manager.shutdown(grace=5)
        await participants.close()
        await control.close()
        await dispatcher.close()

    assert plugin.reasons == ["handoff"]
    assert await contact_attributes(first, emulator.config.instance_id) == BILLING
    assert await contact_attributes(transferred, emulator.config.instance_id) == {}
    await first.close()
    await transferred.close()



class RecordingWire:
    """Stands in for both clients: records each call with its ClientToken, as the service would dedupe on it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    async def send_message(self, token: Secret, content: str, content_type: str, *, client_token: str) -> SendResult:
        self.calls.append(("SendMessage", client_token))
        return SendResult(id=f"sent-{len(self.calls)}", absolute_time="2026-11-23T00:00:00.000Z")

    async def update_contact_attributes(self, instance_id: str, initial_contact_id: str, attributes: Any) -> None:
        self.calls.append(("UpdateContactAttributes", (instance_id, initial_contact_id, dict(attributes))))

    async def disconnect_participant(self, token: Secret, *, client_token: str) -> None:
        self.calls.append(("DisconnectParticipant", client_token))


async def handoff_in_a_fresh_session(item_id: str) -> list[tuple[str, Any]]:
    """What one process does for a message asking for a human: a new session each time, as after a crash."""
    wire = RecordingWire()
    manager = new_plugin_manager()
    plugin = HandsOff()
    manager.register(plugin, name="hands-off")
    dispatcher = Dispatcher(manager)
    control = ContactControl(wire, "instance-1", "initial-1")  # type: ignore[arg-type]
    session = Session(
        "contact-1",
        Secret("participant"),
        wire,  # type: ignore[arg-type]
        dispatcher,
        participant_id="bot",
        control=control,
    )
    session.connected(Secret("connection"))
    await session._handle(
        Item.from_wire(
            {"Id": item_id, "Type": "MESSAGE", "ContentType": "text/plain", "Content": ASK_FOR_AGENT,
             "ParticipantId": "customer", "ParticipantRole": "CUSTOMER"}
        )
    )
    await dispatcher.close()
    assert plugin.errors == [] and session.finished
    return wire.calls


async def test_a_replayed_handoff_makes_the_same_calls_with_the_same_client_tokens() -> None:
    first = await handoff_in_a_fresh_session("item-1")
    replay = await handoff_in_a_fresh_session("item-1")
    other = await handoff_in_a_fresh_session("item-2")

    assert [operation for operation, _ in first] == ["SendMessage", "UpdateContactAttributes", "DisconnectParticipant"]
    assert first[1] == ("UpdateContactAttributes", ("instance-1", "initial-1", BILLING))
    assert replay == first
    assert other[0][1] != first[0][1] and other[2][1] != first[2][1]
