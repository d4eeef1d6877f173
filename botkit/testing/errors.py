"""What fails a test: an expectation not met, or a plugin that raised inside the bot.

The bot runs in the test's own event loop, but a handler's exception is caught by the dispatcher (one
contact's trouble stays there), so it would never reach the test. The recorder below is a plugin that
implements `on_error`: it keeps each failure, and the chat objects raise it from the test's next call.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from botkit.hookspecs import hookimpl
from botkit.testing.transcript import describe


class ExpectationFailed(AssertionError):
    """A chat expectation was not met: the message says what was expected and shows the transcript."""


class BotError(Exception):
    """A plugin raised (or timed out) inside the bot; the plugin's exception is chained as the cause."""


@dataclass(frozen=True, slots=True)
class BotFailure:
    """One exception a hook implementation raised, and what the bot was handling then."""

    contact_id: str
    error: BaseException
    event: Any

    def summary(self) -> str:
        handling = f"while handling {describe(self.event)}" if self.event is not None else "outside any event"
        return f"contact {self.contact_id}: {type(self.error).__name__}: {self.error} ({handling})"


class Pulse:
    """Wakes every waiter when something changed (an item arrived, the bot failed), from plain callbacks.

    A waiter checks its condition and then awaits `wait()` with no await between, so no change is missed.
    """

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def fire(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self) -> None:
        await self._event.wait()


class ErrorRecorder:
    """The internal plugin that hears every handler failure of the bot under test."""

    def __init__(self, pulse: Pulse) -> None:
        self.failures: list[BotFailure] = []
        self._reported = 0
        self._pulse = pulse

    @hookimpl
    async def on_error(self, session: Any, error: BaseException, event: Any) -> None:
        self.failures.append(BotFailure(getattr(session, "contact_id", "?"), error, event))
        self._pulse.fire()

    def raise_unreported(self, when: str = "") -> None:
        """Raise the first failure not raised yet as a BotError chained to it; later ones are named in its message."""
        __tracebackhide__ = True
        fresh = self.failures[self._reported :]
        if not fresh:
            return
        self._reported = len(self.failures)
        first = fresh[0]
        message = f"a plugin raised inside the bot{when}: {first.summary()}"
        if len(fresh) > 1:
            others = "\n".join(f"  {failure.summary()}" for failure in fresh[1:])
            message += f"\nand {len(fresh) - 1} more:\n{others}"
        message += "\n(pass allow_errors=True to botkit_bot to let a test go on after a plugin's error)"
        raise BotError(message) from first.error
