"""`botkit serve` stopped by a signal, as a deploy stops it: a real process, a real emulator, customers mid-chat."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import textwrap
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from botkit.emulator import Emulator
from tests.runtime.harness import Customer
from tests.test_cli import botkit, read_line

GRACE = 2.0
BOT_LEFT = "application/vnd.amazonaws.connect.event.participant.left"

PLUGIN = """\
import asyncio
import json

from botkit import hookimpl

ENDINGS = {endings!r}


@hookimpl
async def on_message(session, message):
    if message.content == "busy":
        await session.send_message("working on it")
        await asyncio.sleep(3600)
    await session.send_message("echo: " + message.content)


@hookimpl
async def on_session_end(session, reason):
    with open(ENDINGS, "a", encoding="utf-8") as endings:
        endings.write(json.dumps({{"contact": session.contact_id, "reason": reason}}) + "\\n")
"""


STUCK_PLUGIN = """\
import time

from botkit import hookimpl


@hookimpl
def on_message(session, message):
    if message.content == "stuck":
        session.blocking.send_message("stuck in a thread")
        time.sleep(3600)
"""


def write_bot(tmp_path: Path, emulator: Emulator, on_shutdown: str) -> Path:
    endings = tmp_path / "endings.jsonl"
    (tmp_path / "lifecycle_probe.py").write_text(PLUGIN.format(endings=str(endings)), encoding="utf-8")
    (tmp_path / "stuck_thread.py").write_text(STUCK_PLUGIN, encoding="utf-8")
    (tmp_path / "bot.yaml").write_text(
        textwrap.dedent(
            f"""\
            connect: {{endpoint: "{emulator.base_url}"}}
            server: {{port: 0}}
            plugins: [lifecycle_probe.py, stuck_thread.py]
            runtime: {{shutdown_grace_seconds: {GRACE}, on_shutdown: {on_shutdown}}}
            """
        ),
        encoding="utf-8",
    )
    return endings


@asynccontextmanager
async def serving(tmp_path: Path) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    process = await botkit("serve", "bot.yaml", cwd=tmp_path)
    assert process.stdout is not None
    try:
        line = await read_line(process.stdout)
        match = re.fullmatch(r"bot: (http://127\.0\.0\.1:\d+) \(plugins: lifecycle_probe, stuck_thread\)", line)
        assert match, line
        yield process, match.group(1)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def chatting(emulator: Emulator, count: int) -> list[Customer]:
    """`count` customers answered by the bot; the first one's handler is busy (awaiting), the second one's is
    stuck in a thread that Python cannot stop."""
    customers = [Customer(emulator.base_url) for _ in range(count)]
    for number, customer in enumerate(customers):
        await customer.start()
        await customer.send(f"hello {number}")
        await customer.wait_for(lambda items, c=customer, n=number: f"echo: hello {n}" in c.bot_messages(), timeout=15)
    await customers[0].send("busy")
    await customers[0].wait_for(lambda items: "working on it" in customers[0].bot_messages(), timeout=15)
    await customers[1].send("stuck")
    await customers[1].wait_for(lambda items: "stuck in a thread" in customers[1].bot_messages(), timeout=15)
    return customers


async def stopped(process: asyncio.subprocess.Process, signum: int = signal.SIGTERM) -> tuple[int, float, str]:
    """The signal, then the exit code, the seconds it took, and what it wrote to stderr."""
    assert process.stderr is not None
    started = time.monotonic()
    process.send_signal(signum)
    code = await asyncio.wait_for(process.wait(), GRACE + 30)
    return code, time.monotonic() - started, (await process.stderr.read()).decode()


def bot_of(emulator: Emulator, contact_id: str) -> Any:
    contact = emulator.center.contacts[contact_id]
    return next(p for p in contact.participants.values() if p.role == "CUSTOM_BOT")


async def wait_until_not_ready(url: str) -> dict[str, Any]:
    """Polls /readyz (a condition, not a fixed sleep) until it answers 503; returns its body."""
    async with aiohttp.ClientSession() as http, asyncio.timeout(GRACE):
        while True:
            async with http.get(f"{url}/readyz") as answer:
                if answer.status == 503:
                    return await answer.json()
            await asyncio.sleep(0.05)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_a_signal_ends_every_session_leaves_every_chat_and_exits_in_time(
    tmp_path: Path, emulator: Emulator, signum: int
) -> None:
    endings = write_bot(tmp_path, emulator, "disconnect")
    async with serving(tmp_path) as (process, url):
        customers = await chatting(emulator, 3)
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{url}/readyz") as answer:
                assert answer.status == 200, await answer.text()
        exiting = asyncio.create_task(stopped(process, signum))
        body = await wait_until_not_ready(url)
        assert body["checks"]["accepting"] is False
        async with aiohttp.ClientSession() as http:
            refused = await http.post(f"{url}/contact-flow", json={"Details": {"ContactData": {"ContactId": "x"}}})
            assert refused.status == 503
        code, seconds, err = await exiting
    assert code == 0, err
    assert seconds < GRACE + 5, f"took {seconds:.1f} s"
    assert "Traceback" not in err
    ended = [json.loads(line) for line in endings.read_text(encoding="utf-8").splitlines()]
    assert sorted(ended, key=lambda e: e["contact"]) == sorted(
        ({"contact": c.contact_id, "reason": "shutdown"} for c in customers), key=lambda e: e["contact"]
    )
    for customer in customers:
        bot = bot_of(emulator, customer.contact_id)
        assert bot.left
        await customer.wait_for(
            lambda items, bot_id=bot.participant_id: any(
                i.get("ContentType") == BOT_LEFT and i.get("ParticipantId") == bot_id for i in items
            ),
            timeout=5,
        )
        assert not emulator.center.contacts[customer.contact_id].ended  # the flow moves on; the customer stays
        await customer.close()


async def test_sigterm_with_abandon_leaves_the_chats_as_they_are(tmp_path: Path, emulator: Emulator) -> None:
    endings = write_bot(tmp_path, emulator, "abandon")
    async with serving(tmp_path) as (process, _):
        customers = await chatting(emulator, 2)
        code, seconds, err = await stopped(process)
    assert code == 0, err
    assert seconds < GRACE + 5, f"took {seconds:.1f} s"
    assert not endings.exists() or endings.read_text(encoding="utf-8") == ""
    for customer in customers:
        assert not bot_of(emulator, customer.contact_id).left
        transcript = await customer.transcript()
        assert not any(i.get("ContentType") == BOT_LEFT for i in transcript)
        await customer.close()
