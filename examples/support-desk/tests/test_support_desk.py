"""The support desk as a customer meets it: an order looked up, a wrong answer asked again, a goodbye.

Each test starts the example's own bot.yaml with the test kit: `pytest examples/support-desk`.
"""

from __future__ import annotations

from pathlib import Path

BOT_YAML = Path(__file__).resolve().parents[1] / "bot.yaml"
GREETING = "Hello! What is your six-digit order number?"


async def test_it_looks_up_an_order_from_its_plugin_config(botkit_bot) -> None:
    bot = await botkit_bot(config=BOT_YAML)
    chat = await bot.start_chat(display_name="Ada")
    await chat.expect_message(text=GREETING)
    await chat.say("it's 123456")
    await chat.expect_message(text="Order 123456: shipped yesterday, arriving tomorrow. Anything else? Say 'bye' when you're done.")
    await chat.say("and 654321?")
    await chat.expect_message(contains="Order 654321: being packed.")


async def test_an_answer_without_a_known_order_number_gets_a_hint(botkit_bot) -> None:
    bot = await botkit_bot(config=BOT_YAML)
    chat = await bot.start_chat(display_name="Ada", initial_message="where is my parcel?")
    await chat.expect_message(text=GREETING)
    await chat.expect_message(text="I need the six-digit order number, for example 123456.")
    await chat.say("111111")
    await chat.expect_message(contains="I can't find order 111111.")


async def test_the_orders_can_come_from_the_tests_own_plugin_config(botkit_bot) -> None:
    bot = await botkit_bot(config=BOT_YAML, plugin_config={"desk": {"orders": {"222222": "lost, refund sent"}}})
    chat = await bot.start_chat(display_name="Ada", initial_message="222222")
    await chat.expect_message(text=GREETING)
    await chat.expect_message(contains="Order 222222: lost, refund sent.")


async def test_bye_gets_a_goodbye_and_the_chat_ends_cleanly(botkit_bot) -> None:
    bot = await botkit_bot(config=BOT_YAML)
    chat = await bot.start_chat(display_name="Ada")
    await chat.expect_message(text=GREETING)
    await chat.say("bye")
    await chat.expect_message(text="Glad I could help. Goodbye!")
    await chat.leave()
    await chat.expect_ended()
