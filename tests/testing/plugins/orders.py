"""A small plugin for the test kit's own tests: greets, answers order questions, types, fails on request."""

from __future__ import annotations

from botkit import Item, Session, hookimpl


@hookimpl
async def on_session_start(session: Session) -> None:
    await session.send_message(session.plugin_config("orders").get("greeting", "Hello"))


@hookimpl
async def on_message(session: Session, message: Item) -> None:
    text = message.content or ""
    if text.startswith("order status"):
        await session.send_typing()
        await session.send_message(f"Order {text.split()[-1]} has shipped")
    elif text == "break":
        raise RuntimeError("the orders database is down")
    elif message.participant_role in ("AGENT", "SUPERVISOR"):
        await session.send_message(f"Noted, {message.display_name}: {text}")


@hookimpl
async def on_participant_joined(session: Session, event: Item) -> None:
    if event.participant_role in ("AGENT", "SUPERVISOR"):
        await session.send_message(f"Welcome, {event.display_name}")
