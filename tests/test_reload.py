"""Live reload: a plugin edited while a chat is live answers the next message, in the same session, state kept."""

from __future__ import annotations

import asyncio
import re
import signal
import textwrap
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from botkit import hookimpl
from botkit.bot import BotProcess
from botkit.config import load_config
from botkit.plugins import new_plugin_manager
from botkit.reload import Reloader
from botkit.runtime.dispatch import Dispatcher
from tests.runtime.harness import Customer
from tests.test_cli import botkit, read_line, read_until, run

POLL = 0.05
JOINED = "application/vnd.amazonaws.connect.event.participant.joined"


def counter_plugin(version: str) -> str:
    """A plugin that counts the customer's messages in `session.state` and says which code answered."""
    return textwrap.dedent(
        f"""\
        from botkit import hookimpl

        VERSION = {version!r}


        @hookimpl
        async def on_message(session, message):
            session.state["count"] = session.state.get("count", 0) + 1
            greeting = session.plugin_config("counter").get("greeting", "-")
            await session.send_message(f"{{VERSION}} #{{session.state['count']}} {{greeting}}")
        """
    )


def bot_yaml(greeting: str | None = "hi", port: int = 0) -> str:
    settings = f"plugin_config:\n  counter: {{greeting: {greeting}}}\n" if greeting is not None else ""
    return textwrap.dedent(
        f"""\
        connect: {{endpoint: embedded}}
        emulator: {{port: 0}}
        server: {{port: {port}}}
        plugins: [plugins/counter.py]
        logging: {{level: INFO}}
        """
    ) + settings


def make_project(root: Path, greeting: str | None = "hi") -> Path:
    (root / "plugins").mkdir()
    (root / "plugins" / "counter.py").write_text(counter_plugin("old"), encoding="utf-8")
    config = root / "bot.yaml"
    config.write_text(bot_yaml(greeting), encoding="utf-8")
    return config


async def eventually(condition: Callable[[], bool], what: str, timeout: float = 10) -> None:
    """Wait until `condition` holds, checking it every poll, or fail saying what never happened."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"within {timeout} s: {what}")
        await asyncio.sleep(POLL)


@asynccontextmanager
async def reloading_bot(config: Path) -> AsyncIterator[tuple[BotProcess, Customer]]:
    """`botkit serve --reload` in process, with a customer already in a chat with it."""
    async with BotProcess(load_config(config)) as bot, Reloader(bot, config, poll_seconds=POLL):
        assert bot.emulator is not None
        customer = Customer(bot.emulator.base_url)
        await customer.start()
        try:
            yield bot, customer
        finally:
            await customer.close()


async def answered(customer: Customer, text: str) -> None:
    await customer.wait_for(lambda _: text in customer.bot_messages(), timeout=10)


def logged(caplog: pytest.LogCaptureFixture, pattern: str) -> Callable[[], bool]:
    return lambda: any(re.search(pattern, record.getMessage()) for record in caplog.records)


# A live chat across a reload ------------------------------------------------------------------------


async def test_an_edited_plugin_answers_the_next_message_in_the_same_session_with_its_state(tmp_path: Path) -> None:
    config = make_project(tmp_path)
    async with reloading_bot(config) as (bot, customer):
        await customer.send("one")
        await answered(customer, "old #1 hi")
        assert bot.manager is not None
        session = bot.manager.sessions[customer.contact_id]
        running = bot.plugin_manager

        (tmp_path / "plugins" / "counter.py").write_text(counter_plugin("new code"), encoding="utf-8")
        await eventually(lambda: bot.plugin_manager is not running, "the edited plugin was reloaded")
        await customer.send("two")
        await answered(customer, "new code #2 hi")  # the new code, and the count kept in session.state

        assert bot.manager.sessions[customer.contact_id] is session
        transcript = await customer.transcript()
        bot_items = [item for item in transcript if item.get("ParticipantRole") == "CUSTOM_BOT"]
        assert len({item["ParticipantId"] for item in bot_items}) == 1  # one bot participant throughout
        assert [item["ContentType"] for item in bot_items].count(JOINED) == 1  # it never joined again
        assert customer.bot_messages() == ["old #1 hi", "new code #2 hi"]


async def test_a_broken_edit_keeps_the_old_code_answering_and_a_fix_reloads(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = make_project(tmp_path)
    plugin = tmp_path / "plugins" / "counter.py"
    async with reloading_bot(config) as (bot, customer):
        await customer.send("one")
        await answered(customer, "old #1 hi")
        running = bot.plugin_manager

        plugin.write_text(counter_plugin("broken") + "\ndef on_message(:\n", encoding="utf-8")
        broken_line = len(plugin.read_text().splitlines())
        where = re.escape(f"{plugin.resolve()}:{broken_line}: SyntaxError")
        await eventually(logged(caplog, where + r".*the old plugins keep running"), "the syntax error was logged")
        assert bot.plugin_manager is running
        await customer.send("two")
        await answered(customer, "old #2 hi")

        plugin.write_text(counter_plugin("fixed"), encoding="utf-8")
        await eventually(lambda: bot.plugin_manager is not running, "the fixed plugin was reloaded")
        await customer.send("three")
        await answered(customer, "fixed #3 hi")
    assert not any("Traceback" in record.getMessage() for record in caplog.records)


async def test_a_plugin_config_change_is_applied_and_a_port_change_needs_a_restart(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = make_project(tmp_path)
    async with reloading_bot(config) as (bot, customer):
        await customer.send("one")
        await answered(customer, "old #1 hi")
        running = bot.plugin_manager

        config.write_text(bot_yaml(greeting="welcome back", port=18099), encoding="utf-8")
        await eventually(lambda: bot.plugin_manager is not running, "bot.yaml's change was reloaded")
        await customer.send("two")
        await answered(customer, "old #2 welcome back")
        assert logged(caplog, r"^restart needed for: server\.port$")()
        assert bot.config.server.port == 0  # reported, not applied
        assert bot.server_url is not None and not bot.server_url.endswith(":18099")


async def test_plugin_config_added_to_a_bot_yaml_that_had_none_reaches_the_live_session(tmp_path: Path) -> None:
    config = make_project(tmp_path, greeting=None)
    async with reloading_bot(config) as (bot, customer):
        await customer.send("one")
        await answered(customer, "old #1 -")
        running = bot.plugin_manager
        config.write_text(bot_yaml(greeting="hey"), encoding="utf-8")
        await eventually(lambda: bot.plugin_manager is not running, "bot.yaml's change was reloaded")
        await customer.send("two")
        await answered(customer, "old #2 hey")


async def test_a_bot_yaml_error_on_reload_keeps_everything_running(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = make_project(tmp_path)
    async with reloading_bot(config) as (bot, customer):
        running = bot.plugin_manager
        config.write_text(bot_yaml() + "receipts: {enabled: maybe}\n", encoding="utf-8")
        await eventually(logged(caplog, r"receipts\.enabled.*the running plugins and settings stay"), "the error logged")
        assert bot.plugin_manager is running
        await customer.send("one")
        await answered(customer, "old #1 hi")


# The swap between two events ---------------------------------------------------------------------------


class Recorder:
    """A plugin that notes, in `calls`, which of its hooks ran; `gate` holds its on_participant_joined."""

    def __init__(self, name: str, calls: list[str], gate: asyncio.Event | None = None) -> None:
        self.name, self.calls, self.gate = name, calls, gate

    @hookimpl
    async def on_participant_joined(self, session: Any, event: Any) -> None:
        self.calls.append(f"{self.name}.joined")
        if self.gate is not None:
            await self.gate.wait()
        raise RuntimeError("after the swap")

    @hookimpl
    async def on_event(self, session: Any, event: Any) -> None:
        self.calls.append(f"{self.name}.event")

    @hookimpl
    async def on_error(self, session: Any, error: BaseException, event: Any) -> None:
        self.calls.append(f"{self.name}.error")


def manager_of(plugin: Recorder) -> Any:
    manager = new_plugin_manager()
    manager.register(plugin, name="recorder")
    return manager


async def test_an_event_being_handled_finishes_on_the_old_code_and_the_next_goes_to_the_new() -> None:
    calls: list[str] = []
    gate = asyncio.Event()
    dispatcher = Dispatcher(manager_of(Recorder("old", calls, gate)))
    session = object()

    async def one_event() -> None:  # as Session._handle dispatches an event: its hook, then on_event
        with dispatcher.pinned():
            await dispatcher.call("on_participant_joined", session, "joined", event="joined")
            await dispatcher.call("on_event", session, "joined", event="joined")

    try:
        handling = asyncio.create_task(one_event())
        await eventually(lambda: calls == ["old.joined"], "the old handler started")
        dispatcher.use(manager_of(Recorder("new", calls)))
        gate.set()
        await asyncio.wait_for(handling, 5)
        assert calls == ["old.joined", "old.error", "old.event"]  # on_error too stays with the code that raised

        calls.clear()
        await one_event()
        assert calls == ["new.joined", "new.error", "new.event"]
    finally:
        await dispatcher.close()


# The command line ------------------------------------------------------------------------------------------


async def test_serve_reload_answers_with_the_edited_plugin_in_the_same_chat(tmp_path: Path) -> None:
    config = make_project(tmp_path)
    process = await botkit("serve", "--reload", str(config), cwd=tmp_path)
    assert process.stdout is not None and process.stderr is not None
    try:
        emulator = re.fullmatch(r"emulator: (\S+)", await read_line(process.stdout))
        assert emulator, "serve did not print the emulator's URL first"
        await read_line(process.stdout)  # bot: ...
        await read_until(process.stderr, "reload: watching")
        customer = Customer(emulator.group(1))
        await customer.start()
        try:
            await customer.send("one")
            await answered(customer, "old #1 hi")
            (tmp_path / "plugins" / "counter.py").write_text(counter_plugin("new code"), encoding="utf-8")
            await read_until(process.stderr, "reload: plugins reloaded (counter)")
            await customer.send("two")
            await answered(customer, "new code #2 hi")
        finally:
            await customer.close()
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 15) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


BROKEN_PLUGINS = {
    "syntax error": ("from botkit import hookimpl\n\n\ndef on_message(:\n", 4, "SyntaxError: "),
    "raising at import": ("import os\n\nraise RuntimeError('no ORDERS_URL')\n", 3, "RuntimeError: no ORDERS_URL"),
    "missing module": ("import os\nimport acme_orders_client\n", 2,
                       "ModuleNotFoundError: No module named 'acme_orders_client'"),
}


@pytest.mark.parametrize("command", ["check", "serve"])
@pytest.mark.parametrize("kind", BROKEN_PLUGINS)
async def test_a_plugin_that_fails_to_import_is_one_line_with_its_file_and_line(
    kind: str, command: str, tmp_path: Path
) -> None:
    source, line, error = BROKEN_PLUGINS[kind]
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "orders.py").write_text(source, encoding="utf-8")
    (tmp_path / "bot.yaml").write_text("emulator: {port: 0}\nserver: {port: 0}\nplugins: [plugins/orders.py]\n")
    code, _, err = await run(command, "bot.yaml", cwd=tmp_path)
    assert code == 1
    assert err.splitlines() == [err.rstrip("\n")], err  # one line
    assert err.startswith(f"botkit: plugin plugins/orders.py:{line}: {error}"), err
    assert "Traceback" not in err

