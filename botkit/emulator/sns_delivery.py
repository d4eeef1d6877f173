"""Delivering SNS messages to HTTP subscribers: SNS's default retry policy, per-contact lanes, and streaming faults.

SNS's default HTTP/S delivery policy: a 5xx answer, a time-out or a connection
error is retried 3 times, 20 s apart (no backoff), then the message is
dropped; any other failing answer (4xx) is final. The emulator keeps that
policy, with the delay multiplied by a factor that tests set small.

Each subscriber has one lane per contact: first attempts go out one after the
other in the order the service produced the items, and a retry waits on its
own, so a failing delivery never holds back the other contacts (nor the
contact's later items: a retried message may arrive after them, as on SNS).
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections import deque
from collections.abc import Coroutine
from dataclasses import asdict, dataclass
from typing import Any

import aiohttp
from yarl import URL

from botkit.emulator.faults import DeliveryFaults
from botkit.emulator.sns_messages import NOTIFICATION, Envelope

log = logging.getLogger(__name__)

SNS_RETRIES = 3
SNS_RETRY_DELAY = 20.0
"""SNS's default healthyRetryPolicy for HTTP/S: numRetries 3, minDelayTarget = maxDelayTarget = 20 s."""


def shown(url: str) -> str:
    """A URL fit for a log line or an answer: a password in it is masked, as SNS's ListSubscriptions masks it."""
    parsed = URL(url)
    return str(parsed.with_password("****")) if parsed.password else url


class Tasks:
    """Background tasks that must not be garbage-collected while running, and are all cancelled on close."""

    def __init__(self) -> None:
        self._running: set[asyncio.Task[None]] = set()

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def cancel(self) -> None:
        tasks = list(self._running)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


@dataclass(slots=True)
class StreamingStats:
    """Counts since the emulator started, for a test report: what was sent, what it cost, what faults did."""

    notifications: int = 0
    """Notifications queued for a confirmed subscriber (one per item per subscriber)."""
    delivered: int = 0
    """Requests of any type answered 2xx (duplicates count twice)."""
    failed_attempts: int = 0
    """Attempts that met a 5xx answer, a time-out or a connection error (each one is retried, or ends in a drop)."""
    retries: int = 0
    refused: int = 0
    """Final failures: a 4xx (or 3xx) answer, not retried."""
    dropped: int = 0
    """Messages given up after the last retry."""
    duplicated: int = 0
    reordered: int = 0
    delayed: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class Outcome(enum.Enum):
    DELIVERED = "delivered"
    REFUSED = "refused"
    RETRY = "retry"


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    retries: int = SNS_RETRIES
    retry_delay: float = SNS_RETRY_DELAY
    timeout: float = 15.0


class Courier:
    """Posts envelopes; one HTTP client for every subscriber, with no cap on connections: SNS keeps none, and a
    pool's cap (aiohttp's is 100) would queue every contact behind the slowest answers."""

    def __init__(self, policy: DeliveryPolicy, stats: StreamingStats) -> None:
        self.policy = policy
        self.stats = stats
        self._http: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._http is None:
            # Time-outs per socket operation, not in total, so a wait for a pooled connection never counts as one.
            timeout = aiohttp.ClientTimeout(total=None, sock_connect=self.policy.timeout, sock_read=self.policy.timeout)
            self._http = aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=0))
        return self._http

    async def attempt(self, url: str, envelope: Envelope, attempt: int) -> Outcome:
        try:
            async with self._client().post(
                url, data=envelope.body, headers=envelope.headers, allow_redirects=False
            ) as response:
                await response.read()
                status = response.status
        except (aiohttp.ClientError, asyncio.TimeoutError) as error:
            self.stats.failed_attempts += 1
            log.info(
                "SNS: %s %s to %s failed (attempt %d): %s",
                envelope.kind, envelope.message_id, shown(url), attempt, str(error) or type(error).__name__,
            )
            return Outcome.RETRY
        if 200 <= status < 300:
            self.stats.delivered += 1
            level = logging.DEBUG if envelope.kind == NOTIFICATION else logging.INFO
            log.log(
                level, "SNS: signed %s %s%s delivered to %s: HTTP %d",
                envelope.kind, envelope.message_id,
                f" (contact {envelope.contact_id})" if envelope.contact_id else "", shown(url), status,
            )
            return Outcome.DELIVERED
        if status >= 500:
            self.stats.failed_attempts += 1
            log.info("SNS: %s %s to %s answered HTTP %d (attempt %d)", envelope.kind, envelope.message_id,
                     shown(url), status, attempt)
            return Outcome.RETRY
        self.stats.refused += 1
        log.warning("SNS: %s %s refused by %s with HTTP %d; not retried, as on SNS", envelope.kind,
                    envelope.message_id, shown(url), status)
        return Outcome.REFUSED

    async def deliver(self, url: str, envelope: Envelope, retries: Tasks) -> None:
        """The first attempt now; the retries, if it needs them, on their own in `retries`."""
        if await self.attempt(url, envelope, 1) is Outcome.RETRY:
            retries.spawn(self._retry(url, envelope))

    async def _retry(self, url: str, envelope: Envelope) -> None:
        for retry in range(1, self.policy.retries + 1):
            await asyncio.sleep(self.policy.retry_delay)
            self.stats.retries += 1
            if await self.attempt(url, envelope, retry + 1) is not Outcome.RETRY:
                return
        self.stats.dropped += 1
        log.warning("SNS: %s %s to %s dropped after %d retries", envelope.kind, envelope.message_id, shown(url),
                    self.policy.retries)

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None


class _Lane:
    __slots__ = ("queue", "arrived")

    def __init__(self) -> None:
        self.queue: deque[tuple[Envelope, DeliveryFaults]] = deque()
        self.arrived = asyncio.Event()


class Subscriber:
    """One subscribed URL's deliveries. A contact's lane (and its task) lives only while it has something to send."""

    def __init__(self, url: str, courier: Courier) -> None:
        self.url = url
        self._courier = courier
        self._lanes: dict[str, _Lane] = {}
        self._tasks = Tasks()

    def notify(self, envelope: Envelope, faults: DeliveryFaults) -> None:
        contact_id = envelope.contact_id or ""
        lane = self._lanes.get(contact_id)
        if lane is None:
            lane = self._lanes[contact_id] = _Lane()
            self._tasks.spawn(self._drain(contact_id, lane))
        lane.queue.append((envelope, faults))
        lane.arrived.set()
        self._courier.stats.notifications += 1

    def dispatch(self, envelope: Envelope) -> None:
        """A confirmation: outside the lanes, since it carries no contact's item."""
        self._tasks.spawn(self._courier.deliver(self.url, envelope, self._tasks))

    async def _drain(self, contact_id: str, lane: _Lane) -> None:
        try:
            while lane.queue:
                envelope, faults = lane.queue.popleft()
                if faults.reorder and await self._next_arrives(lane, faults.hold):
                    later, later_faults = lane.queue.popleft()
                    await self._first_attempt(later, later_faults)
                    if not later_faults.delay:  # a delayed one goes out after this one after all
                        self._courier.stats.reordered += 1
                await self._first_attempt(envelope, faults)
        finally:
            del self._lanes[contact_id]

    async def _next_arrives(self, lane: _Lane, hold: float) -> bool:
        """Whether the contact's next notification comes while this one is held back."""
        if not lane.queue:
            lane.arrived.clear()
            try:
                await asyncio.wait_for(lane.arrived.wait(), hold)
            except TimeoutError:
                return False
        return bool(lane.queue)

    async def _first_attempt(self, envelope: Envelope, faults: DeliveryFaults) -> None:
        if faults.delay:
            self._courier.stats.delayed += 1
            self._tasks.spawn(self._late(envelope, faults))
            return
        await self._courier.deliver(self.url, envelope, self._tasks)
        if faults.duplicate:
            self._courier.stats.duplicated += 1
            await self._courier.deliver(self.url, envelope, self._tasks)

    async def _late(self, envelope: Envelope, faults: DeliveryFaults) -> None:
        await asyncio.sleep(faults.delay)
        await self._first_attempt(envelope, DeliveryFaults(duplicate=faults.duplicate))

    async def close(self) -> None:
        """Stops every delivery to this URL, pending or retrying: it is no longer subscribed."""
        await self._tasks.cancel()
