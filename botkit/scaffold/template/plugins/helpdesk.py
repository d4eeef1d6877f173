"""The bot's plugin: it greets the customer, offers a menu, answers from it, and hands over to a person.

Each function below is a hook: botkit calls it with the arguments it names (`session`, `message`,
`event`, `reason`), and it may be `async def` or a plain function. Its settings come from bot.yaml:

    plugin_config:
      helpdesk:
        greeting: "Hi! How can I help?"
        opening_hours: "9:00 to 17:00, Monday to Friday."
        orders: {"123": "shipped yesterday"}
        queue: Support
"""

from __future__ import annotations

import logging
import re

from botkit import Item, Session, hookimpl

log = logging.getLogger(__name__)

PLUGIN = "helpdesk"
TEXT = ("text/plain", "text/markdown")
MENU = ("Opening hours", "Order status", "Talk to a person")
ORDER = re.compile(r"order\s*(?:status\s*)?#?(\d[\w-]*)", re.IGNORECASE)


def menu() -> str:
    lines = [f"{number}. {entry}" for number, entry in enumerate(MENU, start=1)]
    return "\n".join([*lines, "Reply with a number."])


@hookimpl
async def on_session_start(session: Session) -> None:
    """The bot has joined the chat: greet the customer once, before any message is handled."""
    settings = session.plugin_config(PLUGIN)
    session.state["messages"] = 0  # session.state lives as long as the chat
    await session.send_message(f"{settings.get('greeting', 'Hello!')}\n{menu()}")


@hookimpl
async def on_message(session: Session, message: Item) -> None:
    """A customer's (or an agent's) message: answer a menu choice, an order number, or show the menu again."""
    if message.content_type not in TEXT or not message.content:
        return
    settings = session.plugin_config(PLUGIN)
    session.state["messages"] += 1
    text = message.content.strip()
    if (order := ORDER.search(text)) is not None:
        status = settings.get("orders", {}).get(order.group(1))
        answer = f"Order {order.group(1)} is {status}." if status else f"I can't find order {order.group(1)}."
        await session.send_message(answer)
    elif text == "1":
        await session.send_message(f"We are open {settings.get('opening_hours', 'every day')}")
    elif text == "2":
        await session.send_message("Which order? Say 'order' and its number, e.g. order 123.")
    elif text == "3":
        # The bot sets the contact's attributes and leaves; the contact flow queues the chat for an agent.
        queue = settings.get("queue", "Support")
        await session.handoff(attributes={"queue": queue}, message="One moment, a person will take over.")
    else:
        await session.send_message(f"Sorry, I didn't get that.\n{menu()}")


@hookimpl
def on_typing(session: Session, event: Item) -> None:
    """Someone is typing; a plain function like this one runs in a thread, so it may block."""
    log.debug("contact %s: %s is typing", session.contact_id, event.participant_role)


@hookimpl
async def on_session_end(session: Session, reason: str) -> None:
    """The chat is over for the bot (`chat_ended`, `handoff`, `left`, `removed` or `shutdown`)."""
    log.info("contact %s: over (%s) after %d message(s)", session.contact_id, reason, session.state.get("messages", 0))
