"""botkit's test kit: a bot and its emulator in the test's process, and chats with expectations.

    async def test_greets(botkit_bot):
        bot = await botkit_bot(plugins=["plugins/orders.py"])
        chat = await bot.start_chat(display_name="Ada")
        await chat.expect_message(contains="Hi")

The `botkit_bot` fixture comes with botkit (a pytest plugin, see docs/testing.md). The names below load on
first use, so the plugin costs pytest nothing until a test starts a bot.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "BotError",
    "BotFailure",
    "BotKit",
    "Chat",
    "ExpectationFailed",
    "Participant",
    "RunningBot",
    "Transcript",
]

_HOMES = {
    "BotError": "botkit.testing.errors",
    "BotFailure": "botkit.testing.errors",
    "ExpectationFailed": "botkit.testing.errors",
    "BotKit": "botkit.testing.kit",
    "RunningBot": "botkit.testing.kit",
    "Chat": "botkit.testing.chat",
    "Participant": "botkit.testing.chat",
    "Transcript": "botkit.testing.transcript",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'botkit.testing' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
