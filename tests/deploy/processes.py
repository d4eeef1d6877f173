"""`botkit serve` as a real subprocess, its printed URLs, and the way it stops; shared by the deploy tests."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


@dataclass
class Served:
    """A running `botkit serve`: its process, the URLs it printed, and its stderr so far."""

    process: asyncio.subprocess.Process
    bot_url: str = ""
    emulator_url: str | None = None
    stderr: bytearray = field(default_factory=bytearray)

    async def stop(self, timeout: float) -> int:
        """SIGTERM, then the exit status; fails the test if the process outlives `timeout`."""
        self.process.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.process.wait(), timeout)


def free_port() -> int:
    """A port nothing listens on right now; the caller binds it at once (a small race, fine on one machine)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def clean_env(**overrides: str) -> dict[str, str]:
    """The test's environment without BOTKIT_* settings (they would leak into bot.yaml), plus `overrides`."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("BOTKIT_")}
    env.update(overrides)
    return env


@asynccontextmanager
async def serving(
    argv: Sequence[str],
    *,
    env: dict[str, str],
    cwd: Path,
    preexec_fn: Callable[[], Any] | None = None,
    start_timeout: float = 30,
    ready_line: str = "bot",
) -> AsyncIterator[Served]:
    """Run `argv` (a `botkit serve` command line) until it prints its bot URL (its emulator URL, for `botkit
    emulator` with `ready_line="emulator"`); kill it if the test leaves early."""
    process = await asyncio.create_subprocess_exec(
        *argv,
        cwd=cwd,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        preexec_fn=preexec_fn,
    )
    served = Served(process)
    assert process.stdout is not None and process.stderr is not None
    drain = asyncio.create_task(_collect(process.stderr, served.stderr))
    try:
        async with asyncio.timeout(start_timeout):
            while not (served.emulator_url if ready_line == "emulator" else served.bot_url):
                line = (await process.stdout.readline()).decode()
                assert line, f"botkit serve exited early; stderr: {served.stderr.decode()}"
                if match := re.match(r"emulator: (\S+)", line):
                    served.emulator_url = match.group(1)
                elif match := re.match(r"bot: (\S+)", line):
                    served.bot_url = match.group(1)
        yield served
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await drain


async def _collect(stream: asyncio.StreamReader, into: bytearray) -> None:
    while chunk := await stream.read(65536):
        into.extend(chunk)
