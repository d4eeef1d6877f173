"""Echo: answers every text message with the same text. The smallest useful botkit plugin.

A message an earlier plugin already answered (`session.state["answered"]`) is left alone.

    plugins: [plugins/echo.py]
    plugin_config:
      echo: {prefix: "You said: "}
"""

from __future__ import annotations

from botkit import Item, Session, hookimpl

TEXT_TYPES = ("text/plain", "text/markdown")


@hookimpl
async def on_message(session: Session, message: Item) -> None:
    if session.state.get("answered") == message.id:
        return
    if message.content_type in TEXT_TYPES and message.content:
        prefix = session.plugin_config("echo").get("prefix", "echo: ")
        await session.send_message(f"{prefix}{message.content}")
