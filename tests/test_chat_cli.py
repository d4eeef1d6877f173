"""`botkit chat` as a user runs it, against `botkit emulator` in its own process: losing it, and being stopped."""

from __future__ import annotations

import asyncio
import json
import re
import signal
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from botkit import hookimpl
from botkit.connect import vocabulary as v
from botkit.interactive import read_prompt
from tests.runtime.harness import running_bot
from tests.test_cli import botkit, read_line, read_until

Process = asyncio.subprocess.Process


async def stop(process: Process) -> None:
    if process.returncode is None:
        process.kill()
        await process.wait()


@pytest.fixture
async def emulator_process() -> AsyncIterator[tuple[Process, str]]:
    process = await botkit("emulator", "--port", "0")
    assert process.stdout is not None
    try:
        line = await read_line(process.stdout)
        assert line.startswith("emulator: http://127.0.0.1:"), line
        yield process, line.removeprefix("emulator: ")
    finally:
        await stop(process)


@pytest.fixture
async def chat_on(emulator_process: tuple[Process, str]) -> AsyncIterator[tuple[Process, str]]:
    """A customer chatting on the emulator, stdin left open as at a terminal; yields it and its contact id."""
    _, url = emulator_process
    process = await botkit("chat", "--endpoint", url, "--name", "Ada", stdin=asyncio.subprocess.PIPE)
    assert process.stdout is not None
    try:
        started = await read_line(process.stdout)
        assert re.fullmatch(r"chat \S+ started; type a message, Ctrl-D to leave", started), started
        yield process, started.split()[1]
    finally:
        await stop(process)


async def customer_of(url: str, contact_id: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{url}/emulator/contacts/{contact_id}") as answer:
            assert answer.status == 200
            contact = await answer.json()
    return contact | {"customer": next(p for p in contact["Participants"] if p["ParticipantRole"] == "CUSTOMER")}


async def test_the_emulator_going_away_ends_the_chat_with_one_line_and_a_failure_status(
    emulator_process: tuple[Process, str], chat_on: tuple[Process, str]
) -> None:
    emulator, url = emulator_process
    chat, _ = chat_on
    assert chat.stderr is not None
    emulator.kill()
    await emulator.wait()
    code = await asyncio.wait_for(chat.wait(), 15)
    err = (await chat.stderr.read()).decode()
    assert code != 0
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("botkit: ") and url in lines[0], err


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
async def test_a_stopped_chat_leaves_its_contact_before_it_exits(
    emulator_process: tuple[Process, str], chat_on: tuple[Process, str], signum: signal.Signals
) -> None:
    _, url = emulator_process
    chat, contact_id = chat_on
    assert chat.stderr is not None
    assert not (await customer_of(url, contact_id))["customer"]["Left"]
    chat.send_signal(signum)
    code = await asyncio.wait_for(chat.wait(), 10)
    err = (await chat.stderr.read()).decode()
    assert code == 0, err
    assert "Traceback" not in err
    contact = await customer_of(url, contact_id)
    assert contact["customer"]["Left"]  # DisconnectParticipant, which also ends a chat the customer leaves
    assert contact["Ended"]


# Interactive messages: numbered choices, answered with an interactive response ------------------------

LIST_PICKER = {
    "templateType": "ListPicker",
    "version": "1.0",
    "data": {
        "replyMessage": {"title": "Thanks for selecting!"},
        "content": {
            "title": "What produce would you like to buy?",
            "subtitle": "Tap to select option",
            "elements": [
                {"title": "Apple", "subtitle": "$10.00"},
                {"title": "Orange", "subtitle": "$12.00"},
                {"title": "Banana", "subtitle": "$5.00"},
            ],
        },
    },
}


class Produce:
    """Asked for the menu, has the contact flow post a ListPicker (as a Lex bot would, role SYSTEM); answers a pick."""

    def __init__(self) -> None:
        self.emulator: Any = None
        self.ended = asyncio.Event()

    @hookimpl
    async def on_message(self, session: Any, message: Any) -> None:
        if message.content_type == v.TEXT_PLAIN and message.content == "menu":
            center = self.emulator.center
            contact = center.contacts[session.contact_id]
            flow = {"ParticipantId": SYSTEM_PARTICIPANT, "ParticipantRole": v.SYSTEM, "DisplayName": "BOT"}
            await center.publish(contact, contact.item(v.INTERACTIVE, v.MESSAGE, Content=json.dumps(LIST_PICKER), **flow))
        elif message.content_type == v.INTERACTIVE_RESPONSE:
            picked = json.loads(message.content)["data"]["content"]["title"]
            await session.send_message(f"you picked {picked}")

    @hookimpl
    def on_session_end(self) -> None:
        self.ended.set()


SYSTEM_PARTICIPANT = "5f0e3c1a-0000-4000-8000-0000000000f1"


async def test_chat_shows_a_list_picker_as_numbered_choices_and_answers_with_an_interactive_response() -> None:
    produce = Produce()
    async with running_bot([produce]) as bot:
        produce.emulator = bot.emulator
        process = await botkit("chat", "--endpoint", bot.emulator.base_url, "--name", "Ada", stdin=asyncio.subprocess.PIPE)
        assert process.stdin is not None and process.stdout is not None and process.stderr is not None
        try:
            started = await read_line(process.stdout)
            contact_id = started.split()[1]
            process.stdin.write(b"menu\n")
            await process.stdin.drain()
            shown = await read_until(process.stdout, "(type a number to choose)")
            assert shown[-6:] == [
                "BOT: What produce would you like to buy?",
                "Tap to select option",
                "  1. Apple ($10.00)",
                "  2. Orange ($12.00)",
                "  3. Banana ($5.00)",
                "(type a number to choose)",
            ]

            process.stdin.write(b"2\n")
            await process.stdin.drain()
            answered = await read_until(process.stdout, "you picked")
            assert answered == ["(you chose Orange)", "Bot: you picked Orange"]

            process.stdin.write(b"2\n")  # the prompt is answered: a number now is a message like any other
            await process.stdin.drain()
            process.stdin.close()
            code = await asyncio.wait_for(process.wait(), 15)
            err = (await process.stderr.read()).decode()
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        assert code == 0, err
        await asyncio.wait_for(produce.ended.wait(), 10)
        transcript = bot.emulator.center.contacts[contact_id].transcript
        said = [
            (item["ContentType"], item["Content"])
            for item in transcript
            if item.get("ParticipantRole") == v.CUSTOMER and item["Type"] == v.MESSAGE
        ]
    assert [content_type for content_type, _ in said] == [v.TEXT_PLAIN, v.INTERACTIVE_RESPONSE, v.TEXT_PLAIN]
    response = json.loads(said[1][1])
    assert response == {
        "templateType": "ListPicker",
        "version": "1.0",
        "data": {
            "content": {
                "title": "Orange",
                "selectedElement": {"title": "Orange", "subtitle": "$12.00"},
                "listTitle": "What produce would you like to buy?",
            }
        },
    }
    assert said[2][1] == "2"


def _template(kind: str, content: dict[str, Any], **extra: Any) -> str:
    return json.dumps({"templateType": kind, "version": "1.0", "data": {"content": content}, **extra})


@pytest.mark.parametrize("kind", ["QuickReply", "Panel"])
def test_quick_replies_and_panels_number_their_elements(kind: str) -> None:
    prompt = read_prompt(_template(kind, {"title": "How was it?", "elements": [{"title": "Good"}, {"title": "Bad"}]}))
    assert prompt is not None
    assert prompt.lines == ("How was it?", "  1. Good", "  2. Bad")
    answer = json.loads(prompt.choices[1].response())
    assert answer["templateType"] == kind and answer["data"]["content"]["title"] == "Bad"


def test_a_time_picker_numbers_its_slots_and_answers_with_the_slots_date_and_duration() -> None:
    slots = [{"date": "2026-06-15T16:00+00:00", "duration": 60}, {"date": "2026-06-16T09:30Z", "duration": 30}]
    prompt = read_prompt(_template("TimePicker", {"title": "Pick a time", "timeslots": slots}))
    assert prompt is not None
    assert prompt.lines == ("Pick a time", "  1. Mon 15 Jun 2026 16:00 UTC (60 min)", "  2. Tue 16 Jun 2026 09:30 UTC (30 min)")
    selected = json.loads(prompt.choices[1].response())["data"]["content"]["selectedElement"]
    assert selected == {"title": "Tue 16 Jun 2026 09:30 UTC (30 min)", "date": "2026-06-16T09:30Z", "duration": 30}


def test_a_carousel_numbers_the_choices_of_all_its_cards_and_answers_for_the_card_chosen_from() -> None:
    cards = [
        {"templateType": "Panel", "version": "1.0", "data": {"content": {"title": card, "elements": [{"title": f"{card} A"}, {"title": f"{card} B"}]}}}
        for card in ("Hotels", "Flights")
    ]
    prompt = read_prompt(_template("Carousel", {"title": "Plan a trip", "elements": cards}))
    assert prompt is not None
    assert prompt.lines == (
        "Plan a trip", "  Hotels", "    1. Hotels A", "    2. Hotels B", "  Flights", "    3. Flights A", "    4. Flights B",
    )
    content = json.loads(prompt.choices[2].response())["data"]["content"]
    assert content == {"title": "Flights A", "selectedElement": {"title": "Flights A"}, "listTitle": "Flights"}


def test_a_show_more_element_answers_with_its_action_and_the_lists_position() -> None:
    content = {
        "title": "Services", "listId": "services", "referenceId": "ref-1", "preIndex": -1, "nextIndex": 5,
        "elements": [{"title": "Massage"}, {"title": "Show more", "actionDetail": "SHOW_MORE"}],
    }
    prompt = read_prompt(_template("ListPicker", content))
    assert prompt is not None
    assert json.loads(prompt.choices[1].response()) == {
        "version": "1.0",
        "data": {"actionName": "SHOW_MORE", "templateType": "ListPicker", "preIndex": -1, "nextIndex": 5,
                 "listId": "services", "referenceId": "ref-1"},
        "action": "SHOW_MORE",
    }


@pytest.mark.parametrize("content", ["not json", "[1, 2]", '{"templateType": "AppleForm"}', _template("Panel", {"title": "x"})])
def test_what_is_no_known_template_or_has_no_choices_gives_no_choices(content: str) -> None:
    prompt = read_prompt(content)
    assert prompt is None or prompt.choices == ()


async def test_a_chat_starts_with_the_attributes_given(emulator_process: tuple[Process, str]) -> None:
    """`--attribute language=fr` reaches the contact, as a website's widget passes it to StartChatContact."""
    _, url = emulator_process
    chat = await botkit(
        "chat", "--endpoint", url, "--attribute", "language=fr", "--attribute", "note=a=b", stdin=asyncio.subprocess.PIPE
    )
    assert chat.stdout is not None
    try:
        started = await read_line(chat.stdout)
        contact_id = started.split()[1]
        assert (await customer_of(url, contact_id))["Attributes"] == {"language": "fr", "note": "a=b"}
    finally:
        await stop(chat)


async def test_an_attribute_without_a_value_is_refused() -> None:
    chat = await botkit("chat", "--attribute", "language")
    assert chat.stderr is not None
    assert await asyncio.wait_for(chat.wait(), 10) == 2
    assert "expected NAME=VALUE, not 'language'" in (await chat.stderr.read()).decode()
