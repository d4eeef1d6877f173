"""A join retried by another worker gets the participant the first one made: CreateParticipant's ClientToken is
derived from the contact and the bot, the same in every worker (runtime/join_tokens.py).

The worker that died is played by a plain CreateParticipant call under the token it would have derived, with
nothing kept of its answer (no record was saved). A real bot then joins the contact, on a real emulator.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from botkit import hookimpl
from botkit.connect.client import ParticipantClient
from botkit.connect.control import ControlPlaneClient
from botkit.emulator import Emulator, EmulatorConfig
from botkit.plugins import new_plugin_manager
from botkit.runtime.dispatch import Dispatcher
from botkit.runtime.join_tokens import join_token
from botkit.runtime.manager import SessionManager
from tests.runtime.harness import Customer

BOT_NAME = "Bot"
JOINED = "application/vnd.amazonaws.connect.event.participant.joined"


class Echo:
    @hookimpl
    async def on_message(self, session: Any, message: Any) -> None:
        await session.send_message(f"echo: {message.content}")


@asynccontextmanager
async def bot(emulator: Emulator) -> AsyncIterator[tuple[SessionManager, ControlPlaneClient]]:
    """A session manager with no webhook: the contact gets the bot when the test joins it."""
    plugins = new_plugin_manager()
    plugins.register(Echo(), name="echo")
    participants = ParticipantClient(emulator.base_url)
    control = ControlPlaneClient(emulator.base_url, emulator.config.region)
    dispatcher = Dispatcher(plugins)
    manager = SessionManager(
        participants, control, dispatcher, instance_id=emulator.config.instance_id, display_name=BOT_NAME
    )
    try:
        yield manager, control
    finally:
        await manager.shutdown(grace=5)
        await participants.close()
        await control.close()
        await dispatcher.close()


async def created_by_a_worker_that_died(emulator: Emulator, control: ControlPlaneClient, contact_id: str) -> str:
    """CreateParticipant as a worker's first join of the contact makes it, then nothing: the worker is gone."""
    instance_id = emulator.config.instance_id
    token = join_token("CreateParticipant", instance_id, contact_id, BOT_NAME, "join-0")
    return (await control.create_participant(instance_id, contact_id, BOT_NAME, token)).participant_id


def bots_joined(transcript: list[dict[str, Any]]) -> list[str]:
    return [i["ParticipantId"] for i in transcript if i["ContentType"] == JOINED and i["ParticipantRole"] == "CUSTOM_BOT"]


async def test_a_join_retried_after_its_worker_died_gets_the_participant_already_made(emulator: Emulator) -> None:
    customer = Customer(emulator.base_url)
    await customer.start()
    async with bot(emulator) as (manager, control):
        orphan = await created_by_a_worker_that_died(emulator, control, customer.contact_id)
        session = await manager.join(customer.contact_id)
        assert session.participant_id == orphan
        await customer.send("hi")
        transcript = await customer.wait_for_transcript(lambda items: "echo: hi" in customer.bot_messages())
    assert bots_joined(transcript) == [orphan]
    assert [p.participant_id for p in emulator.center.contacts[customer.contact_id].participants.values()
            if p.role == "CUSTOM_BOT"] == [orphan]
    assert customer.bot_messages() == ["echo: hi"]
    await customer.close()


async def test_a_participant_that_can_no_longer_connect_spends_its_join_and_the_next_one_is_made() -> None:
    """Past its connect window the dead worker's participant is gone, yet the service answers its token with it
    again: the bot sees its Expiry passed and asks under the next generation's token."""
    async with Emulator(EmulatorConfig(port=0, custom_participant_connect_window=4.0)) as emulator:
        customer = Customer(emulator.base_url)
        await customer.start()
        contact = emulator.center.contacts[customer.contact_id]
        async with bot(emulator) as (manager, control):
            orphan = await created_by_a_worker_that_died(emulator, control, customer.contact_id)
            async with asyncio.timeout(10):  # the emulator drops it when its window closes
                while orphan in contact.participants:
                    await asyncio.sleep(0.05)
            session = await manager.join(customer.contact_id)
            assert session.participant_id not in (None, orphan)
            await customer.send("hi")
            transcript = await customer.wait_for_transcript(lambda items: "echo: hi" in customer.bot_messages())
        assert bots_joined(transcript) == [session.participant_id]
        assert customer.bot_messages() == ["echo: hi"]
        await customer.close()


async def test_join_tokens_tell_apart_contacts_bots_and_generations_and_fit_the_model() -> None:
    base = ("CreateParticipant", "instance", "contact", "Bot", "join-0")
    tokens = {
        join_token(*base),
        join_token("StartContactStreaming", *base[1:]),
        join_token(base[0], "other-instance", *base[2:]),
        join_token(*base[:2], "other-contact", *base[3:]),
        join_token(*base[:3], "Other bot", base[4]),
        join_token(*base[:4], "join-1"),
    }
    assert len(tokens) == 6
    assert join_token(*base) == join_token(*base)
    assert all(0 < len(token) <= 500 for token in tokens)


async def test_a_contact_flow_that_invokes_the_bot_again_soon_after_it_left_gets_a_bot_that_answers(
    emulator: Emulator,
) -> None:
    """The service answers the first join's token with the participant that left; the bot knows it is gone and
    asks under the next generation's token, however soon after the flow comes back (a flow that hands the contact
    back to the bot within the 15 s the participant's Expiry still runs)."""
    customer = Customer(emulator.base_url)
    await customer.start()
    async with bot(emulator) as (manager, _):
        first = await manager.join(customer.contact_id)
        await customer.send("hi")
        await customer.wait_for_transcript(lambda items: "echo: hi" in customer.bot_messages())
        gone = asyncio.Event()
        assert manager.on_session_over(customer.contact_id, gone.set)
        await first.disconnect()
        async with asyncio.timeout(10):
            await gone.wait()

        second = await manager.join(customer.contact_id)
        await customer.send("again")
        await customer.wait_for_transcript(lambda items: "echo: again" in customer.bot_messages())
    assert second.participant_id not in (None, first.participant_id)
    replies = customer.bot_messages()
    assert replies[0] == "echo: hi" and replies[-1] == "echo: again" and replies.count("echo: again") == 1, replies
    await customer.close()
