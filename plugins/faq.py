"""FAQ: greets the customer with a markdown menu and answers by number, keyword or interactive response.

    plugins: [plugins/faq.py]
    plugin_config:
      faq:
        greeting: "Hi! Pick a topic:"
        entries:
          - {question: "Opening hours", keywords: [hours, open], answer: "9 to 5, Monday to Friday."}

A customer may answer `2`, a keyword, the question itself, or an
`application/vnd.amazonaws.connect.message.interactive.response` whose selected
element's title names a question. Anything else gets the menu again, unless
`menu_on_unknown: false` leaves it to the next plugin. A message it answered is
marked in `session.state["answered"]`; it runs first (tryfirst) so that later
plugins can see the mark.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from botkit import Item, Session, hookimpl
from botkit.connect.errors import ValidationException

MARKDOWN = "text/markdown"
INTERACTIVE_RESPONSE = "application/vnd.amazonaws.connect.message.interactive.response"

DEFAULT_ENTRIES: Sequence[Mapping[str, Any]] = (
    {"question": "Opening hours", "keywords": ["hours", "open"], "answer": "We are open 9:00 to 17:00, Monday to Friday."},
    {"question": "Reset my password", "keywords": ["password", "reset"], "answer": "Use **Forgot password** on the sign-in page."},
    {"question": "Talk to a person", "keywords": ["agent", "human", "person"], "answer": "An agent will join shortly."},
)


def _entries(session: Session) -> Sequence[Mapping[str, Any]]:
    return session.plugin_config("faq").get("entries") or DEFAULT_ENTRIES


def menu(session: Session) -> str:
    greeting = session.plugin_config("faq").get("greeting", "Hi! I can help with:")
    lines = [f"{number}. {entry['question']}" for number, entry in enumerate(_entries(session), start=1)]
    return "\n".join([greeting, "", *lines, "", "Reply with a number or a few words."])


def choose(entries: Sequence[Mapping[str, Any]], text: str) -> Mapping[str, Any] | None:
    """The entry the customer means: by number, by question, then by keyword."""
    wanted = text.strip().lower().rstrip(".")
    if wanted.isdigit() and 1 <= int(wanted) <= len(entries):
        return entries[int(wanted) - 1]
    for entry in entries:
        if wanted == str(entry["question"]).lower():
            return entry
    words = set(wanted.replace("?", " ").replace(",", " ").split())
    for entry in entries:
        if words & {str(keyword).lower() for keyword in entry.get("keywords", ())}:
            return entry
    return None


def selected_title(content: str) -> str:
    """The chosen element's title in an interactive response, or the content itself when it is plain text."""
    try:
        response = json.loads(content)
    except ValueError:
        return content
    data = response.get("data", {}) if isinstance(response, dict) else {}
    body = data.get("content", data) if isinstance(data, dict) else {}
    if isinstance(body, dict):
        for key in ("selectedElement", "selection"):
            chosen = body.get(key)
            if isinstance(chosen, dict) and isinstance(chosen.get("title"), str):
                return chosen["title"]
            if isinstance(chosen, str):
                return chosen
        if isinstance(body.get("title"), str):
            return body["title"]
    return content


async def _say(session: Session, text: str) -> None:
    """Markdown where the contact allows it; plain text where it does not."""
    if session.state.get("faq_plain"):
        await session.send_message(text)
        return
    try:
        await session.send_message(text, MARKDOWN)
    except ValidationException:
        session.state["faq_plain"] = True
        await session.send_message(text)


@hookimpl
async def on_session_start(session: Session) -> None:
    await _say(session, menu(session))


@hookimpl(tryfirst=True)
async def on_message(session: Session, message: Item) -> None:
    if not message.content:
        return
    text = selected_title(message.content) if message.content_type == INTERACTIVE_RESPONSE else message.content
    entry = choose(_entries(session), text)
    if entry is not None:
        session.state["answered"] = message.id
        await _say(session, str(entry["answer"]))
    elif session.plugin_config("faq").get("menu_on_unknown", True):
        session.state["answered"] = message.id
        await _say(session, menu(session))
