"""The example bots run as shipped: each bot.yaml loads, and the support desk holds a conversation."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from botkit.bot import BotProcess
from botkit.config import load_config
from botkit.plugins import load_plugins, new_plugin_manager
from tests.runtime.harness import Customer

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
FREE_PORTS = {**os.environ, "BOTKIT_EMULATOR_PORT": "0", "BOTKIT_PORT": "0"}


@pytest.mark.parametrize("bot_yaml", sorted(EXAMPLES.glob("*/bot.yaml")), ids=lambda path: path.parent.name)
def test_every_example_loads_with_its_plugins(bot_yaml: Path) -> None:
    config = load_config(bot_yaml, FREE_PORTS)
    assert load_plugins(new_plugin_manager(), config.plugins, config.base_dir, entry_points=False)


def bot_texts(items: list[dict[str, Any]]) -> list[str]:
    return [i["Content"] for i in items if i["Type"] == "MESSAGE" and i.get("ParticipantRole") == "CUSTOM_BOT"]


async def test_the_support_desk_looks_up_an_order_and_says_goodbye() -> None:
    config = load_config(EXAMPLES / "support-desk" / "bot.yaml", FREE_PORTS)
    async with BotProcess(config) as bot:
        customer = Customer(bot.emulator.base_url)
        await customer.start()
        await customer.wait_for_transcript(lambda items: any("order number" in t for t in bot_texts(items)))
        await customer.send("it's 123456")
        await customer.wait_for(lambda items: any(t.startswith("Order 123456: shipped") for t in bot_texts(items)))
        await customer.send("no idea")
        await customer.wait_for(lambda items: any("for example 123456" in t for t in bot_texts(items)))
        await customer.send("bye")
        await customer.wait_for(
            lambda items: any(i["ContentType"].endswith("participant.left") and i.get("ParticipantRole") == "CUSTOM_BOT"
                              for i in items)
        )
        assert "Glad I could help. Goodbye!" in bot_texts(customer.items)
        await customer.close()
