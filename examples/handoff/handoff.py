"""Hand-off: asks for a name, an order number and a reason, one question at a time, then hands over to an agent.

Shows a conversation kept in `session.state`, and `session.handoff(...)`: the bot says goodbye, sets the
contact's attributes (the queue to route to, and what the agent should know) and leaves, so the contact
flow queues the contact for an agent.
"""

from __future__ import annotations

import re

from botkit import Item, Session, hookimpl

ORDER_NUMBER = re.compile(r"\d{6}")

QUESTIONS = {
    "customer_name": "Hello! I'll take a few details for our agents. What is your name?",
    "order_number": "Thanks, {customer_name}. What is your six-digit order number?",
    "reason": "And what is wrong with order {order_number}?",
}
"""The details to collect, in order, each with its question; a question may use the answers before it."""


@hookimpl
async def on_session_start(session: Session) -> None:
    session.state["details"] = {}
    await ask_next(session)


@hookimpl
async def on_message(session: Session, message: Item) -> None:
    if message.participant_role != "CUSTOMER":
        return
    details: dict[str, str] = session.state["details"]
    asking = next(name for name in QUESTIONS if name not in details)
    answer = (message.content or "").strip()
    if asking == "order_number" and not ORDER_NUMBER.fullmatch(answer):
        await session.send_message("An order number has six digits, like 123456. What is yours?")
        return
    details[asking] = answer
    if len(details) < len(QUESTIONS):
        await ask_next(session)
        return
    queue = session.plugin_config("handoff").get("queue", "BasicQueue")
    await session.handoff(
        attributes={"queue": queue, **details},
        message=f"Thank you, {details['customer_name']}. An agent will be with you shortly; they can see your details.",
    )


async def ask_next(session: Session) -> None:
    details: dict[str, str] = session.state["details"]
    question = next(question for name, question in QUESTIONS.items() if name not in details)
    await session.send_message(question.format(**details))
