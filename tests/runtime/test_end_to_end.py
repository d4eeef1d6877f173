"""A whole chat, end to end: the emulator hands the contact to the bot, every hook fires, replies arrive."""

from __future__ import annotations

import asyncio
from typing import Any

from botkit import hookimpl
from tests.runtime.harness import Customer, join_human, running_bot

TYPING = "application/vnd.amazonaws.connect.event.typing"


class Recorder:
    """Records every hook call as (hook, detail) and answers messages."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.ended = asyncio.Event()

    @hookimpl
    async def on_session_start(self, session: Any) -> None:
        self.calls.append(("on_session_start", session.contact_id))
        await session.send_message("hello, I am the bot")

    @hookimpl
    async def on_message(self, session: Any, message: Any) -> None:
        self.calls.append(("on_message", message.content))
        await session.send_typing()
        await session.send_message(f"echo: {message.content}")

    @hookimpl
    def on_typing(self, event: Any) -> None:
        self.calls.append(("on_typing", event.participant_role))

    @hookimpl
    def on_participant_joined(self, event: Any) -> None:
        self.calls.append(("on_participant_joined", event.participant_role))

    @hookimpl
    def on_participant_left(self, event: Any) -> None:
        self.calls.append(("on_participant_left", event.participant_role))

    @hookimpl
    def on_receipt(self, receipt: Any) -> None:
        self.calls.append(("on_receipt", receipt.message_metadata.message_id if receipt.message_metadata else None))

    @hookimpl
    def on_chat_ended(self, event: Any) -> None:
        self.calls.append(("on_chat_ended", event.content_type))

    @hookimpl
    def on_event(self, event: Any) -> None:
        self.calls.append(("on_event", event.content_type))

    @hookimpl
    def on_session_end(self, reason: str) -> None:
        self.calls.append(("on_session_end", reason))
        self.ended.set()

    def hooks(self) -> list[str]:
        return [name for name, _ in self.calls]


async def test_a_whole_chat_through_every_hook(transport: str) -> None:
    recorder = Recorder()
    async with running_bot([recorder], "typing: {throttle_seconds: 0}", transport=transport) as bot:
        customer = Customer(bot.emulator.base_url)
        await customer.start(initial_message="sent before the bot joined")
        transcript = await customer.wait_for_transcript(
            lambda items: "echo: sent before the bot joined" in _bot_texts(items)
        )
        assert _bot_texts(transcript)[:2] == ["hello, I am the bot", "echo: sent before the bot joined"]

        greeting_id = next(i["Id"] for i in transcript if i.get("Content") == "hello, I am the bot")
        await customer.read_receipt(greeting_id)
        await customer.typing()
        await customer.send("how are you?")
        await customer.wait_for(lambda items: "echo: how are you?" in _bot_texts(items))
        await customer.wait_for(lambda items: any(i["ContentType"] == TYPING and i.get("ParticipantRole") == "CUSTOM_BOT" for i in items))

        supervisor = await join_human(bot.emulator.base_url, customer.contact_id, "SUPERVISOR", "Sam")
        await customer.wait_for(lambda items: _joined(items, "SUPERVISOR"))
        sam = Customer(bot.emulator.base_url)
        await sam.open(supervisor["ParticipantToken"])
        await sam.disconnect()
        await customer.wait_for(lambda items: any(i["ContentType"].endswith("participant.left") and i.get("ParticipantRole") == "SUPERVISOR" for i in items))

        await customer.send("bye")
        await customer.wait_for(lambda items: "echo: bye" in _bot_texts(items))
        await customer.disconnect()
        await asyncio.wait_for(recorder.ended.wait(), 10)
        await customer.close()
        await sam.close()

    hooks = recorder.hooks()
    assert hooks[0] == "on_session_start"
    assert [d for n, d in recorder.calls if n == "on_message"] == ["sent before the bot joined", "how are you?", "bye"]
    assert ("on_typing", "CUSTOMER") in recorder.calls
    assert ("on_participant_joined", "CUSTOMER") in recorder.calls
    assert ("on_participant_joined", "SUPERVISOR") in recorder.calls
    assert ("on_participant_left", "SUPERVISOR") in recorder.calls
    assert ("on_chat_ended", "application/vnd.amazonaws.connect.event.chat.ended") in recorder.calls
    assert hooks[-1] == "on_session_end" and recorder.calls[-1] == ("on_session_end", "chat_ended")
    assert hooks.index("on_chat_ended") < hooks.index("on_session_end")
    assert ("on_receipt", greeting_id) in recorder.calls
    assert all(detail == greeting_id for name, detail in recorder.calls if name == "on_receipt")
    assert sum(1 for n in hooks if n == "on_session_start") == 1


def _bot_texts(items: list[dict[str, Any]]) -> list[str]:
    return [i["Content"] for i in items if i["Type"] == "MESSAGE" and i.get("ParticipantRole") == "CUSTOM_BOT"]


def _joined(items: list[dict[str, Any]], role: str) -> bool:
    return any(i["ContentType"].endswith("participant.joined") and i.get("ParticipantRole") == role for i in items)
