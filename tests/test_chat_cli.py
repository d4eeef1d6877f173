"""`botkit chat` as a user runs it, against `botkit emulator` in its own process: losing it, and being stopped."""

from __future__ import annotations

import asyncio
import re
import signal
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.test_cli import botkit, read_line

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
