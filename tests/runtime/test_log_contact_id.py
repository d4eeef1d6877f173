"""The bot's JSON log lines about a contact carry its `contact_id`, from the runtime and from plugins, async or threaded."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from botkit import hookimpl
from botkit.logs import JsonFormatter
from tests.runtime.harness import Customer, running_bot

plugin_log = logging.getLogger("test.plugin")


class Talker:
    def __init__(self) -> None:
        self.answered = asyncio.Event()
        self.typed = threading.Event()

    @hookimpl
    async def on_message(self, session: Any, message: Any) -> None:
        plugin_log.info("async hook heard %s", message.content)
        await session.send_message("ok")
        self.answered.set()

    @hookimpl
    def on_typing(self, event: Any) -> None:
        plugin_log.info("thread hook saw typing")
        self.typed.set()


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


async def test_every_line_about_a_contact_names_it(json_lines: io.StringIO) -> None:
    plugin = Talker()
    async with running_bot([plugin]) as bot:
        assert bot.emulator is not None
        customer = Customer(bot.emulator.base_url)
        await customer.start()
        await customer.wait_for_transcript(lambda items: any(i.get("ParticipantRole") == "CUSTOM_BOT" for i in items))
        await customer.send("hello")
        await asyncio.wait_for(plugin.answered.wait(), 10)
        await customer.wait_for_transcript(lambda items: any(i.get("Content") == "ok" for i in items))
        await customer.typing()  # typing is not kept in the transcript: sent once the bot is surely listening
        assert await asyncio.to_thread(plugin.typed.wait, 10)
        await customer.close()

    entries = [json.loads(line) for line in json_lines.getvalue().splitlines()]
    bots = [entry for entry in entries if not entry["logger"].startswith("botkit.emulator")]
    about = [entry for entry in bots if customer.contact_id in entry["message"]]
    assert about, "the bot logs nothing about the contact"
    assert all(entry.get("contact_id") == customer.contact_id for entry in about), about
    plugin_lines = {entry["message"]: entry.get("contact_id") for entry in entries if entry["logger"] == "test.plugin"}
    assert plugin_lines == {"async hook heard hello": customer.contact_id, "thread hook saw typing": customer.contact_id}
    monitor = [entry for entry in entries if entry["logger"] == "botkit.monitor"]
    assert monitor and all("contact_id" not in entry for entry in monitor)
