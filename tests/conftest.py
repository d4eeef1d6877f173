"""Shared fixtures: a real emulator on 127.0.0.1, and AWS's own clients pointed at it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Iterator
from typing import Any, TypeVar

import boto3
import pytest

from botkit.emulator import Emulator, EmulatorConfig

T = TypeVar("T")


class EmulatorThread:
    """An emulator on its own event loop in a thread, so blocking clients (boto3) can call it."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.loop = asyncio.new_event_loop()
        self.emulator = Emulator(config)
        self._thread = threading.Thread(target=self.loop.run_forever, name="emulator", daemon=True)

    def __enter__(self) -> EmulatorThread:
        self._thread.start()
        self.run(self.emulator.start())
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.run(self.emulator.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()

    def run(self, coroutine: Awaitable[T], timeout: float = 10) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)  # type: ignore[arg-type]

    @property
    def base_url(self) -> str:
        return self.emulator.base_url

    @property
    def config(self) -> EmulatorConfig:
        return self.emulator.config


def aws_clients(base_url: str) -> tuple[Any, Any]:
    """boto3's `connect` and `connectparticipant` clients, unchanged but for the endpoint."""
    options = dict(
        endpoint_url=base_url,
        region_name="us-east-1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="placeholder-secret",
    )
    return boto3.client("connect", **options), boto3.client("connectparticipant", **options)


@pytest.fixture(scope="module")
def emulator_thread() -> Iterator[EmulatorThread]:
    with EmulatorThread(EmulatorConfig(port=0)) as running:
        yield running


@pytest.fixture
async def emulator() -> Any:
    """An in-process emulator on the test's own loop, for async clients."""
    async with Emulator(EmulatorConfig(port=0)) as running:
        yield running


TRANSPORTS = ("websocket", "streaming")


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> str:
    """bot.yaml's `transport`: tests taking this fixture run once on each, unchanged."""
    return str(request.param)
