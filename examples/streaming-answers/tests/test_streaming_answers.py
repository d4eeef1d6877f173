"""The streaming bot: a long answer comes as several messages, each after a typing indicator.

`pytest examples/streaming-answers`
"""

from __future__ import annotations

from pathlib import Path

BOT_YAML = Path(__file__).resolve().parents[1] / "bot.yaml"
FAST = {"typing": {"throttle_seconds": 0}, "plugin_config": {"answers": {"pause_seconds": 0.05}}}
"""The pauses are for people reading; a test needs only their order."""

GREETING = "Hi! Ask me a question about returns or shipping."
RETURNS = [
    "You can return anything within 30 days of delivery, unused and in its box.",
    'Start a return from "My orders": pick the order, then "Return an item". We email you a prepaid label.',
    "Once the parcel reaches us, the refund takes 3 to 5 working days to show on your statement.",
]


def bot_turns(chat) -> list[str]:
    """What the bot did, in order: "typing", or a message's text (receipts and events left out)."""
    return [
        "typing" if item.content_type.endswith("typing") else item.content
        for item in chat.transcript
        if item.participant_role == "CUSTOM_BOT" and (item.type == "MESSAGE" or item.content_type.endswith("typing"))
    ]


async def test_a_long_answer_comes_a_paragraph_at_a_time_with_typing_before_each(botkit_bot) -> None:
    bot = await botkit_bot(config=BOT_YAML, **FAST)
    chat = await bot.start_chat(display_name="Ada")
    await chat.expect_message(text=GREETING)
    await chat.say("How do returns work?")
    for paragraph in RETURNS:
        await chat.expect_typing()
        await chat.expect_message(text=paragraph)
    # expect_typing and expect_message each keep their own place; the transcript shows they alternate
    assert bot_turns(chat) == [GREETING] + [turn for paragraph in RETURNS for turn in ("typing", paragraph)]


async def test_the_next_question_waits_for_the_answer_being_streamed(botkit_bot) -> None:
    bot = await botkit_bot(config=BOT_YAML, **FAST)
    chat = await bot.start_chat(display_name="Ada")
    await chat.expect_message(text=GREETING)
    await chat.say("returns?")
    await chat.say("and shipping?")
    for paragraph in RETURNS:
        await chat.expect_message(text=paragraph)
    await chat.expect_message(text="Orders placed before 2 pm leave our warehouse the same working day.")


async def test_a_question_on_no_known_topic_gets_the_list_of_topics(botkit_bot) -> None:
    bot = await botkit_bot(config=BOT_YAML, **FAST)
    chat = await bot.start_chat(display_name="Ada", initial_message="Do you sell gift cards?")
    await chat.expect_message(text=GREETING)
    await chat.expect_message(text="Sorry, I only know about returns or shipping.")
