"""The bot's plugin in a chat, as a customer sees it: `pytest` runs a local Amazon Connect emulator, no AWS needed.

`botkit_bot` comes with botkit (its pytest plugin); pyproject.toml sets pytest-asyncio's auto mode.
"""

from __future__ import annotations

PLUGINS = ["plugins/helpdesk.py"]
SETTINGS = {"helpdesk": {"greeting": "Hi, I'm the test bot.", "orders": {"123": "shipped yesterday"}}}


async def test_the_bot_greets_with_the_menu(botkit_bot):
    bot = await botkit_bot(plugins=PLUGINS, plugin_config=SETTINGS)
    chat = await bot.start_chat(display_name="Ada")
    greeting = await chat.expect_message(contains="Hi, I'm the test bot.")
    assert "1. Opening hours" in greeting.content
    await chat.leave()
    await chat.expect_ended()


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
