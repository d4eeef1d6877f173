"""The multilingual bot: the contact's `language` attribute picks the phrases; anything else gets the default.

`pytest examples/multilingual`
"""

from __future__ import annotations

from pathlib import Path

import pytest

BOT_YAML = Path(__file__).resolve().parents[1] / "bot.yaml"

ENGLISH = ("Hello! Ask me about our opening hours, or say bye.", "We are open from 9 am to 5 pm, Monday to Friday.")
FRENCH = (
    "Bonjour ! Posez-moi une question sur nos horaires, ou dites au revoir.",
    "Nous sommes ouverts de 9 h à 17 h, du lundi au vendredi.",
)
SPANISH = ("¡Hola! Pregúntame por nuestro horario, o di adiós.", "Abrimos de 9:00 a 17:00, de lunes a viernes.")


@pytest.mark.parametrize(
    ("attributes", "greeting", "hours"),
    [
        pytest.param({"language": "en"}, *ENGLISH, id="en"),
        pytest.param({"language": "fr"}, *FRENCH, id="fr"),
        pytest.param({"language": "es"}, *SPANISH, id="es"),
        pytest.param({"language": "fr-CA"}, *FRENCH, id="fr-CA-uses-fr"),
        pytest.param({}, *ENGLISH, id="no-attribute-uses-the-default"),
        pytest.param({"language": "de"}, *ENGLISH, id="unknown-language-uses-the-default"),
    ],
)
async def test_the_bot_answers_in_the_contacts_language(botkit_bot, attributes, greeting, hours) -> None:
    bot = await botkit_bot(config=BOT_YAML)
    chat = await bot.start_chat(display_name="Ada", attributes=attributes)
    await chat.expect_message(text=greeting)
    await chat.say("?")
    await chat.expect_message(text=hours)


async def test_goodbye_in_the_customers_language(botkit_bot) -> None:
    bot = await botkit_bot(config=BOT_YAML)
    chat = await bot.start_chat(display_name="Inés", attributes={"language": "es"})
    await chat.expect_message(text=SPANISH[0])
    await chat.say("Adiós")
    await chat.expect_message(text="¡Adiós, y gracias por tu visita!")


async def test_a_language_added_in_plugin_config_and_another_default(botkit_bot) -> None:
    german = {"greeting": "Hallo!", "hours": "Montag bis Freitag, 9 bis 17 Uhr.", "goodbye": "Tschüss!", "bye_words": ["tschüss"]}
    bot = await botkit_bot(config=BOT_YAML, plugin_config={"languages": {"default": "fr", "phrases": {"de": german}}})
    chat = await bot.start_chat(display_name="Ada", attributes={"language": "de"})
    await chat.expect_message(text="Hallo!")
    other = await bot.start_chat(display_name="Bob", attributes={"language": "it"})
    await other.expect_message(text=FRENCH[0])
