"""botkit: chatbots that take part in Amazon Connect chat contacts.

    from botkit import hookimpl

    @hookimpl
    async def on_message(session, message):
        await session.send_message(f"You said: {message.content}")
"""

from __future__ import annotations

from typing import Any

from botkit.hookspecs import hookimpl

__version__ = "0.1.0"
__all__ = ["Item", "Session", "hookimpl"]


def __getattr__(name: str) -> Any:
    """Session and Item load on first use, so importing the emulator never pulls in the runtime."""
    if name == "Session":
        from botkit.runtime.session import Session

        return Session
    if name == "Item":
        from botkit.connect.models import Item

        return Item
    raise AttributeError(f"module 'botkit' has no attribute {name!r}")
