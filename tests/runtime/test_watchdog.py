"""The loop watchdog: a plugin that blocks the event loop is named, once per stall, by file and line."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from botkit.emulator import Emulator
from tests.runtime.harness import Customer, running_bot

SLEEPER = """\
import time

from botkit import hookimpl


@hookimpl
async def on_message(session, message):
    time.sleep(1.5)
    await session.send_message("awake")
"""

ECHO = """\
from botkit import hookimpl


@hookimpl
async def on_message(session, message):
    await session.send_message("echo: " + message.content)
"""


def stalls() -> float:
    return REGISTRY.get_sample_value("botkit_loop_stalls_total") or 0.0


def watchdog_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "botkit-watchdog"]


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "botkit.runtime.watchdog" and r.levelno >= logging.WARNING]


async def test_a_time_sleep_in_an_async_hook_is_named_once_by_file_and_line(
    tmp_path: Path, emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    plugin = tmp_path / "sleeper.py"
    plugin.write_text(SLEEPER, encoding="utf-8")
    sleep_line = SLEEPER.splitlines().index("    time.sleep(1.5)") + 1
    customer = Customer(emulator.base_url)
    before = stalls()
    caplog.set_level(logging.WARNING, logger="botkit.runtime.watchdog")
    extra = f"connect: {{endpoint: '{emulator.base_url}'}}\nplugins: ['{plugin}']\nruntime: {{max_loop_lag_seconds: 0.3}}"
    async with running_bot([], extra) as bot:
        await customer.start()
        await customer.send("wake up")
        await customer.wait_for(lambda items: "awake" in customer.bot_messages(), timeout=15)
        await customer.close()
        assert bot.watchdog is not None and bot.watchdog.last_stall_seconds >= 1.0
    warned = warnings_of(caplog)
    assert len(warned) == 1, [r.getMessage() for r in warned]
    message = warned[0].getMessage()
    assert f"{plugin}:{sleep_line} in on_message" in message
    assert "time.sleep(1.5)" in message  # the stack shows the line itself
    assert stalls() == before + 1
    assert not watchdog_threads()


async def test_a_healthy_loop_is_never_warned_about_and_the_thread_stops_with_the_bot(
    tmp_path: Path, emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    plugin = tmp_path / "echo_plugin.py"
    plugin.write_text(ECHO, encoding="utf-8")
    customer = Customer(emulator.base_url)
    before = stalls()
    caplog.set_level(logging.WARNING, logger="botkit.runtime.watchdog")
    extra = f"connect: {{endpoint: '{emulator.base_url}'}}\nplugins: ['{plugin}']\nruntime: {{max_loop_lag_seconds: 0.5}}"
    async with running_bot([], extra):
        assert len(watchdog_threads()) == 1
        await customer.start()
        for number in range(20):
            await customer.send(f"ping {number}")
        await customer.wait_for(lambda items: "echo: ping 19" in customer.bot_messages(), timeout=15)
        await customer.close()
    assert warnings_of(caplog) == []
    assert stalls() == before
    assert not watchdog_threads()
