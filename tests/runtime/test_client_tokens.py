"""Replies get ClientTokens derived from (contact, triggering item, ordinal): a replayed event never sends twice."""

from __future__ import annotations

from typing import Any

from botkit import hookimpl
from botkit.connect.models import Item, SendResult
from botkit.connect.secrets import Secret
from botkit.plugins import new_plugin_manager
from botkit.runtime.dispatch import Dispatcher
from botkit.runtime.session import Session


class RecordingClient:
    """Stands in for the participant client: records each send's ClientToken."""

    def __init__(self) -> None:
        self.tokens: list[str] = []

    async def send_message(self, token: Secret, content: str, content_type: str, *, client_token: str) -> SendResult:
        self.tokens.append(client_token)
        return SendResult(id=f"sent-{len(self.tokens)}", absolute_time="2026-11-23T00:00:00.000Z")


class TwoReplies:
    @hookimpl
    async def on_message(self, session: Any, message: Any) -> None:
        await session.send_message("first")
        await session.send_message("second")


def customer_message(item_id: str) -> Item:
    return Item.from_wire(
        {"Id": item_id, "Type": "MESSAGE", "ContentType": "text/plain", "Content": "hi",
         "ParticipantId": "customer", "ParticipantRole": "CUSTOMER"}
    )


async def handle_in_a_fresh_session(contact_id: str, item: Item) -> list[str]:
    """What one process would send for `item`: a new session each time, as after a crash and a replay."""
    client = RecordingClient()
    manager = new_plugin_manager()
    manager.register(TwoReplies(), name="two-replies")
    dispatcher = Dispatcher(manager)
    session = Session(contact_id, Secret("participant"), client, dispatcher, participant_id="bot")  # type: ignore[arg-type]
    session.connected(Secret("connection"))
    await session._handle(item)
    await dispatcher.close()
    return client.tokens


async def test_a_replayed_event_sends_the_same_tokens() -> None:
    first = await handle_in_a_fresh_session("contact-1", customer_message("item-1"))
    replay = await handle_in_a_fresh_session("contact-1", customer_message("item-1"))
    assert len(first) == 2 and first[0] != first[1]
    assert replay == first
    assert all(0 < len(token) <= 500 for token in first)


async def test_another_event_or_contact_gets_other_tokens() -> None:
    base = await handle_in_a_fresh_session("contact-1", customer_message("item-1"))
    other_item = await handle_in_a_fresh_session("contact-1", customer_message("item-2"))
    other_contact = await handle_in_a_fresh_session("contact-2", customer_message("item-1"))
    assert not set(base) & set(other_item)
    assert not set(base) & set(other_contact)
