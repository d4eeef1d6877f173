"""Handing the bot a participant token: only a custom bot's is kept, and a contact never gets two sessions.

A bot that ran a session with a customer's (or an agent's) token would speak as them and, on its way
out, end their chat. These tests hand such tokens to a real bot on a real emulator and look, on the
emulator itself, for any SendMessage, SendEvent or DisconnectParticipant made with them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from botkit import hookimpl
from botkit.connect.client import ParticipantClient
from botkit.connect.control import ControlPlaneClient
from botkit.connect.errors import ParticipantServiceError
from botkit.connect.secrets import Secret
from botkit.connect.sns import SnsVerifier
from botkit.emulator import Emulator
from botkit.emulator.contacts import Participant
from botkit.plugins import new_plugin_manager
from botkit.runtime.connection import ConnectionSettings
from botkit.runtime.dispatch import Dispatcher
from botkit.runtime.manager import NotACustomBot, SessionManager
from botkit.runtime.session import SessionSettings
from botkit.runtime.streaming import Streaming, StreamingSettings
from botkit.server import SnsRoute, build_intake_app
from tests.runtime.harness import Customer, join_human, running_bot

GREETING = "hello, I am the bot"


class Greeter:
    """Greets every chat it joins and echoes what it hears: any session it runs shows in the transcript."""

    @hookimpl
    async def on_session_start(self, session: Any) -> None:
        await session.send_message(GREETING)

    @hookimpl
    async def on_message(self, session: Any, message: Any) -> None:
        await session.send_message(f"echo: {message.content}")


@dataclass(frozen=True, slots=True)
class Spoken:
    operation: str
    participant_id: str
    role: str


class EmulatorSpy:
    """Every SendMessage, SendEvent and DisconnectParticipant the emulator carries out, with who made it."""

    def __init__(self, emulator: Emulator) -> None:
        self.calls: list[Spoken] = []
        center = emulator.center
        for operation, name in (("SendMessage", "send_message"), ("SendEvent", "send_event"), ("DisconnectParticipant", "leave")):
            setattr(center, name, self._recording(operation, getattr(center, name)))

    def _recording(self, operation: str, method: Any) -> Any:
        async def recorded(participant: Participant, *args: Any) -> Any:
            self.calls.append(Spoken(operation, participant.participant_id, participant.role))
            return await method(participant, *args)

        return recorded

    def by(self, participant_id: str) -> list[Spoken]:
        return [call for call in self.calls if call.participant_id == participant_id]


async def start_chat(base_url: str) -> tuple[Customer, str]:
    """A customer in a live chat, and the customer's participant token (the one a hijacker would hand in)."""
    customer = Customer(base_url)
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base_url}/emulator/info") as answer:
            info = await answer.json()
    chat = await asyncio.to_thread(
        lambda: customer.connect.start_chat_contact(
            InstanceId=info["instanceId"], ContactFlowId=info["contactFlowId"], ParticipantDetails={"DisplayName": "Ada"}
        )
    )
    customer.contact_id, customer.participant_id = chat["ContactId"], chat["ParticipantId"]
    await customer.open(chat["ParticipantToken"])
    return customer, chat["ParticipantToken"]


async def new_bot_participant(customer: Customer, name: str = "Helper") -> dict[str, Any]:
    """A custom bot's participant, made with CreateParticipant as a contact flow's Lambda function would."""
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{customer.base_url}/emulator/info") as answer:
            instance_id = (await answer.json())["instanceId"]
    created = await asyncio.to_thread(
        lambda: customer.connect.create_participant(
            InstanceId=instance_id,
            ContactId=customer.contact_id,
            ParticipantDetails={"ParticipantRole": "CUSTOM_BOT", "DisplayName": name},
        )
    )
    return {"ParticipantId": created["ParticipantId"], "ParticipantToken": created["ParticipantCredentials"]["ParticipantToken"]}


@asynccontextmanager
async def bot_manager(emulator: Emulator) -> AsyncIterator[SessionManager]:
    """A session manager on the emulator with no webhook: a chat gets the bot only when a test hands it in."""
    plugins = new_plugin_manager()
    plugins.register(Greeter(), name="greeter")
    participant_client = ParticipantClient(emulator.base_url)
    control_client = ControlPlaneClient(emulator.base_url, emulator.config.region)
    dispatcher = Dispatcher(plugins)
    manager = SessionManager(
        participant_client,
        control_client,
        dispatcher,
        instance_id=emulator.config.instance_id,
        settings=SessionSettings(connection=ConnectionSettings(backoff_base=0.05, backoff_max=0.2)),
    )
    try:
        yield manager
    finally:
        await manager.shutdown(grace=5)
        await participant_client.close()
        await control_client.close()
        await dispatcher.close()


def texts(transcript: list[dict[str, Any]], role: str = "CUSTOM_BOT") -> list[str]:
    return [i["Content"] for i in transcript if i["Type"] == "MESSAGE" and i.get("ParticipantRole") == role]


@pytest.mark.parametrize("owner", ["customer", "agent"])
async def test_a_customers_or_agents_token_is_refused_and_never_used_to_speak_or_leave(emulator: Emulator, owner: str) -> None:
    spy = EmulatorSpy(emulator)
    customer, customer_token = await start_chat(emulator.base_url)
    if owner == "customer":
        token, participant_id = customer_token, customer.participant_id
    else:
        agent = await join_human(emulator.base_url, customer.contact_id, "AGENT", "Grace")
        token, participant_id = agent["ParticipantToken"], agent["ParticipantId"]
    contact = emulator.center.contacts[customer.contact_id]
    before = [item["Id"] for item in contact.transcript]
    async with bot_manager(emulator) as manager:
        with pytest.raises(NotACustomBot, match=f"joined as {owner.upper()}"):
            await manager.hand_in(customer.contact_id, Secret(token), participant_id)
        assert manager.sessions == {}
    assert spy.by(participant_id) == []
    assert [item["Id"] for item in contact.transcript] == before
    assert not contact.ended and contact.participants[customer.participant_id].active
    await customer.send("still here")
    transcript = await customer.wait_for_transcript(lambda items: "still here" in texts(items, "CUSTOMER"))
    assert texts(transcript) == []
    await customer.close()


async def test_a_custom_bots_token_is_kept_and_its_session_speaks_as_that_bot(emulator: Emulator) -> None:
    customer, _ = await start_chat(emulator.base_url)
    bot = await new_bot_participant(customer)
    async with bot_manager(emulator) as manager:
        session = await manager.hand_in(customer.contact_id, Secret(bot["ParticipantToken"]), bot["ParticipantId"])
        assert session.participant_id == bot["ParticipantId"] and manager.sessions == {customer.contact_id: session}
        await customer.send("hi")
        transcript = await customer.wait_for_transcript(lambda items: "echo: hi" in texts(items))
        assert {i["ParticipantId"] for i in transcript if i.get("ParticipantRole") == "CUSTOM_BOT"} == {bot["ParticipantId"]}
    await customer.close()


async def test_a_custom_bots_token_handed_in_under_another_contact_is_refused(emulator: Emulator) -> None:
    customer, _ = await start_chat(emulator.base_url)
    bot = await new_bot_participant(customer)
    async with bot_manager(emulator) as manager:
        with pytest.raises(ParticipantServiceError) as refused:
            await manager.hand_in("another-contact", Secret(bot["ParticipantToken"]), bot["ParticipantId"])
        assert refused.value.status == 403 and manager.sessions == {}
    await customer.close()


async def test_a_token_handed_in_with_a_participant_that_never_joined_is_refused(emulator: Emulator) -> None:
    customer, customer_token = await start_chat(emulator.base_url)
    async with bot_manager(emulator) as manager:
        with pytest.raises(NotACustomBot, match="has not joined"):
            await manager.hand_in(customer.contact_id, Secret(customer_token), "no-such-participant")
        assert manager.sessions == {}
    await customer.close()


@pytest.mark.parametrize("contact", ["the chat's", "made up"])
async def test_the_hijack_over_http_is_a_409_and_the_customers_chat_is_untouched(contact: str) -> None:
    """The storm of the issue, once: the customer's own token posted to /contacts while the bot is in the chat,
    under the chat's ContactId or a made-up one (the old intake ran a session per made-up id, as the customer)."""
    async with running_bot([Greeter()]) as bot:
        assert bot.emulator is not None
        spy = EmulatorSpy(bot.emulator)
        customer, customer_token = await start_chat(bot.emulator.base_url)
        await customer.wait_for_transcript(lambda items: GREETING in texts(items))
        chat = bot.emulator.center.contacts[customer.contact_id]
        before = [item["Id"] for item in chat.transcript]
        contact_id = customer.contact_id if contact == "the chat's" else "made-up-contact"
        body = {"ContactId": contact_id, "ParticipantToken": customer_token, "ParticipantId": customer.participant_id}
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{bot.server_url}/contacts", json=body) as answer:
                assert answer.status == 409, await answer.text()
                reason = (await answer.json())["message"]
        assert customer_token not in reason
        assert spy.by(customer.participant_id) == []
        assert [item["Id"] for item in chat.transcript] == before
        assert not chat.ended and list(bot.manager.sessions) == [customer.contact_id]
        await customer.close()


async def test_one_session_per_contact_however_and_whenever_it_is_handed_in(emulator: Emulator) -> None:
    """/contact-flow and /contacts for one contact at once, then both again while its session lives: one
    session, every answer names its participant, and the chat hears one greeting."""
    customer, _ = await start_chat(emulator.base_url)
    bot = await new_bot_participant(customer)
    flow_event = {"Details": {"ContactData": {"ContactId": customer.contact_id, "Channel": "CHAT"}}}
    hand_in = {"ContactId": customer.contact_id, **bot}
    async with bot_manager(emulator) as manager:
        server = TestServer(build_intake_app(manager, lambda: True), host="127.0.0.1")
        await server.start_server()
        try:
            async with aiohttp.ClientSession() as http:

                async def post(path: str, body: dict[str, Any]) -> str:
                    async with http.post(server.make_url(path), json=body) as answer:
                        assert answer.status == 200, await answer.text()
                        return (await answer.json())["ParticipantId"]

                at_once = await asyncio.gather(
                    post("/contact-flow", flow_event), post("/contacts", hand_in), post("/contacts", hand_in), post("/contact-flow", flow_event)
                )
                later = [await post("/contacts", hand_in), await post("/contact-flow", flow_event)]
        finally:
            await server.close()
        assert len(manager.sessions) == 1
        assert set(at_once + later) == {manager.sessions[customer.contact_id].participant_id}
        await customer.send("ping")
        transcript = await customer.wait_for_transcript(lambda items: "echo: ping" in texts(items))
        assert texts(transcript) == [GREETING, "echo: ping"]
        joined_bots = [i for i in transcript if i["ContentType"].endswith("participant.joined") and i.get("ParticipantRole") == "CUSTOM_BOT"]
        assert len(joined_bots) == 1, "a second bot participant was connected and left lingering in the chat"
    await customer.close()


async def test_a_bots_token_handed_in_on_streaming_starts_its_own_stream(emulator: Emulator) -> None:
    """Handed in, not joined, on message streaming: no StartContactStreaming ran before CreateParticipant, so the
    session starts the stream itself, then takes the chat's items from SNS notifications (no socket)."""
    topic = "arn:aws:sns:us-east-1:123456789012:hand-in"
    plugins = new_plugin_manager()
    plugins.register(Greeter(), name="greeter")
    participant_client = ParticipantClient(emulator.base_url)
    control_client = ControlPlaneClient(emulator.base_url, emulator.config.region)
    dispatcher = Dispatcher(plugins)
    streaming = Streaming(participant_client, control_client, emulator.config.instance_id, StreamingSettings(topic))
    manager = SessionManager(
        participant_client, control_client, dispatcher, instance_id=emulator.config.instance_id, transports=streaming
    )
    verifier = SnsVerifier(topic_arns=(topic,), trusted_cert_hosts=(), plain_http_hosts=(f"127.0.0.1:{emulator.port}",))
    route = SnsRoute("/sns", verifier, streaming)
    server = TestServer(build_intake_app(manager, lambda: True, sns=route), host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as http:
            subscription = {"StreamingEndpointArn": topic, "Urls": [f"http://127.0.0.1:{server.port}/sns"]}
            async with http.put(f"{emulator.base_url}/emulator/streaming-endpoints", json=subscription) as answer:
                assert answer.status == 200, await answer.text()
        await asyncio.wait_for(route.confirmed.wait(), 10)
        customer, _ = await start_chat(emulator.base_url)
        bot = await new_bot_participant(customer)
        await manager.hand_in(customer.contact_id, Secret(bot["ParticipantToken"]), bot["ParticipantId"])
        await customer.send("hi")
        transcript = await customer.wait_for_transcript(lambda items: "echo: hi" in texts(items))
        assert texts(transcript) == [GREETING, "echo: hi"]
        assert list(emulator.center.contacts[customer.contact_id].streaming.values()) == [topic]
        assert not emulator.center.contacts[customer.contact_id].participants[bot["ParticipantId"]].sockets
        await customer.close()
    finally:
        await manager.shutdown(grace=5)
        await streaming.close()
        await server.close()
        await route.close()
        await participant_client.close()
        await control_client.close()
        await dispatcher.close()
