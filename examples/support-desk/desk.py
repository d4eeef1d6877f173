"""Support desk: asks for an order number, looks it up, and says goodbye when the customer is done.

Shows per-contact state (`session.state`), plugin settings (`plugin_config`), a plain-function
hook running in a thread (`session.blocking`), and `on_error` turning a failure into an apology.
"""

from __future__ import annotations

import re
from typing import Any

from botkit import Item, Session, hookimpl

ORDER_NUMBER = re.compile(r"\b(\d{6})\b")
GOODBYES = {"bye", "thanks", "thank you", "done"}


def lookup(orders: dict[str, Any], number: str) -> str:
    """Stands in for a call to an order system; a plain function, so it may block."""
    status = orders.get(number)
    if status is None:
        return f"I can't find order {number}. Could you check the number?"
    return f"Order {number}: {status}."


@hookimpl
async def on_session_start(session: Session) -> None:
    session.state["step"] = "order"
    await session.send_message("Hello! What is your six-digit order number?")


@hookimpl
def on_message(session: Session, message: Item) -> None:
    text = (message.content or "").strip()
    if text.lower() in GOODBYES:
        session.blocking.send_message("Glad I could help. Goodbye!")
        session.blocking.disconnect()
        return
    found = ORDER_NUMBER.search(text)
    if found is None:
        session.blocking.send_message("I need the six-digit order number, for example 123456.")
        return
    orders = session.plugin_config("desk").get("orders", {})
    session.state["order"] = found.group(1)
    session.blocking.send_message(lookup(orders, found.group(1)) + " Anything else? Say 'bye' when you're done.")


@hookimpl
async def on_error(session: Session, error: BaseException, event: Any) -> None:
    await session.send_message("Sorry, something went wrong on my side. Please try again.")
