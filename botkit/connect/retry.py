"""When and how long a client waits before trying a call again, and the loop both clients retry in.

The participant client and the control-plane client differ only in how one attempt is sent
(a bearer token or a SigV4 signature); what counts as transient, the backoff, the overall
deadline, the log lines and what an observer is told are the same, so they live here once.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

import aiohttp

from botkit.connect.errors import MalformedResponseError, ParticipantConnectionError, ParticipantServiceError

T = TypeVar("T")

RETRYABLE_EXCEPTIONS: tuple[type[BaseException], ...] = (
    aiohttp.ClientConnectionError,
    aiohttp.ClientPayloadError,
    TimeoutError,
)
"""Network failures and timeouts: the request may not have reached the service, so try again."""

THROTTLING_CODES = frozenset(
    {"Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException", "TooManyRequestsException"}
)
"""Error codes that mean "slow down" whatever the status, as botocore's retry handler reads them."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Capped exponential backoff with full jitter, as the AWS SDKs do."""

    max_attempts: int = 5
    base_delay: float = 0.1
    max_delay: float = 5.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")

    def should_retry(self, error: ParticipantServiceError) -> bool:
        """Throttling and server errors pass; any other error answer would fail the same way again."""
        return error.status == 429 or error.status >= 500 or error.code in THROTTLING_CODES

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        return random.uniform(0.0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))


class CallObserver(Protocol):
    """Told of every attempt and every logical call, for metrics; `outcome` is one of OUTCOMES."""

    def attempted(self, service: str, operation: str, outcome: str, seconds: float) -> None: ...

    def completed(self, service: str, operation: str, outcome: str, seconds: float, attempts: int) -> None: ...


OUTCOMES = (
    "ok", "throttled", "server_error", "client_error", "malformed", "network_error", "timeout", "cancelled", "other"
)
"""Every outcome an observer may be told: a bounded set, fit for a metric label."""


def outcome_of(failure: BaseException | None) -> str:
    """The outcome of one attempt, from what it raised (None: it succeeded)."""
    if failure is None:
        return "ok"
    if isinstance(failure, asyncio.CancelledError):
        return "cancelled"
    if isinstance(failure, MalformedResponseError):
        return "malformed"
    if isinstance(failure, ParticipantServiceError):
        if failure.status == 429 or failure.code in THROTTLING_CODES:
            return "throttled"
        return "server_error" if failure.status >= 500 else "client_error"
    if isinstance(failure, TimeoutError):
        return "timeout"
    if isinstance(failure, RETRYABLE_EXCEPTIONS):
        return "network_error"
    return "other"


@dataclass(frozen=True, slots=True)
class RetryScope:
    """Who retries: its service name (for observers), policy, logger, and how to keep secrets out of messages."""

    service: str
    policy: RetryPolicy
    log: logging.Logger
    observer: CallObserver | None = None
    redact: Callable[[str], str] = str


async def retrying(
    scope: RetryScope,
    operation: str,
    attempt: Callable[[float | None], Awaitable[T]],
    *,
    timeout: float | None = None,
) -> T:
    """One logical call: `attempt` again on throttling, 5xx, time-outs and network failures.

    `attempt(remaining)` sends the request once, the same bytes each time, and is given the seconds
    left of `timeout` (None: no overall deadline). Attempts and the pauses between them all fit in
    `timeout`: no pause starts that would end past it. Raises the last error answer, or
    ParticipantConnectionError when the service could not be reached or did not answer in time.
    """
    loop = asyncio.get_running_loop()
    call = _Observed(scope, operation, loop.time())
    deadline = None if timeout is None else call.started + timeout
    attempts = 0
    while True:
        attempts += 1
        attempt_started = loop.time()
        remaining = None if deadline is None else deadline - attempt_started
        try:
            async with asyncio.timeout_at(deadline):
                result = await attempt(remaining)
        except BaseException as failure:
            outcome = outcome_of(failure)
            call.attempted(outcome, attempt_started)
            retryable = isinstance(failure, RETRYABLE_EXCEPTIONS) or (
                isinstance(failure, ParticipantServiceError) and scope.policy.should_retry(failure)
            )
            if not retryable:
                call.completed(outcome, attempts)
                raise
            pause = scope.policy.delay(attempts)
            out_of_time = deadline is not None and loop.time() + pause >= deadline
            reason = _reason(failure, scope.redact, timeout if out_of_time else None)
            if attempts >= scope.policy.max_attempts or out_of_time:
                scope.log.warning("%s gave up after %d attempt(s): %s%s", operation, attempts, reason, _request_id(failure))
                call.completed(outcome, attempts)
                if isinstance(failure, ParticipantServiceError):
                    raise
                raise ParticipantConnectionError(operation, attempts, reason) from failure
            scope.log.debug(
                "%s attempt %d/%d failed (%s); retrying in %.3f s",
                operation,
                attempts,
                scope.policy.max_attempts,
                reason,
                pause,
            )
            try:
                await asyncio.sleep(pause)
            except asyncio.CancelledError:
                call.completed("cancelled", attempts)
                raise
            continue
        call.attempted("ok", attempt_started)
        call.completed("ok", attempts)
        return result


def _reason(failure: BaseException, redact: Callable[[str], str], timeout: float | None) -> str:
    """A failed attempt in a few words, for logs and ParticipantConnectionError; never a token."""
    if isinstance(failure, ParticipantServiceError):
        return f"{failure.status} {failure.code}"
    if isinstance(failure, TimeoutError) and timeout is not None:
        return f"no answer within {timeout:g} s"
    detail = redact(str(failure))
    return f"{type(failure).__name__}: {detail}" if detail else type(failure).__name__


def _request_id(failure: BaseException) -> str:
    request_id = getattr(failure, "request_id", None)
    return f" (request id {request_id})" if request_id else ""


@dataclass(slots=True)
class _Observed:
    """One logical call as its observer hears of it."""

    scope: RetryScope
    operation: str
    started: float

    def attempted(self, outcome: str, attempt_started: float) -> None:
        if self.scope.observer is not None:
            seconds = asyncio.get_running_loop().time() - attempt_started
            self.scope.observer.attempted(self.scope.service, self.operation, outcome, seconds)

    def completed(self, outcome: str, attempts: int) -> None:
        if self.scope.observer is not None:
            seconds = asyncio.get_running_loop().time() - self.started
            self.scope.observer.completed(self.scope.service, self.operation, outcome, seconds, attempts)
