"""`GET /metrics`: what the runtime did, in Prometheus' text format, with no token or contact id in it."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import aiohttp

from botkit import hookimpl
from tests.runtime.harness import Customer, running_bot


class Flaky:
    """Answers every message, and raises on the word 'boom'."""

    def __init__(self) -> None:
        self.ended = asyncio.Event()

    @hookimpl
    async def on_message(self, session: Any, message: Any) -> None:
        if message.content == "boom":
            raise RuntimeError("boom")
        await session.send_message(f"reply:{message.content}")

    @hookimpl
    def on_session_end(self) -> None:
        self.ended.set()


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample, 0 when absent."""
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    pattern = rf"^{re.escape(name)}{{{re.escape(wanted)}}} (\S+)$" if labels else rf"^{re.escape(name)} (\S+)$"
    found = re.search(pattern, text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


async def scrape(bot: Any) -> str:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{bot.server_url}/metrics") as answer:
            assert answer.status == 200
            assert answer.headers["Content-Type"].startswith("text/plain")
            return await answer.text()


async def test_metrics_count_sessions_hooks_and_failures_without_ids_or_tokens() -> None:
    flaky = Flaky()
    async with running_bot([flaky]) as bot:
        before = await scrape(bot)
        customer = Customer(bot.emulator.base_url)
        await customer.start()
        await customer.send("boom")
        await customer.send("hello")
        await customer.wait_for(lambda items: "reply:hello" in customer.bot_messages())
        during = await scrape(bot)
        assert sample(during, "botkit_sessions") == sample(before, "botkit_sessions") + 1
        assert sample(during, "botkit_hook_calls_total", hook="on_message") >= (
            sample(before, "botkit_hook_calls_total", hook="on_message") + 2
        )
        failures = ("botkit_handler_failures_total", {"hook": "on_message", "plugin": "test-plugin-0", "kind": "raised"})
        assert sample(during, failures[0], **failures[1]) == sample(before, failures[0], **failures[1]) + 1
        await customer.disconnect()
        await asyncio.wait_for(flaky.ended.wait(), 10)
        after = await scrape(bot)
        assert sample(after, "botkit_sessions_ended_total", reason="chat_ended") >= (
            sample(before, "botkit_sessions_ended_total", reason="chat_ended") + 1
        )
        secrets = [customer.token, customer.contact_id, customer.participant_id]
        secrets += [p.participant_token for c in bot.emulator.center.contacts.values() for p in c.participants.values()]
        assert not [secret for secret in secrets if secret and secret in after]
        await customer.close()
