"""Every hook a botkit plugin can implement: the one list to read.

Implementations take any subset of a hook's arguments, by name, and may be
`async def` or plain functions (plain ones run in a thread pool, so they may
block). One implementation's failure never stops the others: it is logged and
handed to `on_error`. Within a contact, events are handled one at a time, in
the order the chat produced them; contacts run concurrently.

    from botkit import hookimpl

    @hookimpl
    async def on_message(session, message):
        await session.send_message(f"You said: {message.content}")

To pass the customer to an agent, a handler calls
`await session.handoff(attributes={"queue": "Billing"}, message="One moment...")`
(`session.blocking.handoff(...)` from a plain function): the bot says `message`, sets the contact
attributes (UpdateContactAttributes) and leaves; the contact flow then routes on those attributes.
Attributes map str to str and are checked before anything is sent. If they cannot be set, the bot
stays in the chat and the error is raised to the handler, which decides what to do next.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from botkit.connect.models import Item
    from botkit.runtime.session import Session

PROJECT = "botkit"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def on_session_start(session: Session) -> None:
    """The bot has joined a contact and subscribed; no event has been dispatched yet.

    Runs once per contact, never again on a reconnect. Messages the customer
    sent before the bot joined are dispatched to `on_message` right after.
    """


@hookspec
def on_session_resume(session: Session) -> None:
    """The bot took up a contact it already had: after a restart, or from a worker that died or shut down.

    Runs instead of `on_session_start` (which ran once, on the first worker), with `session.state` as it was
    saved after the last handled event. Messages sent meanwhile are dispatched to `on_message` right after.
    """


@hookspec
def on_message(session: Session, message: Item) -> None:
    """Another participant sent a message (`message.content`, `message.content_type`).

    Messages the bot itself sent are never dispatched back to it.
    """


@hookspec
def on_typing(session: Session, event: Item) -> None:
    """Another participant is typing."""


@hookspec
def on_participant_joined(session: Session, event: Item) -> None:
    """A participant joined (`event.participant_role`: AGENT, SUPERVISOR, CUSTOMER, ...)."""


@hookspec
def on_participant_left(session: Session, event: Item) -> None:
    """A participant left or was disconnected."""


@hookspec
def on_attachment(session: Session, attachment: Item) -> None:
    """A participant shared a file; `attachment.attachments` holds its metadata.

    A CUSTOM_BOT may not download attachments (GetAttachment answers AccessDenied).
    """


@hookspec
def on_receipt(session: Session, receipt: Item) -> None:
    """A delivered or read receipt (`receipt.message_metadata`) for a message of the chat."""


@hookspec
def on_transfer(session: Session, event: Item) -> None:
    """The contact was transferred (transfer.succeeded) or a transfer failed (transfer.failed)."""


@hookspec
def on_chat_ended(session: Session, event: Item) -> None:
    """The chat ended for everyone; `on_session_end` follows."""


@hookspec
def on_event(session: Session, event: Item) -> None:
    """Every event of the chat, after its specific hook, including content types botkit does not know yet."""


@hookspec
def on_session_end(session: Session, reason: str) -> None:
    """The session is over: `chat_ended`, `removed` (the bot was disconnected), `left`, `handoff` or `shutdown`.

    `left` follows `session.disconnect()`; `handoff` follows `session.handoff(...)`, once the bot has
    set the contact's attributes and left the contact to the flow.
    """


@hookspec
def on_error(session: Session, error: BaseException, event: Any) -> None:
    """A hook implementation raised or timed out while handling `event` (None outside an event)."""
