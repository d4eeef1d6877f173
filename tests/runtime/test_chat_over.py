"""Once a chat is over for the bot, nothing more reaches a plugin; and another bot is not heard unless asked for.

A handler is held on the first message while the customer floods the chat, then the chat ends (or the
bot is removed). On the old code the flood was dispatched, message by message, long after the end.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from botkit import hookimpl
from botkit.runtime import metrics
from tests.runtime.harness import Customer, join_human, running_bot
from tests.runtime.test_hand_in import new_bot_participant, texts

FLOOD = 15


class HeldOnFirst:
    """Holds its first message until released; records every hook call it gets."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        self.chat_ended = 0
        self.ends: list[str] = []
        self.holding = asyncio.Event()
        self.release = asyncio.Event()
        self.ended = asyncio.Event()

    @hookimpl
    async def on_message(self, session: Any, message: Any) -> None:
        self.messages.append(message.content)
        if len(self.messages) == 1:
            self.holding.set()
            await self.release.wait()
        await session.send_message(f"echo: {message.content}")

    @hookimpl
    def on_chat_ended(self) -> None:
        self.chat_ended += 1

    @hookimpl
    def on_session_end(self, reason: str) -> None:
        self.ends.append(reason)
        self.ended.set()


async def flood_while_held(bot: Any, plugin: HeldOnFirst) -> Customer:
    """A customer whose first message holds the handler, then FLOOD more the bot has taken in but not dispatched."""
    customer = Customer(bot.emulator.base_url)
    await customer.start()
    await customer.send("first")
    await asyncio.wait_for(plugin.holding.wait(), 10)
    session = bot.manager.sessions[customer.contact_id]
    flood = [await customer.send(f"flood {n}") for n in range(FLOOD)]
    async with asyncio.timeout(10):
        while not all(session.seen(item_id) for item_id in flood):
            await asyncio.sleep(0.01)
    return customer


def dropped() -> float:
    return metrics.EVENTS_DROPPED_AFTER_END._value.get()


@pytest.mark.parametrize("ending", ["customer leaves", "agent takes over"])
async def test_nothing_queued_is_dispatched_once_the_chat_is_over(ending: str) -> None:
    """The customer leaving (chat.ended) or an agent taking over (the bot's own participant.left, then 403s
    on reconnect and on the held handler's send): the flood queued behind the held handler is dropped and
    counted, not dispatched; on_session_end runs once."""
    plugin = HeldOnFirst()
    async with running_bot([plugin]) as bot:
        customer = await flood_while_held(bot, plugin)
        session = bot.manager.sessions[customer.contact_id]
        before = dropped()
        if ending == "customer leaves":
            await customer.disconnect()
        else:
            await join_human(bot.emulator.base_url, customer.contact_id, "AGENT", "Grace")
        async with asyncio.timeout(10):
            while not session.finished:
                await asyncio.sleep(0.01)
        plugin.release.set()
        await asyncio.wait_for(plugin.ended.wait(), 10)
        assert plugin.messages == ["first"]
        assert dropped() - before >= FLOOD
        assert plugin.ends == ["chat_ended" if ending == "customer leaves" else "removed"]
        assert plugin.chat_ended == (1 if ending == "customer leaves" else 0)
        await customer.close()


class Echo:
    @hookimpl
    async def on_message(self, session: Any, message: Any) -> None:
        await session.send_message(f"echo: {message.content}")


async def other_bot_says(customer: Customer, text: str) -> str:
    """A second custom bot joins the chat (CreateParticipant, then ConnectParticipant) and says `text`."""
    other = await new_bot_participant(customer, "Other bot")
    participant = customer.participant
    connection = await asyncio.to_thread(
        lambda: participant.create_participant_connection(
            ParticipantToken=other["ParticipantToken"], Type=["CONNECTION_CREDENTIALS"], ConnectParticipant=True
        )
    )
    token = connection["ConnectionCredentials"]["ConnectionToken"]
    await asyncio.to_thread(lambda: participant.send_message(ConnectionToken=token, ContentType="text/plain", Content=text))
    return other["ParticipantId"]


@pytest.mark.parametrize("dispatch_bot_messages", [False, True])
async def test_another_bots_messages_reach_on_message_only_when_configured(dispatch_bot_messages: bool) -> None:
    """By default the bot does not answer another bot (two would answer each other forever); with
    `runtime.dispatch_bot_messages: true` it does. The customer's later message proves the bot's message
    was handled (or skipped) first: a session dispatches in order."""
    setting = json.dumps(dispatch_bot_messages)
    async with running_bot([Echo()], f"runtime: {{dispatch_bot_messages: {setting}}}") as bot:
        customer = Customer(bot.emulator.base_url)
        await customer.start()
        await customer.send("are you there?")
        await customer.wait_for_transcript(lambda items: "echo: are you there?" in texts(items))
        await other_bot_says(customer, "beep from the other bot")
        await customer.send("marker")
        transcript = await customer.wait_for_transcript(lambda items: "echo: marker" in texts(items))
        answered = "echo: beep from the other bot" in texts(transcript)
        assert answered is dispatch_bot_messages
        await customer.close()
