"""Calling hook implementations: each on its own, in pluggy's order, with its failures contained.

pluggy calls implementations synchronously and stops at the first exception,
so the dispatcher walks `hook.get_hookimpls()` itself: coroutine functions are
awaited, plain functions run in a thread pool, every call is timed, and an
exception or a timeout goes to the log and to `on_error` without touching the
other implementations.

Live reload swaps in a new plugin manager with `use`. An event is handled by one
manager from start to end: the session pins it for the event (`pinned`), and a
call outside a pin pins for itself, so its `on_error` goes to the same code.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import inspect
import logging
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pluggy
from prometheus_client import Counter, Histogram

from botkit.runtime import metrics

log = logging.getLogger(__name__)

current_plugin: contextvars.ContextVar[str | None] = contextvars.ContextVar("botkit_current_plugin", default=None)
"""The plugin whose hook implementation runs now (in its task, and in a thread it runs in): `session.state`
notes it as the setter of each key, so a value that cannot be saved names its plugin."""

_pinned: contextvars.ContextVar[tuple[Dispatcher, pluggy.PluginManager] | None] = contextvars.ContextVar(
    "botkit_pinned_plugin_manager", default=None
)


@dataclass(frozen=True, slots=True)
class DispatchSettings:
    handler_threads: int = 16
    handler_timeout: float = 60.0
    slow_handler_seconds: float = 5.0
    stuck_threads_per_session: int = 2


@dataclass(frozen=True, slots=True)
class _HookMeters:
    """One hook's metric children (see `Dispatcher._bind_meters`)."""

    dispatched: Counter
    seconds: Histogram


class Dispatcher:
    def __init__(self, manager: pluggy.PluginManager, settings: DispatchSettings | None = None) -> None:
        self.manager = manager
        self.settings = settings or DispatchSettings()
        self._threads = ThreadPoolExecutor(self.settings.handler_threads, thread_name_prefix="botkit-handler")
        self._is_async: dict[Any, bool] = {}
        self._busy_threads: dict[Any, int] = {}
        self._meters: dict[str, _HookMeters] = {}
        self._first_alarm = min(self.settings.slow_handler_seconds, self.settings.handler_timeout)

    def use(self, manager: pluggy.PluginManager) -> None:
        """Send every event from now on to `manager`'s plugins; events being handled finish on the old ones.

        One assignment, so no event sees half of each. The is-async cache is keyed by the function
        objects themselves, so it cannot confuse old and new code; it is dropped only to let the old go.
        """
        self.manager = manager
        self._is_async = {}

    @contextlib.contextmanager
    def pinned(self) -> Iterator[pluggy.PluginManager]:
        """Every call inside (on this task, or a thread it starts) goes to the manager current on entry."""
        if (pin := _pinned.get()) is not None and pin[0] is self:
            yield pin[1]
            return
        manager = self.manager
        token = _pinned.set((self, manager))
        try:
            yield manager
        finally:
            _pinned.reset(token)

    async def call(self, hook_name: str, session: Any, subject: Any = None, **kwargs: Any) -> None:
        """Call every implementation of `hook_name`, one after the other, in pluggy's order.

        `subject` is the event being handled, for `on_error`; `kwargs` are the hook's arguments.
        """
        with self.pinned() as manager:
            await self._call_all(manager, hook_name, session, subject, kwargs)

    async def _call_all(
        self, manager: pluggy.PluginManager, hook_name: str, session: Any, subject: Any, kwargs: Mapping[str, Any]
    ) -> None:
        arguments = {"session": session, **kwargs}
        meters = self._meters.get(hook_name) or self._bind_meters(hook_name)
        meters.dispatched.inc()
        for impl in reversed(getattr(manager.hook, hook_name).get_hookimpls()):
            try:
                await self._call_one(hook_name, impl, arguments, session, meters)
            except (Exception, SystemExit) as error:  # a plugin's sys.exit() must not stop every contact
                await self._report(hook_name, impl, session, error, subject)

    def _bind_meters(self, hook_name: str) -> _HookMeters:
        """A hook's metric children, looked up once: `labels()` costs more than the count itself."""
        meters = self._meters[hook_name] = _HookMeters(
            metrics.DISPATCHED.labels(hook_name), metrics.HANDLER_SECONDS.labels(hook_name)
        )
        return meters

    async def _call_one(
        self, hook_name: str, impl: Any, arguments: Mapping[str, Any], session: Any, meters: _HookMeters
    ) -> None:
        chosen = {name: arguments[name] for name in impl.argnames}
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = asyncio.timeout(None)
        alarm = loop.call_at(started + self._first_alarm, self._alarm, deadline, hook_name, impl, session, started)
        running = current_plugin.set(impl.plugin_name)
        try:
            async with deadline:
                if self._coroutine_function(impl.function):
                    await impl.function(**chosen)
                else:
                    await self._in_thread(hook_name, impl, chosen, session)
        except TimeoutError:
            if deadline.expired():
                raise HandlerTimeout(
                    f"{hook_name} of plugin {impl.plugin_name} exceeded {self.settings.handler_timeout} s"
                ) from None
            raise
        finally:
            current_plugin.reset(running)
            alarm.cancel()
            meters.seconds.observe(loop.time() - started)

    def _alarm(self, deadline: asyncio.Timeout, hook_name: str, impl: Any, session: Any, started: float) -> None:
        """One timer per call, not two: it fires at the slow mark (or at the timeout, if that comes first),
        warns, and only then arms the deadline."""
        if self.settings.slow_handler_seconds < self.settings.handler_timeout:
            log.warning(
                "contact %s: %s of plugin %s still running after %.1f s",
                getattr(session, "contact_id", "?"),
                hook_name,
                impl.plugin_name,
                asyncio.get_running_loop().time() - started,
            )
        deadline.reschedule(started + self.settings.handler_timeout)

    async def _in_thread(self, hook_name: str, impl: Any, chosen: Mapping[str, Any], session: Any) -> None:
        """Run a plain function in the pool, but never let one contact's stuck handlers take the whole pool.

        A thread that outlives its timeout keeps running (Python cannot stop it) and stays counted
        against its session until it returns; past `stuck_threads_per_session`, that session's
        plain handlers fail at once with HandlerStuck instead of taking another thread.
        """
        key = getattr(session, "contact_id", None) or id(session)
        if self._busy_threads.get(key, 0) >= self.settings.stuck_threads_per_session:
            raise HandlerStuck(
                f"{hook_name} of plugin {impl.plugin_name} not started: this contact already has "
                f"{self.settings.stuck_threads_per_session} handler threads that have not returned"
            )
        loop = asyncio.get_running_loop()
        self._busy_threads[key] = self._busy_threads.get(key, 0) + 1
        work = self._threads.submit(contextvars.copy_context().run, functools.partial(impl.function, **chosen))
        work.add_done_callback(lambda _: _call_soon(loop, self._thread_returned, key))
        await asyncio.wrap_future(work)

    def _thread_returned(self, key: Any) -> None:
        left = self._busy_threads.pop(key, 1) - 1
        if left:
            self._busy_threads[key] = left

    def _coroutine_function(self, function: Any) -> bool:
        known = self._is_async.get(function)
        if known is None:
            known = self._is_async[function] = inspect.iscoroutinefunction(function)
        return known

    async def _report(
        self, hook_name: str, impl: Any, session: Any, error: Exception | SystemExit, subject: Any
    ) -> None:
        kind = {HandlerTimeout: "timeout", HandlerStuck: "stuck"}.get(type(error), "raised")
        metrics.HANDLER_FAILURES.labels(hook_name, impl.plugin_name, kind).inc()
        if kind != "raised":
            log.error("contact %s: %s", getattr(session, "contact_id", "?"), error)
        else:
            log.exception(
                "contact %s: %s of plugin %s raised", getattr(session, "contact_id", "?"), hook_name, impl.plugin_name
            )
        if hook_name == "on_error":
            return
        await self.call("on_error", session, None, error=error, event=subject)

    async def close(self) -> None:
        self._threads.shutdown(wait=False, cancel_futures=True)


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Any, *args: Any) -> None:
    """From a worker thread; a thread that returns after the loop closed has nobody left to tell."""
    try:
        loop.call_soon_threadsafe(callback, *args)
    except RuntimeError:
        pass


class HandlerStuck(Exception):
    """A contact's earlier plain handlers still hold their threads; this one was not started."""


class HandlerTimeout(Exception):
    """A hook implementation ran past `handler_timeout`; the session moved on without it."""
