"""At INFO, the log tells a chat's story, each line naming the contact: joined, connected, reconnected, ended."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp
import pytest

from botkit import hookimpl
from botkit.runtime.connection import ConnectionSettings
from tests.runtime.harness import Customer, running_bot

QUICK_RECONNECT = ConnectionSettings(backoff_base=0.01, backoff_max=0.05)


class Echo:
    def __init__(self) -> None:
        self.ended = asyncio.Event()

    @hookimpl
    async def on_message(self, session: Any, message: Any) -> None:
        await session.send_message(f"echo: {message.content}")

    @hookimpl
    def on_session_end(self) -> None:
        self.ended.set()


async def test_info_lines_tell_the_story_of_a_chat_with_its_contact_id(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="botkit")
    echo = Echo()
    async with running_bot([echo], connection=QUICK_RECONNECT) as bot:
        customer = Customer(bot.emulator.base_url)
        await customer.start()
        await customer.send("one")
        await customer.wait_for(lambda items: "echo: one" in customer.bot_messages())
        async with aiohttp.ClientSession() as http:
            async with http.post(
                f"{bot.emulator.base_url}/emulator/faults/drop-websockets", json={"ParticipantRole": "CUSTOM_BOT"}
            ) as answer:
                assert (await answer.json())["Dropped"] == 1
        await customer.send("two")  # answered once the bot is back: it reconnected and filled the gap
        await customer.wait_for(lambda items: "echo: two" in customer.bot_messages())
        await customer.disconnect()  # the customer leaves: the chat ends
        await asyncio.wait_for(echo.ended.wait(), 10)
        await customer.close()
        contact_id = customer.contact_id

    story = [
        record.getMessage()
        for record in caplog.records
        if record.levelno == logging.INFO and record.name.startswith("botkit.runtime") and contact_id in record.getMessage()
    ]
    expected = ["joined as bot participant", ": connected", "socket ended", "reconnected", "session ended (chat_ended)"]
    positions = [next((i for i, line in enumerate(story) if part in line), -1) for part in expected]
    assert -1 not in positions and positions == sorted(positions), story
