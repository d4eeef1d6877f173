"""The dispatcher on its own: order, isolation, threads, argument injection, timeouts, slow handlers."""

from __future__ import annotations

import asyncio
import logging
import threading
import types
from collections.abc import Iterator
from typing import Any

import pytest

from botkit import hookimpl
from botkit.plugins import new_plugin_manager
from botkit.runtime.dispatch import Dispatcher, DispatchSettings, HandlerTimeout


class FakeSession:
    def __init__(self, contact_id: str = "contact-1") -> None:
        self.contact_id = contact_id


class Message:
    """Stands in for an Item: the dispatcher passes it along without looking inside."""

    def __init__(self, content: str) -> None:
        self.id = f"id-{content}"
        self.content = content

    def __repr__(self) -> str:
        return f"Message({self.content!r})"


class ErrorSink:
    """An on_error implementation that records what it is given."""

    def __init__(self) -> None:
        self.errors: list[tuple[Any, BaseException, Any]] = []
        self.changed = asyncio.Event()

    @hookimpl
    async def on_error(self, session: Any, error: BaseException, event: Any) -> None:
        self.errors.append((session, error, event))
        self.changed.set()


@pytest.fixture
def dispatchers() -> Iterator[list[Dispatcher]]:
    """Dispatchers made by a test, closed at its end (their thread pools go away)."""
    made: list[Dispatcher] = []
    yield made
    for dispatcher in made:
        dispatcher._threads.shutdown(wait=False, cancel_futures=True)


def make(dispatchers: list[Dispatcher], *plugins: tuple[str, object], **settings: Any) -> Dispatcher:
    manager = new_plugin_manager()
    for name, plugin in plugins:
        manager.register(plugin, name=name)
    dispatcher = Dispatcher(manager, DispatchSettings(**settings))
    dispatchers.append(dispatcher)
    return dispatcher


# Order -----------------------------------------------------------------------------------


async def test_tryfirst_and_trylast_order_across_three_plugins_whatever_the_registration_order(
    dispatchers: list[Dispatcher],
) -> None:
    calls: list[str] = []

    class Last:
        @hookimpl(trylast=True)
        async def on_message(self) -> None:
            calls.append("last")

    class Middle:
        @hookimpl
        def on_message(self) -> None:  # a plain function among async ones: the order still holds
            calls.append("middle")

    class First:
        @hookimpl(tryfirst=True)
        async def on_message(self) -> None:
            calls.append("first")

    dispatcher = make(dispatchers, ("last", Last()), ("first", First()), ("middle", Middle()))
    await dispatcher.call("on_message", FakeSession(), None, message=Message("hi"))
    assert calls == ["first", "middle", "last"]


# Isolation -------------------------------------------------------------------------------


async def test_one_raising_implementation_does_not_stop_the_others_and_reaches_on_error(
    dispatchers: list[Dispatcher], caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[str] = []
    sink = ErrorSink()

    class Before:
        @hookimpl(tryfirst=True)
        async def on_message(self, message: Message) -> None:
            calls.append(f"before {message.content}")

    class Raiser:
        @hookimpl
        async def on_message(self, message: Message) -> None:
            calls.append("raiser")
            raise ValueError(f"cannot handle {message.content}")

    class After:
        @hookimpl(trylast=True)
        def on_message(self, message: Message) -> None:
            calls.append(f"after {message.content}")

    dispatcher = make(dispatchers, ("before", Before()), ("raiser", Raiser()), ("after", After()), ("sink", sink))
    session, message = FakeSession(), Message("order 42")
    with caplog.at_level(logging.DEBUG, logger="botkit"):
        await dispatcher.call("on_message", session, message, message=message)

    assert calls == ["before order 42", "raiser", "after order 42"]
    assert len(sink.errors) == 1
    got_session, error, event = sink.errors[0]
    assert got_session is session and event is message
    assert isinstance(error, ValueError) and str(error) == "cannot handle order 42"
    [record] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert record.name == "botkit.runtime.dispatch"
    assert "on_message of plugin raiser raised" in record.getMessage()
    assert "contact-1" in record.getMessage()
    assert record.exc_info is not None and record.exc_info[1] is error


async def test_a_plain_function_raising_is_isolated_too(dispatchers: list[Dispatcher]) -> None:
    sink = ErrorSink()
    answered: list[str] = []

    class Raiser:
        @hookimpl(tryfirst=True)
        def on_session_start(self) -> None:
            raise KeyError("missing")

    class Other:
        @hookimpl
        def on_session_start(self, session: FakeSession) -> None:
            answered.append(session.contact_id)

    dispatcher = make(dispatchers, ("raiser", Raiser()), ("other", Other()), ("sink", sink))
    await dispatcher.call("on_session_start", FakeSession("c-9"), None)
    assert answered == ["c-9"]
    assert [(type(e), ev) for _, e, ev in sink.errors] == [(KeyError, None)]


@pytest.mark.parametrize("kind", ["async", "plain"])
async def test_a_plugin_calling_sys_exit_fails_alone_instead_of_stopping_the_process(
    kind: str, dispatchers: list[Dispatcher]
) -> None:
    sink = ErrorSink()
    answered: list[str] = []

    if kind == "async":

        class Quitter:
            @hookimpl(tryfirst=True)
            async def on_message(self) -> None:
                raise SystemExit(3)

    else:

        class Quitter:  # type: ignore[no-redef]
            @hookimpl(tryfirst=True)
            def on_message(self) -> None:
                raise SystemExit(3)

    class Other:
        @hookimpl
        async def on_message(self) -> None:
            answered.append("other")

    dispatcher = make(dispatchers, ("quitter", Quitter()), ("other", Other()), ("sink", sink))
    await dispatcher.call("on_message", FakeSession(), None, message=Message("x"))
    assert answered == ["other"]
    assert [type(e) for _, e, _ in sink.errors] == [SystemExit]


async def test_an_on_error_that_raises_is_only_logged(
    dispatchers: list[Dispatcher], caplog: pytest.LogCaptureFixture
) -> None:
    on_error_calls: list[str] = []
    sink = ErrorSink()

    class Raiser:
        @hookimpl
        async def on_message(self) -> None:
            raise RuntimeError("first failure")

    class BrokenErrorHandler:
        @hookimpl(tryfirst=True)
        def on_error(self, error: BaseException) -> None:
            on_error_calls.append(str(error))
            raise RuntimeError("the error handler failed too")

    dispatcher = make(dispatchers, ("raiser", Raiser()), ("broken", BrokenErrorHandler()), ("sink", sink))
    with caplog.at_level(logging.DEBUG, logger="botkit"):
        await dispatcher.call("on_message", FakeSession(), Message("x"), message=Message("x"))

    # on_error ran once per implementation for the original failure, never for its own.
    assert on_error_calls == ["first failure"]
    assert [str(e) for _, e, _ in sink.errors] == ["first failure"]
    messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("on_message of plugin raiser raised" in m for m in messages)
    assert any("on_error of plugin broken raised" in m for m in messages)
    assert len(messages) == 2


# Threads and the loop -----------------------------------------------------------------------


async def test_plain_functions_run_in_a_worker_thread_and_async_ones_on_the_loop(
    dispatchers: list[Dispatcher],
) -> None:
    seen: dict[str, str] = {}
    loop_thread = threading.current_thread().name

    class Plain:
        @hookimpl
        def on_message(self) -> None:
            seen["plain"] = threading.current_thread().name

    class Async:
        @hookimpl
        async def on_message(self) -> None:
            asyncio.get_running_loop()  # raises outside a loop
            seen["async"] = threading.current_thread().name

    dispatcher = make(dispatchers, ("plain", Plain()), ("async", Async()))
    await dispatcher.call("on_message", FakeSession(), None, message=Message("x"))
    assert seen["async"] == loop_thread
    assert seen["plain"].startswith("botkit-handler") and seen["plain"] != loop_thread


async def test_a_plain_function_can_use_the_blocking_api_through_the_loop(dispatchers: list[Dispatcher]) -> None:
    """What `session.blocking.*` relies on: the loop stays free while a plain handler waits on it."""
    loop = asyncio.get_running_loop()
    results: list[str] = []

    async def on_the_loop() -> str:
        return threading.current_thread().name

    class Plain:
        @hookimpl
        def on_message(self) -> None:
            results.append(asyncio.run_coroutine_threadsafe(on_the_loop(), loop).result(5))

    dispatcher = make(dispatchers, ("plain", Plain()))
    await dispatcher.call("on_message", FakeSession(), None, message=Message("x"))
    assert results == [threading.current_thread().name]


async def test_a_blocking_plain_function_does_not_block_the_loop_or_other_sessions(
    dispatchers: list[Dispatcher],
) -> None:
    release = threading.Event()
    entered = asyncio.Event()
    loop = asyncio.get_running_loop()
    answered: list[str] = []

    class Blocker:
        @hookimpl
        def on_message(self, session: FakeSession) -> None:
            if session.contact_id == "stuck":
                loop.call_soon_threadsafe(entered.set)
                assert release.wait(10), "the test never released the handler"
            answered.append(session.contact_id)

    dispatcher = make(dispatchers, ("blocker", Blocker()))
    stuck = asyncio.create_task(dispatcher.call("on_message", FakeSession("stuck"), None, message=Message("a")))
    try:
        await asyncio.wait_for(entered.wait(), 5)
        # While one session's handler blocks its thread, another session is served at once.
        await asyncio.wait_for(dispatcher.call("on_message", FakeSession("free"), None, message=Message("b")), 5)
        assert answered == ["free"]
        assert not stuck.done()
    finally:
        release.set()
    await asyncio.wait_for(stuck, 5)
    assert answered == ["free", "stuck"]


# Arguments ------------------------------------------------------------------------------------


async def test_arguments_are_injected_by_name_for_any_subset(dispatchers: list[Dispatcher]) -> None:
    got: dict[str, tuple[Any, ...]] = {}

    class Nothing:
        @hookimpl
        def on_message(self) -> None:
            got["nothing"] = ()

    class OnlyMessage:
        @hookimpl
        async def on_message(self, message: Message) -> None:
            got["message"] = (message,)

    class Reversed:
        @hookimpl
        def on_message(self, message: Message, session: FakeSession) -> None:
            got["reversed"] = (message, session)

    class Ending:
        @hookimpl
        async def on_session_end(self, reason: str) -> None:
            got["reason"] = (reason,)

    @hookimpl
    def on_error(event: Any, error: BaseException) -> None:  # a module's plain function, not a method
        got["on_error"] = (event, error)

    module_plugin = types.ModuleType("module_plugin")
    module_plugin.on_error = on_error  # type: ignore[attr-defined]

    class Raiser:
        @hookimpl(trylast=True)
        def on_message(self) -> None:
            raise LookupError("nope")

    dispatcher = make(
        dispatchers,
        ("nothing", Nothing()),
        ("only-message", OnlyMessage()),
        ("reversed", Reversed()),
        ("ending", Ending()),
        ("raiser", Raiser()),
        ("errors", module_plugin),
    )
    session, message = FakeSession(), Message("hello")
    await dispatcher.call("on_message", session, message, message=message)
    await dispatcher.call("on_session_end", session, None, reason="chat_ended")

    assert got["nothing"] == ()
    assert got["message"] == (message,)
    assert got["reversed"] == (message, session)
    assert got["reason"] == ("chat_ended",)
    event, error = got["on_error"]
    assert event is message and isinstance(error, LookupError)


# Timeouts and slowness -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["async", "plain"])
async def test_a_handler_past_its_timeout_goes_to_on_error_and_the_next_event_is_dispatched(
    kind: str, dispatchers: list[Dispatcher], caplog: pytest.LogCaptureFixture
) -> None:
    sink = ErrorSink()
    release = threading.Event()
    handled: list[str] = []
    forever = asyncio.Event()

    if kind == "async":

        class Stuck:
            @hookimpl(tryfirst=True)
            async def on_message(self, message: Message) -> None:
                if message.content == "hang":
                    await forever.wait()

    else:

        class Stuck:  # type: ignore[no-redef]
            @hookimpl(tryfirst=True)
            def on_message(self, message: Message) -> None:
                if message.content == "hang":
                    release.wait(10)

    class Other:
        @hookimpl
        async def on_message(self, message: Message) -> None:
            handled.append(message.content)

    dispatcher = make(
        dispatchers, ("stuck", Stuck()), ("other", Other()), ("sink", sink), handler_timeout=0.2, slow_handler_seconds=5
    )
    hang, after = Message("hang"), Message("after")
    try:
        with caplog.at_level(logging.DEBUG, logger="botkit"):
            await asyncio.wait_for(dispatcher.call("on_message", FakeSession(), hang, message=hang), 5)
            await asyncio.wait_for(dispatcher.call("on_message", FakeSession(), after, message=after), 5)
    finally:
        release.set()

    assert handled == ["hang", "after"]
    [(_, error, event)] = sink.errors
    assert isinstance(error, HandlerTimeout) and event is hang
    assert "on_message of plugin stuck exceeded 0.2 s" in str(error)
    assert any(
        r.levelno == logging.ERROR and "exceeded 0.2 s" in r.getMessage() and "contact-1" in r.getMessage()
        for r in caplog.records
    )


async def test_a_handler_raising_timeout_error_itself_is_not_a_handler_timeout(dispatchers: list[Dispatcher]) -> None:
    sink = ErrorSink()

    class Raiser:
        @hookimpl
        async def on_message(self) -> None:
            raise TimeoutError("its own timeout")

    dispatcher = make(dispatchers, ("raiser", Raiser()), ("sink", sink), handler_timeout=5)
    await dispatcher.call("on_message", FakeSession(), None, message=Message("x"))
    [(_, error, _)] = sink.errors
    assert type(error) is TimeoutError and str(error) == "its own timeout"


async def test_a_slow_handler_is_reported_with_a_warning_while_it_runs(
    dispatchers: list[Dispatcher], caplog: pytest.LogCaptureFixture
) -> None:
    warned = asyncio.Event()
    sink = ErrorSink()

    class SetOnWarning(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno == logging.WARNING and "still running" in record.getMessage():
                warned.set()

    class Slow:
        @hookimpl
        async def on_message(self) -> None:
            await warned.wait()  # finishes only once the warning is out: no sleeping, no race

    dispatcher = make(dispatchers, ("slow", Slow()), ("sink", sink), handler_timeout=5, slow_handler_seconds=0.05)
    watcher = SetOnWarning()
    logging.getLogger("botkit.runtime.dispatch").addHandler(watcher)
    try:
        with caplog.at_level(logging.DEBUG, logger="botkit"):
            await asyncio.wait_for(dispatcher.call("on_message", FakeSession("c-slow"), None, message=Message("x")), 5)
    finally:
        logging.getLogger("botkit.runtime.dispatch").removeHandler(watcher)

    [record] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert record.name == "botkit.runtime.dispatch"
    assert "c-slow" in record.getMessage() and "on_message of plugin slow still running" in record.getMessage()
    assert sink.errors == []  # slow is not an error


async def test_a_handler_past_the_slow_mark_is_warned_about_then_timed_out_at_the_full_timeout(
    dispatchers: list[Dispatcher], caplog: pytest.LogCaptureFixture
) -> None:
    """One timer serves both: the warning at the slow mark, the timeout counted from the call's start."""
    sink = ErrorSink()

    class Hangs:
        @hookimpl
        async def on_message(self) -> None:
            await asyncio.Event().wait()

    dispatcher = make(dispatchers, ("hangs", Hangs()), ("sink", sink), handler_timeout=0.3, slow_handler_seconds=0.05)
    loop = asyncio.get_running_loop()
    began = loop.time()
    with caplog.at_level(logging.WARNING, logger="botkit"):
        await asyncio.wait_for(dispatcher.call("on_message", FakeSession("c-hang"), None, message=Message("x")), 5)
    took = loop.time() - began

    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "on_message of plugin hangs still running" in warnings[0]
    [(_, error, _)] = sink.errors
    assert isinstance(error, HandlerTimeout) and "exceeded 0.3 s" in str(error)
    assert took >= 0.3



async def test_one_contact_s_stuck_threads_never_take_the_whole_pool(dispatchers: list[Dispatcher]) -> None:
    """Threads outliving their timeout stay counted against their contact; past the cap its handlers fail fast."""
    sink = ErrorSink()
    release = threading.Event()
    ran: list[tuple[str, str]] = []

    class Blocking:
        @hookimpl
        def on_message(self, session: Any, message: Message) -> None:
            ran.append((session.contact_id, message.content))
            if session.contact_id == "stuck":
                release.wait(10)

    dispatcher = make(
        dispatchers, ("blocking", Blocking()), ("sink", sink),
        handler_threads=3, handler_timeout=0.1, stuck_threads_per_session=2,
    )
    stuck, healthy = FakeSession("stuck"), FakeSession("healthy")
    try:
        for number in range(4):
            message = Message(f"m{number}")
            await asyncio.wait_for(dispatcher.call("on_message", stuck, message, message=message), 5)
        for number in range(3):
            message = Message(f"h{number}")
            await asyncio.wait_for(dispatcher.call("on_message", healthy, message, message=message), 5)
    finally:
        release.set()

    assert [content for contact, content in ran if contact == "stuck"] == ["m0", "m1"]
    assert [content for contact, content in ran if contact == "healthy"] == ["h0", "h1", "h2"]
    kinds = [type(error).__name__ for session, error, _ in sink.errors if session is stuck]
    assert kinds == ["HandlerTimeout", "HandlerTimeout", "HandlerStuck", "HandlerStuck"]
    assert not [error for session, error, _ in sink.errors if session is healthy]


async def test_a_contact_gets_its_threads_back_once_its_handlers_return(dispatchers: list[Dispatcher]) -> None:
    release = threading.Event()
    ran: list[str] = []

    class Blocking:
        @hookimpl
        def on_message(self, message: Message) -> None:
            ran.append(message.content)
            if message.content == "slow":
                release.wait(10)

    dispatcher = make(
        dispatchers, ("blocking", Blocking()), handler_threads=1, handler_timeout=0.1, stuck_threads_per_session=1
    )
    session = FakeSession()
    slow, skipped, later = Message("slow"), Message("skipped"), Message("later")
    await dispatcher.call("on_message", session, slow, message=slow)
    await dispatcher.call("on_message", session, skipped, message=skipped)
    release.set()
    # One worker thread: this no-op runs only after "slow" returned, whose release was queued first.
    await asyncio.wrap_future(dispatcher._threads.submit(lambda: None))
    await asyncio.wait_for(dispatcher.call("on_message", session, later, message=later), 5)
    assert ran == ["slow", "later"]
