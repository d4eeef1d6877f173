"""`session.state` is saved after each handled event on a shared store; a value JSON cannot carry is an error that
names the plugin and the key, reported to on_error, while the chat goes on."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from botkit import hookimpl
from botkit.store import SqliteStore, UnsavableState
from tests.runtime.harness import Customer, running_bot


class Counter:
    @hookimpl
    async def on_message(self, session: Any, message: Any) -> None:
        session.state["count"] = session.state.get("count", 0) + 1
        if message.content == "set":
            session.state["tags"] = {"a", "b"}  # a set: JSON has none
        if message.content == "fix":
            session.state["tags"] = ["a", "b"]
        await session.send_message(f"{session.state['count']}: {message.content}")


class Errors:
    def __init__(self) -> None:
        self.errors: list[BaseException] = []

    @hookimpl
    async def on_error(self, session: Any, error: BaseException, event: Any) -> None:
        self.errors.append(error)


async def test_unsavable_state_names_plugin_and_key_and_the_chat_goes_on(tmp_path: Path) -> None:
    errors = Errors()
    database = tmp_path / "sessions.db"
    async with running_bot([Counter(), errors], f"store: 'sqlite://{database}'") as bot:
        assert bot.emulator is not None
        customer = Customer(bot.emulator.base_url)
        await customer.start()
        for word in ("one", "set", "three", "fix"):
            await customer.send(word)
            await customer.wait_for(lambda items, w=word: any(m.endswith(f": {w}") for m in customer.bot_messages()))
        assert customer.bot_messages() == ["1: one", "2: set", "3: three", "4: fix"]
        unsavable = [e for e in errors.errors if isinstance(e, UnsavableState)]
        assert len(unsavable) == 1, errors.errors  # once per key, not once per event
        assert unsavable[0].plugin == "test-plugin-0" and unsavable[0].key == "tags"
        assert "session.state['tags'] (set by plugin 'test-plugin-0') cannot be saved" in str(unsavable[0])
        store = SqliteStore(database)
        try:  # the reply goes out inside the handler; the save that makes the event done follows it
            async with asyncio.timeout(10):
                while (record := await store.load(customer.contact_id)) is None or record.state.get("count") != 4:
                    await asyncio.sleep(0.05)
        finally:
            await store.close()
        assert dict(record.state) == {"count": 4, "tags": ["a", "b"]}
        await customer.close()
