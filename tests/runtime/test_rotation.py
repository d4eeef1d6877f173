"""Sockets are rotated before their limits, and nothing is lost or repeated across a rotation."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from botkit import hookimpl
from botkit.runtime.connection import ConnectionSettings
from tests.runtime.harness import Customer, running_bot


class Echo:
    def __init__(self) -> None:
        self.seen: list[str] = []

    @hookimpl
    async def on_message(self, session: Any, message: Any) -> None:
        self.seen.append(message.content)
        await session.send_message(f"reply:{message.content}")


async def test_the_socket_is_rotated_proactively_and_every_message_is_answered_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    echo = Echo()
    rotating = ConnectionSettings(rotate_after=0.3, heartbeat_interval=1.0, backoff_base=0.01, backoff_max=0.05)
    caplog.set_level(logging.INFO, logger="botkit.runtime.connection")
    async with running_bot([echo], connection=rotating) as bot:
        customer = Customer(bot.emulator.base_url)
        await customer.start()
        rotations = lambda: sum("rotated before its limits" in r.getMessage() for r in caplog.records)  # noqa: E731
        sent: list[str] = []
        number = 0
        while rotations() < 3 or number < 10:
            number += 1
            sent.append(str(number))
            await customer.send(str(number))
            await customer.wait_for(lambda items, n=number: f"reply:{n}" in customer.bot_messages())
            assert number < 500, "no rotation happened"
        await customer.close()
    assert echo.seen == sent
    assert customer.bot_messages() == [f"reply:{n}" for n in sent]
    assert rotations() >= 3
