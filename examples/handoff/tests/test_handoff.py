"""The hand-off bot: details collected one question at a time, then the contact waits for an agent, who takes it.

`pytest examples/handoff`
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp

from botkit import hookimpl

EXAMPLE = Path(__file__).resolve().parents[1]
BOT_YAML = EXAMPLE / "bot.yaml"


class SessionEnds:
    """A plugin for the test only: hears why each session ended, so the test can wait for the hand-off."""

    def __init__(self) -> None:
        self.reasons: asyncio.Queue[str] = asyncio.Queue()

    @hookimpl
    async def on_session_end(self, reason: str) -> None:
        self.reasons.put_nowait(reason)


async def give_details(chat: Any) -> None:
    await chat.expect_message(text="Hello! I'll take a few details for our agents. What is your name?")
    await chat.say("Ada Lovelace")
    await chat.expect_message(text="Thanks, Ada Lovelace. What is your six-digit order number?")
    await chat.say("it's 12-34")
    await chat.expect_message(text="An order number has six digits, like 123456. What is yours?")
    await chat.say("123456")
    await chat.expect_message(text="And what is wrong with order 123456?")
    await chat.say("It arrived broken")
    await chat.expect_message(contains="An agent will be with you shortly")


async def contact(bot: Any, contact_id: str) -> dict[str, Any]:
    """The contact as the emulator's control API shows it: its State, Queue and Attributes."""
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{bot.emulator_url}/emulator/contacts/{contact_id}") as answer:
            assert answer.status == 200, await answer.text()
            return await answer.json()


async def test_details_one_question_at_a_time_then_the_queue_then_an_agent(botkit_bot) -> None:
    ends = SessionEnds()
    bot = await botkit_bot(config=BOT_YAML, plugins=[EXAMPLE / "handoff.py", ends])
    chat = await bot.start_chat(display_name="Ada")
    await give_details(chat)
    assert await asyncio.wait_for(ends.reasons.get(), timeout=5) == "handoff"

    queued = await contact(bot, chat.contact_id)  # the contact waits for an agent, with what the bot learnt
    assert (queued["State"], queued["Queue"]) == ("QUEUED", "Returns")
    assert queued["Attributes"] == {
        "queue": "Returns",
        "customer_name": "Ada Lovelace",
        "order_number": "123456",
        "reason": "It arrived broken",
    }

    details = queued["Attributes"]  # what the agent's desktop shows
    agent = await chat.join("AGENT", "Grace")
    await agent.say(f"Hi {details['customer_name']}, I'm sorry order {details['order_number']} arrived broken.")
    await chat.expect_message(from_role="AGENT", text="Hi Ada Lovelace, I'm sorry order 123456 arrived broken.")
    await chat.say("Can I have a new one?")
    await agent.expect_message(from_role="CUSTOMER", text="Can I have a new one?")
    assert (await contact(bot, chat.contact_id))["State"] == "CONNECTED_TO_AGENT"


async def test_the_queue_comes_from_plugin_config(botkit_bot) -> None:
    ends = SessionEnds()
    bot = await botkit_bot(
        config=BOT_YAML, plugins=[EXAMPLE / "handoff.py", ends], plugin_config={"handoff": {"queue": "Billing"}}
    )
    chat = await bot.start_chat(display_name="Ada")
    await give_details(chat)
    assert await asyncio.wait_for(ends.reasons.get(), timeout=5) == "handoff"
    queued = await contact(bot, chat.contact_id)
    assert (queued["State"], queued["Queue"], queued["Attributes"]["queue"]) == ("QUEUED", "Billing", "Billing")
