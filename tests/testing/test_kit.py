"""The test kit against a real emulator and bot, in this process: chats, expectations, errors, teardown."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from botkit.connect.models import Item
from botkit.testing import BotError, BotKit, ExpectationFailed

ORDERS = "tests/testing/plugins/orders.py"
ROOT = Path(__file__).resolve().parents[2]


async def test_a_whole_conversation(botkit_bot) -> None:
    bot = await botkit_bot(plugins=[ORDERS], plugin_config={"orders": {"greeting": "Hi"}})
    chat = await bot.start_chat(display_name="Ada")
    greeting = await chat.expect_message(contains="Hi")
    await chat.say("order status 123")
    reply = await chat.expect_message(contains="shipped")
    agent = await chat.join("AGENT")
    await chat.leave()
    await chat.expect_ended()
    await agent.expect_ended()

    assert isinstance(greeting, Item) and isinstance(reply, Item)  # what the hooks get
    assert (greeting.content, greeting.participant_role, greeting.display_name) == ("Hi", "CUSTOM_BOT", "Bot")
    assert reply.content == "Order 123 has shipped"
    assert bot.process.manager is not None and chat.contact_id not in bot.process.manager.sessions


async def test_after_the_chat_ended_an_expectation_fails_at_once(botkit_bot) -> None:
    bot = await botkit_bot(plugins=[ORDERS])
    chat = await bot.start_chat(display_name="Ada")
    await chat.expect_message(text="Hello")
    await chat.leave()
    await chat.expect_ended()
    started = time.monotonic()
    with pytest.raises(ExpectationFailed, match="within 30 s; its connection closed before it came"):
        await chat.expect_message(timeout=30)
    assert time.monotonic() - started < 5


async def test_exact_text_and_patterns(botkit_bot) -> None:
    bot = await botkit_bot(plugins=[ORDERS])
    chat = await bot.start_chat(display_name="Ada", initial_message="order status 7")
    await chat.expect_message(text="Hello")
    await chat.expect_message(matches=r"Order \d+ has shipped")
    await chat.say("order status 8")
    with pytest.raises(ExpectationFailed, match="exactly 'Order 8'"):
        await chat.expect_message(text="Order 8")


async def test_a_different_message_fails_at_once_with_the_transcript(botkit_bot) -> None:
    bot = await botkit_bot(plugins=[ORDERS], plugin_config={"orders": {"greeting": "Hi"}})
    chat = await bot.start_chat(display_name="Ada")
    started = time.monotonic()
    with pytest.raises(ExpectationFailed) as failure:
        await chat.expect_message(contains="shipped", timeout=30)
    assert time.monotonic() - started < 5, "a wrong message must fail at once, not at the timeout"
    message = str(failure.value)
    assert "expected a message from CUSTOM_BOT, containing 'shipped'; the next one was 'Hi' from Bot" in message
    assert "transcript as Ada (CUSTOMER) saw it" in message
    assert "CUSTOM_BOT Bot: 'Hi'" in message


async def test_a_message_that_never_comes_fails_within_its_timeout(botkit_bot) -> None:
    bot = await botkit_bot(plugins=[ORDERS], plugin_config={"orders": {"greeting": "Hi"}})
    chat = await bot.start_chat(display_name="Ada")
    await chat.expect_message(text="Hi")
    await chat.say("nothing to see")
    started = time.monotonic()
    with pytest.raises(ExpectationFailed) as failure:
        await chat.expect_message(contains="refund", timeout=0.3)
    elapsed = time.monotonic() - started
    assert 0.3 <= elapsed < 2
    lines = str(failure.value).splitlines()
    assert lines[0] == (
        "Ada (CUSTOMER) expected a message from CUSTOM_BOT, containing 'refund' within 0.3 s; it did not come"
    )
    said = [line for line in lines if "'nothing to see'" in line]
    assert len(said) == 1 and "CUSTOMER   Ada: 'nothing to see'" in said[0]
    assert said[0].lstrip().startswith("+0.")  # seconds since the chat's first item


async def test_a_supervisor_barges_in_beside_the_bot(botkit_bot) -> None:
    bot = await botkit_bot(plugins=[ORDERS])
    chat = await bot.start_chat(display_name="Ada")
    await chat.expect_message(text="Hello")
    supervisor = await chat.join("SUPERVISOR", "Sam")
    assert (supervisor.role, supervisor.display_name) == ("SUPERVISOR", "Sam")
    welcome = await supervisor.expect_message(text="Welcome, Sam")
    assert welcome.participant_role == "CUSTOM_BOT"
    await chat.expect_message(text="Welcome, Sam")
    await supervisor.say("all fine?")
    await supervisor.expect_message(text="Noted, Sam: all fine?")
    await chat.expect_message(text="all fine?", from_role="SUPERVISOR")


async def test_an_agent_takes_over_from_the_bot(botkit_bot) -> None:
    bot = await botkit_bot(plugins=[ORDERS])
    chat = await bot.start_chat(display_name="Ada")
    await chat.expect_message(text="Hello")
    agent = await chat.join("AGENT", "Grace")
    await agent.say("Grace here, how can I help?")
    heard = await chat.expect_message(from_role="AGENT")
    assert (heard.content, heard.display_name) == ("Grace here, how can I help?", "Grace")
    await chat.say("my order")
    assert (await agent.expect_message(from_role="CUSTOMER")).content == "my order"
    # The emulator removes the bot when an agent joins, as Amazon Connect does.
    assert any(
        item.participant_role == "CUSTOM_BOT" and item.content_type.endswith("participant.left")
        for item in agent.transcript
        if item.content_type
    )
    with pytest.raises(ValueError, match="AGENT, SUPERVISOR"):
        await chat.join("CUSTOMER")


async def test_expect_typing(botkit_bot) -> None:
    bot = await botkit_bot(plugins=[ORDERS])
    chat = await bot.start_chat(display_name="Ada")
    await chat.say("order status 9")
    typing = await chat.expect_typing()
    assert typing.participant_role == "CUSTOM_BOT"
    await chat.expect_message(text="Hello")
    await chat.expect_message(text="Order 9 has shipped")
    with pytest.raises(ExpectationFailed, match="expected typing from CUSTOM_BOT within 0.2 s"):
        await chat.expect_typing(timeout=0.2)


async def test_the_customer_typing_reaches_the_agent(botkit_bot) -> None:
    bot = await botkit_bot(plugins=[ORDERS])
    chat = await bot.start_chat(display_name="Ada")
    await chat.expect_message(text="Hello")  # before the agent joins, and the emulator removes the bot
    agent = await chat.join("AGENT")
    await chat.send_typing()
    assert (await agent.expect_typing(from_role="CUSTOMER")).display_name == "Ada"


async def test_transcript(botkit_bot) -> None:
    bot = await botkit_bot(plugins=[ORDERS], plugin_config={"orders": {"greeting": "Hi"}})
    chat = await bot.start_chat(display_name="Ada")
    await chat.expect_message(text="Hi")
    await chat.say("order status 5")
    await chat.expect_message(text="Order 5 has shipped")
    transcript = chat.transcript
    assert transcript.texts() == ["Hi", "order status 5", "Order 5 has shipped"]
    assert transcript.texts("CUSTOM_BOT") == ["Hi", "Order 5 has shipped"]
    assert all(isinstance(item, Item) for item in transcript)
    rendered = str(transcript)
    assert rendered.startswith("transcript as Ada (CUSTOMER) saw it")
    assert "CUSTOMER   Ada: participant.joined" in rendered
    assert "CUSTOM_BOT Bot: 'Order 5 has shipped'" in rendered
    assert "CUSTOM_BOT Bot: typing" in rendered


async def test_a_bot_yaml_with_the_tests_overrides(botkit_bot, tmp_path: Path) -> None:
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "orders.py").write_text((ROOT / ORDERS).read_text())
    (tmp_path / "bot.yaml").write_text(
        "connect: {endpoint: 'https://participant.connect.eu-west-2.amazonaws.com', region: eu-west-2,"
        " instance_id: abc}\n"
        "emulator: {port: 8765}\n"
        "server: {host: 0.0.0.0, port: 8080, public_url: 'https://bot.example.com'}\n"
        "plugins: [plugins/orders.py]\n"
        "plugin_config:\n  orders: {greeting: From the file, other: kept}\n"
        "runtime: {handler_timeout: 7}\n"
    )
    bot = await botkit_bot(config=tmp_path / "bot.yaml", plugin_config={"orders": {"greeting": "From the test"}})
    chat = await bot.start_chat(display_name="Ada")
    await chat.expect_message(text="From the test")
    assert bot.config.plugin_config["orders"] == {"greeting": "From the test", "other": "kept"}
    assert bot.config.runtime.handler_timeout == 7
    assert bot.config.connect.embedded
    emulator, server = urlsplit(bot.emulator_url), urlsplit(bot.server_url)
    assert (emulator.hostname, server.hostname) == ("127.0.0.1", "127.0.0.1")
    assert emulator.port not in (None, 8765) and server.port not in (None, 8080)


async def test_a_plugin_error_fails_the_next_call(botkit_bot) -> None:
    bot = await botkit_bot(plugins=[ORDERS])
    chat = await bot.start_chat(display_name="Ada")
    await chat.expect_message(text="Hello")
    await chat.say("break")
    started = time.monotonic()
    with pytest.raises(BotError) as failure:
        await chat.expect_message(text="never said", timeout=30)
    assert time.monotonic() - started < 5, "the error must end the wait, not the timeout"
    assert "RuntimeError: the orders database is down (while handling 'break')" in str(failure.value)
    cause = failure.value.__cause__
    assert isinstance(cause, RuntimeError)
    frames = []
    trace = cause.__traceback__
    while trace is not None:
        frames.append(trace.tb_frame.f_code.co_filename)
        trace = trace.tb_next
    assert frames[-1].endswith("plugins/orders.py")
    await chat.say("order status 1")  # raised once: the test may go on
    await chat.expect_message(text="Order 1 has shipped")


async def test_allow_errors(botkit_bot) -> None:
    bot = await botkit_bot(plugins=[ORDERS], allow_errors=True)
    chat = await bot.start_chat(display_name="Ada")
    await chat.say("break")
    await chat.say("order status 2")
    await chat.expect_message(text="Hello")
    await chat.expect_message(text="Order 2 has shipped")
    assert [str(failure.error) for failure in bot.errors] == ["the orders database is down"]


async def test_plugin_objects_beside_paths(botkit_bot) -> None:
    class Echo:
        from botkit import hookimpl

        @hookimpl
        async def on_message(self, session, message) -> None:
            await session.send_message(f"echo {message.content}")

    bot = await botkit_bot(plugins=[Echo()])
    chat = await bot.start_chat(display_name="Ada", initial_message="ping")
    await chat.expect_message(text="echo ping")


async def test_expect_ended_sees_a_session_that_ends_after_the_chats_last_item(botkit_bot) -> None:
    """Nothing reaches the chat once it has ended: the session's own end must wake the expectation."""

    class SlowToClose:
        from botkit import hookimpl

        @hookimpl
        async def on_session_end(self) -> None:
            await asyncio.sleep(0.3)  # cleanup that outlasts the chat's last item

    bot = await botkit_bot(plugins=[ORDERS, SlowToClose()])
    chat = await bot.start_chat(display_name="Ada")
    await chat.expect_message(text="Hello")
    await chat.leave()
    started = time.monotonic()
    await chat.expect_ended(timeout=3)
    assert time.monotonic() - started < 2
    assert bot.session_over(chat.contact_id)


async def test_a_bad_setting_fails_with_the_key(botkit_bot) -> None:
    with pytest.raises(ValueError, match="runtime.handler_timeout"):
        await botkit_bot(runtime={"handler_timeout": -1})


def _closed(url: str) -> bool:
    address = urlsplit(url)
    try:
        socket.create_connection((address.hostname, address.port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


async def test_closing_stops_everything() -> None:
    kit = BotKit(ROOT)
    bot = await kit(plugins=[ORDERS])
    chat = await bot.start_chat(display_name="Ada")
    await chat.expect_message(text="Hello")
    await chat.join("SUPERVISOR")
    assert not _closed(bot.emulator_url) and not _closed(bot.server_url)
    await kit.close()
    assert _closed(bot.emulator_url) and _closed(bot.server_url)
    assert asyncio.all_tasks() == {asyncio.current_task()}


async def test_an_error_after_the_last_call_fails_at_close() -> None:
    kit = BotKit(ROOT)
    bot = await kit(plugins=[ORDERS])
    chat = await bot.start_chat(display_name="Ada")
    await chat.say("break")
    async with asyncio.timeout(5):
        while not bot.errors:
            await bot.pulse.wait()
    with pytest.raises(BotError, match="a plugin raised inside the bot after the test's last call to the chat"):
        await kit.close()
    assert _closed(bot.emulator_url)
