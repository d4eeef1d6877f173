"""The bot's plugin in a chat, as a customer sees it: `pytest` runs a local Amazon Connect emulator, no AWS needed.

`botkit_bot` comes with botkit (its pytest plugin); pyproject.toml sets pytest-asyncio's auto mode.
"""

from __future__ import annotations

PLUGINS = ["plugins/helpdesk.py"]
SETTINGS = {"helpdesk": {"greeting": "Hi, I'm the test bot.", "orders": {"123": "shipped yesterday"}}}


async def test_the_bot_of_bot_yaml_greets_with_the_menu_and_answers_from_it(botkit_bot):
    bot = await botkit_bot(config="bot.yaml")  # the real bot.yaml; the test kit picks free ports
    chat = await bot.start_chat(display_name="Ada")
    greeting = await chat.expect_message(contains="I can help with:")
    assert "1. Opening hours" in greeting.content
    await chat.say("1")
    await chat.expect_message(contains="9:00 to 17:00")
    await chat.leave()
    await chat.expect_ended()


async def test_the_greeting_comes_from_plugin_config(botkit_bot):
    bot = await botkit_bot(plugins=PLUGINS, plugin_config=SETTINGS)
    chat = await bot.start_chat(display_name="Ada")
    await chat.expect_message(contains="Hi, I'm the test bot.")


async def test_an_order_number_gets_its_status(botkit_bot):
    bot = await botkit_bot(plugins=PLUGINS, plugin_config=SETTINGS)
    chat = await bot.start_chat(display_name="Ada")
    await chat.expect_message(contains="Reply with a number")
    await chat.say("2")
    await chat.expect_message(contains="Which order?")
    await chat.say("order 123")
    await chat.expect_message(text="Order 123 is shipped yesterday.")
    await chat.say("order 999")
    await chat.expect_message(contains="can't find order 999")


async def test_anything_else_gets_the_menu_again(botkit_bot):
    bot = await botkit_bot(plugins=PLUGINS, plugin_config=SETTINGS)
    chat = await bot.start_chat(display_name="Ada")
    await chat.expect_message(contains="Reply with a number")
    await chat.say("what's the weather?")
    await chat.expect_message(contains="Sorry, I didn't get that.")


async def test_asking_for_a_person_hands_the_chat_over(botkit_bot):
    bot = await botkit_bot(plugins=PLUGINS, plugin_config=SETTINGS)
    chat = await bot.start_chat(display_name="Ada")
    await chat.expect_message(contains="Reply with a number")
    await chat.say("3")
    await chat.expect_message(contains="a person will take over")
