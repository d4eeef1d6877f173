"""The receipts and typing policies: what the bot sends on its own, and how often."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from botkit.connect import vocabulary as v
from botkit.connect.errors import ConflictException, ParticipantConnectionError, ParticipantServiceError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ReceiptSettings:
    enabled: bool = True
    delivered: bool = True
    read: bool = True
    throttle_seconds: float = 5.0


class Receipts:
    """Delivered and read receipts for other participants' messages.

    Only while at most two participants are active: with a supervisor barged in
    the service would answer ConflictException. Each kind is throttled: the
    first receipt goes at once, and within the window only the newest message
    gets one when the window closes (a receipt covers every earlier message).
    """

    def __init__(
        self,
        settings: ReceiptSettings,
        send_event: Callable[[str, str], Awaitable[object]],
        allowed: Callable[[], bool],
    ) -> None:
        self._settings = settings
        self._allowed = allowed
        self._lanes = [
            _Lane(kind, settings.throttle_seconds, send_event, allowed)
            for kind, on in ((v.EVENT_MESSAGE_DELIVERED, settings.delivered), (v.EVENT_MESSAGE_READ, settings.read))
            if on and settings.enabled
        ]

    def delivered(self, message_id: str) -> None:
        self._offer(v.EVENT_MESSAGE_DELIVERED, message_id)

    def read(self, message_id: str) -> None:
        self._offer(v.EVENT_MESSAGE_READ, message_id)

    def _offer(self, kind: str, message_id: str) -> None:
        for lane in self._lanes:
            if lane.kind == kind:
                lane.offer(message_id)

    def cancel(self) -> None:
        for lane in self._lanes:
            lane.cancel()


class _Lane:
    """One kind of receipt with its own throttle window."""

    def __init__(
        self,
        kind: str,
        interval: float,
        send_event: Callable[[str, str], Awaitable[object]],
        allowed: Callable[[], bool],
    ) -> None:
        self.kind = kind
        self._interval = interval
        self._send_event = send_event
        self._allowed = allowed
        self._next_at = 0.0
        self._pending: str | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def offer(self, message_id: str) -> None:
        now = time.monotonic()
        if now >= self._next_at and self._timer is None:
            self._next_at = now + self._interval
            self._spawn(message_id)
            return
        self._pending = message_id
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_at(
                asyncio.get_running_loop().time() + max(self._next_at - now, 0.0), self._flush
            )

    def _flush(self) -> None:
        self._timer = None
        if self._pending is not None:
            message_id, self._pending = self._pending, None
            self._next_at = time.monotonic() + self._interval
            self._spawn(message_id)

    def _spawn(self, message_id: str) -> None:
        task = asyncio.get_running_loop().create_task(self._send(message_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, message_id: str) -> None:
        if not self._allowed():
            return
        try:
            await self._send_event(self.kind, json.dumps({"messageId": message_id}))
        except ConflictException:
            log.debug("receipt refused: more than two participants became active")
        except (ParticipantServiceError, ParticipantConnectionError) as error:
            log.info("receipt not sent: %s", type(error).__name__)

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for task in list(self._tasks):
            task.cancel()


class TypingThrottle:
    """Like chatjs: at most one typing event per window, sent on the leading edge."""

    def __init__(self, interval: float) -> None:
        self._interval = interval
        self._next_at = 0.0

    def allow(self) -> bool:
        now = time.monotonic()
        if now < self._next_at:
            return False
        self._next_at = now + self._interval
        return True
