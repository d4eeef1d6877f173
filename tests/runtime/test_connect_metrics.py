"""Metrics of Amazon Connect calls (per attempt and per logical call) and of the intake's answers.

Counted with Prometheus' default registry, read before and after with `get_sample_value`,
so the tests hold whatever else ran in the process.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from prometheus_client import REGISTRY

from botkit import hookimpl
from botkit.connect.errors import MalformedResponseError, ThrottlingException, UnknownServiceError
from botkit.connect.retry import OUTCOMES, outcome_of
from botkit.runtime import metrics
from tests.runtime.harness import Customer, running_bot
from tests.runtime.test_reliability import CUSTOM_BOT


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


class Counted:
    """Reads a set of samples now, and later tells how much each moved."""

    def __init__(self, *samples: tuple[str, dict[str, str]]) -> None:
        self._samples = samples
        self._before = [value(name, **labels) for name, labels in samples]

    def moved(self) -> list[float]:
        return [value(name, **labels) - before for (name, labels), before in zip(self._samples, self._before, strict=True)]


def calls(service: str, operation: str, outcome: str) -> tuple[str, dict[str, str]]:
    return "botkit_connect_calls_total", {"service": service, "operation": operation, "outcome": outcome}


def attempts(service: str, operation: str, outcome: str) -> tuple[str, dict[str, str]]:
    return "botkit_connect_attempts_total", {"service": service, "operation": operation, "outcome": outcome}


def intake(route: str, outcome: str) -> tuple[str, dict[str, str]]:
    return "botkit_intake_requests_total", {"route": route, "outcome": outcome}


class Echo:
    @hookimpl
    async def on_message(self, session: Any, message: Any) -> None:
        await session.send_message(f"reply:{message.content}")


async def put_faults(base_url: str, spec: dict[str, Any]) -> None:
    async with aiohttp.ClientSession() as http, http.put(f"{base_url}/emulator/faults", json=spec) as answer:
        assert answer.status == 200, await answer.text()


async def test_a_bots_connect_calls_are_counted_by_service_operation_and_outcome() -> None:
    """A chat joined through one throttled CreateParticipant: two attempts (throttled, ok), one call (ok)."""
    async with running_bot([Echo()], "connect: {retry: {base_delay: 0.01, max_delay: 0.02}}") as bot:
        assert bot.emulator is not None
        counted = Counted(
            calls("connect", "CreateParticipant", "ok"),
            attempts("connect", "CreateParticipant", "throttled"),
            attempts("connect", "CreateParticipant", "ok"),
            calls("participant", "SendMessage", "ok"),
            ("botkit_connect_call_seconds_count", {"service": "connect", "operation": "CreateParticipant"}),
        )
        # Every CreateParticipant is throttled until the first one has been: exactly one 429, then the join.
        throttled = bot.emulator.faults
        error_before = throttled.error_before
        thrown: list[tuple[int, str]] = []

        def once() -> tuple[int, str] | None:
            if thrown:
                return error_before()
            thrown.append((429, "ThrottlingException"))
            return thrown[0]

        throttled.error_before = once  # type: ignore[method-assign]
        await put_faults(bot.emulator.base_url, {"operations": ["CreateParticipant"], "error_rate": 0.0})
        customer = Customer(bot.emulator.base_url)
        try:
            await customer.start()
            await customer.send("hello")
            await customer.wait_for(lambda items: "reply:hello" in customer.bot_messages())
            joined, throttled_attempts, ok_attempts, sent, timed = counted.moved()
            assert (joined, throttled_attempts, ok_attempts, timed) == (1, 1, 1, 1)
            assert sent >= 1
            async with aiohttp.ClientSession() as http, http.get(f"{bot.server_url}/metrics") as answer:
                text = await answer.text()
            assert 'botkit_connect_calls_total{operation="CreateParticipant",outcome="ok",service="connect"}' in text
            participants = bot.emulator.center.contacts[customer.contact_id].participants.values()
            unbounded = [customer.contact_id, customer.token, *(p.participant_id for p in participants)]
            unbounded += [p.participant_token for p in participants]
            assert not [secret for secret in unbounded if secret in text]
            assert any(p.role == CUSTOM_BOT for p in participants)
        finally:
            await customer.close()


def test_the_observer_counts_each_attempt_and_each_call_once() -> None:
    counted = Counted(
        attempts("connect", "StopContact", "server_error"),
        attempts("connect", "StopContact", "ok"),
        calls("connect", "StopContact", "ok"),
        calls("connect", "StopContact", "server_error"),
    )
    metrics.CONNECT_OBSERVER.attempted("connect", "StopContact", "server_error", 0.01)
    metrics.CONNECT_OBSERVER.attempted("connect", "StopContact", "ok", 0.01)
    metrics.CONNECT_OBSERVER.completed("connect", "StopContact", "ok", 0.05, 2)
    assert counted.moved() == [1, 1, 1, 0]


def test_every_outcome_is_one_of_the_bounded_set() -> None:
    failures: list[BaseException | None] = [
        None,
        asyncio.CancelledError(),
        MalformedResponseError(200, "MalformedResponse", "x"),
        ThrottlingException(429, "ThrottlingException", "x"),
        UnknownServiceError(400, "TooManyRequestsException", "x"),
        UnknownServiceError(500, "InternalServiceException", "x"),
        UnknownServiceError(400, "InvalidRequestException", "x"),
        TimeoutError(),
        aiohttp.ServerDisconnectedError(),
        ValueError("a bug"),
    ]
    assert [outcome_of(f) for f in failures] == [
        "ok", "cancelled", "malformed", "throttled", "throttled", "server_error", "client_error", "timeout",
        "network_error", "other",
    ]
    assert {outcome_of(f) for f in failures} <= set(OUTCOMES)


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, "accepted"),
        (400, "bad_request"),
        (401, "unauthorized"),
        (403, "unauthorized"),
        (404, "bad_request"),
        (409, "conflict"),
        (413, "too_large"),
        (500, "internal_error"),
        (502, "upstream_error"),
        (503, "unavailable"),
        (504, "upstream_timeout"),
    ],
)
def test_an_intake_answer_is_counted_by_route_and_outcome(status: int, outcome: str) -> None:
    counted = Counted(intake("/contact-flow", outcome), intake("/contacts", outcome))
    metrics.count_intake("/contact-flow", status)
    assert counted.moved() == [1, 0]
