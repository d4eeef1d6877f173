"""Which contact the running code is about, for the `contact_id` field of JSON log lines.

Set once at the top of each session task and each intake request: tasks the session starts, and the
threads its plain-function handlers run in, inherit it, so every line they log names the contact
without each call having to pass it.
"""

from __future__ import annotations

from contextvars import ContextVar

CONTACT_ID: ContextVar[str | None] = ContextVar("botkit_contact_id", default=None)


def about_contact(contact_id: str) -> None:
    """From here on, in this task (and what it starts), log lines are about `contact_id`."""
    CONTACT_ID.set(contact_id)
