"""The loop watchdog: one blocking call in an async hook stops every chat, so a thread outside the loop names it.

The loop stamps a heartbeat every few tenths of a second. The watchdog's thread reads it; when the
loop has not run for `max_lag` seconds, it logs one warning per stall with the stack of the loop's
thread, whose innermost frame is the plugin line that blocks (a `time.sleep`, a synchronous HTTP call).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
import time
import traceback

from botkit.runtime import metrics

log = logging.getLogger(__name__)

_ASYNCIO_CALLBACK_RUNNER = os.path.join("asyncio", "events.py")
"""Where asyncio's Handle._run calls a callback or a task step: the loop's own frames end there."""


class LoopWatchdog:
    """Start it on the loop it watches; `stop` it before the loop closes."""

    def __init__(self, max_lag: float) -> None:
        self.max_lag = max_lag
        self.stalls = 0
        self.last_stall_seconds = 0.0
        self._tick = min(0.1, max_lag / 3)
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._beat = time.monotonic()
        self._next_beat: asyncio.TimerHandle | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="botkit-watchdog", daemon=True)

    @property
    def lag(self) -> float:
        """Seconds the loop is behind its heartbeat now."""
        return max(0.0, time.monotonic() - self._beat - self._tick)

    def start(self) -> None:
        self._stamp()
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._next_beat is not None:
            self._next_beat.cancel()
        self._thread.join()
        metrics.LOOP_LAG.set(0)

    def _stamp(self) -> None:
        self._beat = time.monotonic()
        self._next_beat = self._loop.call_later(self._tick, self._stamp)

    def _watch(self) -> None:
        stalled = False
        while not self._stopping.wait(self._tick):
            lag = self.lag
            metrics.LOOP_LAG.set(lag)
            if lag < self.max_lag:
                stalled = False
                continue
            self.last_stall_seconds = max(lag, self.last_stall_seconds if stalled else 0.0)
            if not stalled:
                stalled = True
                self.stalls += 1
                metrics.LOOP_STALLS.inc()
                self._warn(lag)

    def _warn(self, lag: float) -> None:
        frame = sys._current_frames().get(self._loop_thread)
        if frame is None:
            return
        stack = _below_the_loop(traceback.extract_stack(frame))
        blocking = stack[-1]
        log.warning(
            "the event loop has not run for %.1f s (limit %.1f s), so every chat waits; it is blocked at %s:%s in %s\n%s",
            lag,
            self.max_lag,
            blocking.filename,
            blocking.lineno,
            blocking.name,
            "".join(traceback.format_list(stack)).rstrip(),
        )


def _below_the_loop(stack: traceback.StackSummary) -> traceback.StackSummary:
    """The frames the loop called into (from the callback or task it runs), without the frames that started the loop."""
    runs = [index for index, frame in enumerate(stack) if frame.filename.endswith(_ASYNCIO_CALLBACK_RUNNER)]
    return traceback.StackSummary.from_list(stack[runs[-1] + 1 :]) if runs and runs[-1] + 1 < len(stack) else stack
