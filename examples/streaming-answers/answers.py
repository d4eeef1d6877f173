"""Streaming answers: a long answer goes out a paragraph at a time, with the typing indicator in between.

A wall of text is hard to read in a chat window. Sending paragraph by paragraph, each after a moment of
"typing", reads like a person writing. The same shape fits an answer that really arrives in pieces, from a
search or a language model: send typing, await the next piece, send it.
"""

from __future__ import annotations

import asyncio

from botkit import Item, Session, hookimpl


@hookimpl
async def on_session_start(session: Session) -> None:
    topics = " or ".join(session.plugin_config("answers").get("topics", {}))
    await session.send_message(f"Hi! Ask me a question about {topics}.")


@hookimpl
async def on_message(session: Session, message: Item) -> None:
    settings = session.plugin_config("answers")
    question = (message.content or "").lower()
    topics: dict[str, str] = settings.get("topics", {})
    topic = next((name for name in topics if name in question), None)
    if topic is None:
        await session.send_message(f"Sorry, I only know about {' or '.join(topics)}.")
        return
    for paragraph in paragraphs(topics[topic]):
        await session.send_typing()
        await asyncio.sleep(settings.get("pause_seconds", 1.5))  # or: await the next piece from its source
        await session.send_message(paragraph)


def paragraphs(text: str) -> list[str]:
    """The answer's paragraphs: its blank-line separated blocks, each on one line."""
    return [" ".join(block.split()) for block in text.split("\n\n") if block.strip()]
