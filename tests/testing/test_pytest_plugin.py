"""The `botkit_bot` fixture as a plugin author's project gets it: pytest runs on a tmp project (pytester).

Each inner run loads botkit through its `pytest11` entry point, as an installed botkit does everywhere.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ORDERS_PLUGIN = (Path(__file__).parent / "plugins" / "orders.py").read_text()

THE_EXAMPLE = """
async def test_order_status(botkit_bot):
    bot = await botkit_bot(plugins=["plugins/orders.py"], plugin_config={"orders": {"greeting": "Hi"}})
    chat = await bot.start_chat(display_name="Ada")
    greeting = await chat.expect_message(contains="Hi")
    await chat.say("order status 123")
    reply = await chat.expect_message(contains="shipped")
    agent = await chat.join("AGENT")
    await chat.leave()
    await chat.expect_ended()
    assert (greeting.content, reply.participant_role) == ("Hi", "CUSTOM_BOT")
    assert agent.role == "AGENT"
"""

PORTS_CLOSED = """
import socket
from urllib.parse import urlsplit

def test_the_bots_ports_are_closed_afterwards():
    assert URLS, "the test before did not start its bot"
    for url in URLS:
        address = urlsplit(url)
        try:
            socket.create_connection((address.hostname, address.port), timeout=1).close()
        except ConnectionRefusedError:
            continue
        raise AssertionError(f"{url} still answers")
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A plugin author's project: a plugin in plugins/, tests beside it, pytest configured at its root."""
    (pytester.path / "plugins").mkdir()
    (pytester.path / "plugins" / "orders.py").write_text(ORDERS_PLUGIN)
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    return pytester


def run(project: pytest.Pytester, mode: str = "auto") -> pytest.RunResult:
    return project.runpytest("-p", "asyncio", "-o", f"asyncio_mode={mode}", "-p", "no:cacheprovider")


def test_the_example_passes_in_auto_mode(project: pytest.Pytester) -> None:
    project.makepyfile(test_orders=THE_EXAMPLE)
    run(project).assert_outcomes(passed=1)


def test_the_example_passes_in_strict_mode_when_marked(project: pytest.Pytester) -> None:
    project.makepyfile(test_orders="import pytest\n\n@pytest.mark.asyncio" + THE_EXAMPLE)
    run(project, "strict").assert_outcomes(passed=1)


def test_a_failed_expectation_shows_what_was_expected_and_the_transcript(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_orders="""
URLS = []

async def test_refund(botkit_bot):
    bot = await botkit_bot(plugins=["plugins/orders.py"], plugin_config={"orders": {"greeting": "Hi"}})
    URLS.extend([bot.emulator_url, bot.server_url])
    chat = await bot.start_chat(display_name="Ada")
    await chat.expect_message(text="Hi")
    await chat.say("order status 42")
    await chat.expect_message(text="Order 42 has shipped")
    await chat.expect_message(contains="refund", timeout=0.5)
"""
        + PORTS_CLOSED
    )
    started = time.monotonic()
    result = run(project)
    assert time.monotonic() - started < 15
    result.assert_outcomes(passed=1, failed=1)  # a failure, not an error at teardown; its bot stopped all the same
    result.stdout.fnmatch_lines(
        [
            "*ExpectationFailed: Ada (CUSTOMER) expected a message from CUSTOM_BOT, containing 'refund'"
            " within 0.5 s; it did not come",
            "*transcript as Ada (CUSTOMER) saw it*",
            "*+0.*s  CUSTOM_BOT Bot: 'Hi'",
            "*+0.*s  CUSTOMER   Ada: 'order status 42'",
            "*+0.*s  CUSTOM_BOT Bot: 'Order 42 has shipped'",
        ]
    )
    result.stdout.fnmatch_lines(["*test_orders.py:10: ExpectationFailed"])  # the test's line, not the kit's


def test_a_plugin_error_fails_the_test_that_caused_it(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_orders="""
URLS = []

async def test_breaks(botkit_bot):
    bot = await botkit_bot(plugins=["plugins/orders.py"])
    URLS.extend([bot.emulator_url, bot.server_url])
    chat = await bot.start_chat(display_name="Ada")
    await chat.expect_message(text="Hello")
    await chat.say("break")
    await chat.expect_message(contains="sorry", timeout=30)
"""
        + PORTS_CLOSED
    )
    started = time.monotonic()
    result = run(project)
    assert time.monotonic() - started < 15, "the error must end the wait, not its 30 s timeout"
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*plugins/orders.py:*: RuntimeError",  # the plugin's own traceback
            "*The above exception was the direct cause of the following exception*",
            "*BotError: a plugin raised inside the bot: contact *: RuntimeError: the orders database is down"
            " (while handling 'break')*",
            "*test_orders.py:9: BotError",  # the test's line, where it called expect_message
        ]
    )


def test_allow_errors_lets_the_test_pass(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_orders="""
async def test_breaks_and_goes_on(botkit_bot):
    bot = await botkit_bot(plugins=["plugins/orders.py"], allow_errors=True)
    chat = await bot.start_chat(display_name="Ada")
    await chat.expect_message(text="Hello")
    await chat.say("break")
    await chat.say("order status 3")
    await chat.expect_message(text="Order 3 has shipped")
    assert len(bot.errors) == 1
"""
    )
    run(project).assert_outcomes(passed=1)


def test_an_error_after_the_last_call_fails_at_teardown(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_orders="""
import asyncio

async def test_says_and_leaves(botkit_bot):
    bot = await botkit_bot(plugins=["plugins/orders.py"])
    chat = await bot.start_chat(display_name="Ada")
    await chat.say("break")
    async with asyncio.timeout(5):
        while not bot.errors:
            await bot.pulse.wait()
"""
    )
    result = run(project)
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        ["*BotError: a plugin raised inside the bot after the test's last call to the chat: contact *"]
    )


def test_without_pytest_asyncio_the_fixture_says_what_to_install(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pytest still starts (the plugin loads in every project with botkit), and only the fixture's users fail."""
    shadow = pytester.mkdir("shadow") / "pytest_asyncio"
    shadow.mkdir()
    (shadow / "__init__.py").write_text("raise ImportError('pytest-asyncio is not installed')\n")
    monkeypatch.setenv("PYTHONPATH", str(shadow.parent))
    pytester.makepyfile(
        test_orders="""
def test_uses_the_fixture(botkit_bot):
    pass

def test_does_not():
    pass
"""
    )
    result = pytester.runpytest_subprocess("-p", "no:asyncio", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*the botkit_bot fixture needs pytest-asyncio: pip install pytest-asyncio*"])
