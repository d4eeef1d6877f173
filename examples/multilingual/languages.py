"""Multilingual: every answer in the customer's language, picked from the contact's `language` attribute.

The website's chat widget (or the contact flow) sets the attribute when the chat starts; the bot reads it
from `session.attributes`. The phrases live in `plugin_config`, so adding a language is a change to bot.yaml.
A regional tag such as `fr-CA` uses `fr`; a language without phrases gets the default one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botkit import Item, Session, hookimpl


def phrases(session: Session) -> Mapping[str, Any]:
    """The phrases in the contact's language, or in the default one."""
    settings = session.plugin_config("languages")
    known = settings["phrases"]
    language = session.attributes.get("language", "").split("-")[0].lower()
    return known[language] if language in known else known[settings.get("default", "en")]


@hookimpl
async def on_session_start(session: Session) -> None:
    await session.send_message(phrases(session)["greeting"])


@hookimpl
async def on_message(session: Session, message: Item) -> None:
    said = phrases(session)
    if (message.content or "").strip().lower() in said["bye_words"]:
        await session.send_message(said["goodbye"])
        await session.disconnect()
    else:
        await session.send_message(said["hours"])
