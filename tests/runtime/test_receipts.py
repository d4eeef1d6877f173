"""Receipts only between two: a supervisor barges in and the bot falls silent, then resumes when it leaves.

Plus the policy on its own: the throttle's leading edge and trailing newest, and receipts switched off.
"""

from __future__ import annotations

import asyncio
import json
import time
import types
from typing import Any

from botkit import hookimpl
from botkit.connect import vocabulary as v
from botkit.emulator.errors import ServiceError
from botkit.runtime.policies import Receipts, ReceiptSettings
from tests.runtime.harness import Customer, join_human, running_bot

METADATA = "application/vnd.amazonaws.connect.event.message.metadata"


class Echo:
    @hookimpl
    async def on_message(self, session: Any, message: Any) -> None:
        await session.send_message(f"echo: {message.content}")


class ReceiptWatch:
    """Every receipt the bot asks the emulator for, and what the emulator answered: wraps ContactCenter.send_event."""

    def __init__(self, center: Any) -> None:
        self.calls: list[tuple[str, str, str]] = []  # (kind, message id, "ok" or the error code)
        self._changed = asyncio.Condition()
        self._original = center.send_event
        center.send_event = self._send_event

    async def _send_event(self, participant: Any, content_type: str, content: str | None) -> dict[str, Any]:
        if participant.role != v.CUSTOM_BOT or content_type not in (v.EVENT_MESSAGE_DELIVERED, v.EVENT_MESSAGE_READ):
            return await self._original(participant, content_type, content)
        kind = content_type.rsplit(".", 1)[-1]
        message_id = json.loads(content or "{}").get("messageId", "?")
        outcome = "ok"
        try:
            return await self._original(participant, content_type, content)
        except ServiceError as error:
            outcome = error.code
            raise
        finally:
            async with self._changed:
                self.calls.append((kind, message_id, outcome))
                self._changed.notify_all()

    def for_message(self, message_id: str) -> list[tuple[str, str]]:
        return [(kind, outcome) for kind, mid, outcome in self.calls if mid == message_id]

    async def wait_for(self, message_id: str, count: int, timeout: float = 10) -> list[tuple[str, str]]:
        async with asyncio.timeout(timeout):
            async with self._changed:
                await self._changed.wait_for(lambda: len(self.for_message(message_id)) >= count)
        return self.for_message(message_id)


def bot_receipt(items: list[dict[str, Any]], message_id: str, bot_id: str, kind: str = "ReadTimestamp") -> bool:
    """The customer saw a MESSAGEMETADATA item saying the bot received (or read) `message_id`."""
    for item in items:
        metadata = item.get("MessageMetadata") or {}
        if item["Type"] == "MESSAGEMETADATA" and metadata.get("MessageId") == message_id:
            if any(r.get("RecipientParticipantId") == bot_id and kind in r for r in metadata.get("Receipts", [])):
                return True
    return False


async def echoed(customer: Customer, text: str) -> tuple[str, str]:
    """Send `text`, wait for the bot's echo; returns the message's Id and the bot's ParticipantId."""
    message_id = await customer.send(text)
    await customer.wait_for(lambda items: f"echo: {text}" in customer.bot_messages())
    echo = next(i for i in customer.items if i.get("Content") == f"echo: {text}")
    return message_id, echo["ParticipantId"]


async def test_no_receipts_while_a_supervisor_is_barged_in_and_they_resume_after() -> None:
    async with running_bot([Echo()]) as bot:
        watch = ReceiptWatch(bot.emulator.center)
        customer = Customer(bot.emulator.base_url)
        await customer.start()

        # Two participants: receipts flow, with the bot as recipient.
        first, bot_id = await echoed(customer, "first")
        await customer.wait_for(lambda items: bot_receipt(items, first, bot_id, "DeliveredTimestamp"))
        await customer.wait_for(lambda items: bot_receipt(items, first, bot_id, "ReadTimestamp"))
        assert await watch.wait_for(first, 2) == [("delivered", "ok"), ("read", "ok")]

        # A supervisor barges in: three active participants.
        supervisor = await join_human(bot.emulator.base_url, customer.contact_id, "SUPERVISOR", "Sam")
        await customer.wait_for(
            lambda items: any(i.get("ParticipantRole") == "SUPERVISOR" and i["ContentType"].endswith("participant.joined") for i in items)
        )
        during = [await customer.send(f"while watched {n}") for n in range(3)]
        await customer.wait_for(lambda items: all(f"echo: while watched {n}" in customer.bot_messages() for n in range(3)))

        # The supervisor leaves: two again.
        sam = Customer(bot.emulator.base_url)
        await sam.open(supervisor["ParticipantToken"])
        await sam.disconnect()
        await customer.wait_for(
            lambda items: any(i.get("ParticipantRole") == "SUPERVISOR" and i["ContentType"].endswith("participant.left") for i in items)
        )
        after, _ = await echoed(customer, "after")
        await customer.wait_for(lambda items: bot_receipt(items, after, bot_id, "ReadTimestamp"))
        assert await watch.wait_for(after, 2) == [("delivered", "ok"), ("read", "ok")]

        # While the supervisor was there the bot asked for nothing, so the emulator never refused it.
        for message_id in during:
            assert watch.for_message(message_id) == []
            assert not bot_receipt(customer.items, message_id, bot_id, "DeliveredTimestamp")
        assert all(outcome == "ok" for _, _, outcome in watch.calls)
        assert {mid for _, mid, _ in watch.calls} == {first, after}
        await customer.close()
        await sam.close()


async def test_the_emulator_refuses_receipts_with_three_active_so_the_watch_would_see_a_409() -> None:
    """The other half of the barge-in test: had the bot sent a receipt during the barge-in, it would be a 409."""
    async with running_bot([Echo()]) as bot:
        watch = ReceiptWatch(bot.emulator.center)
        customer = Customer(bot.emulator.base_url)
        await customer.start()
        message_id, _ = await echoed(customer, "hello")
        await watch.wait_for(message_id, 2)
        await join_human(bot.emulator.base_url, customer.contact_id, "SUPERVISOR", "Sam")
        session = bot.manager.sessions[customer.contact_id]
        try:
            await session.send_event(v.EVENT_MESSAGE_READ, json.dumps({"messageId": message_id}))
        except Exception as error:  # the bot's own client raises the service's ConflictException
            assert type(error).__name__ == "ConflictException"
        else:
            raise AssertionError("the emulator accepted a receipt with three active participants")
        assert watch.calls[-1] == ("read", message_id, "ConflictException")
        await customer.close()


# The policy on its own ----------------------------------------------------------------------------------


class Sent:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, float]] = []
        self.changed = asyncio.Condition()

    async def __call__(self, kind: str, content: str) -> None:
        async with self.changed:
            self.events.append((kind, json.loads(content)["messageId"], time.monotonic()))
            self.changed.notify_all()

    async def wait_for(self, count: int, timeout: float = 5) -> None:
        async with asyncio.timeout(timeout):
            async with self.changed:
                await self.changed.wait_for(lambda: len(self.events) >= count)

    def ids(self, kind: str = v.EVENT_MESSAGE_DELIVERED) -> list[str]:
        return [mid for k, mid, _ in self.events if k == kind]


async def test_the_throttle_sends_the_first_at_once_and_only_the_newest_at_the_window_end() -> None:
    sent = Sent()
    window = 0.2
    receipts = Receipts(ReceiptSettings(read=False, throttle_seconds=window), sent, lambda: True)
    try:
        started = time.monotonic()
        receipts.delivered("m1")
        await sent.wait_for(1)
        assert sent.ids() == ["m1"]
        assert sent.events[0][2] - started < window  # the leading edge does not wait for the window

        receipts.delivered("m2")
        receipts.delivered("m3")
        await sent.wait_for(2)
        assert sent.ids() == ["m1", "m3"]  # m3 covers m2
        assert sent.events[1][2] - sent.events[0][2] >= window * 0.9

        receipts.delivered("m4")  # inside the next window: waits for its end
        await sent.wait_for(3)
        assert sent.ids() == ["m1", "m3", "m4"]  # m2 never went out, not even late
        assert sent.events[2][2] - sent.events[1][2] >= window * 0.9
    finally:
        receipts.cancel()


async def test_delivered_and_read_have_their_own_windows() -> None:
    sent = Sent()
    receipts = Receipts(ReceiptSettings(throttle_seconds=30), sent, lambda: True)
    try:
        receipts.delivered("m1")
        receipts.read("m1")
        await sent.wait_for(2)
        assert sorted((k, mid) for k, mid, _ in sent.events) == [
            (v.EVENT_MESSAGE_DELIVERED, "m1"),
            (v.EVENT_MESSAGE_READ, "m1"),
        ]
    finally:
        receipts.cancel()


class Consulted:
    """An `allowed` callable that answers as told and lets a test wait until it has been asked `count` times."""

    def __init__(self, answer: bool) -> None:
        self.answer = answer
        self.asked = 0
        self._changed = asyncio.Event()

    def __call__(self) -> bool:
        self.asked += 1
        self._changed.set()
        return self.answer

    async def wait_for(self, count: int, timeout: float = 5) -> None:
        async with asyncio.timeout(timeout):
            while self.asked < count:
                self._changed.clear()
                await self._changed.wait()


async def test_disabled_receipts_send_nothing_while_enabled_ones_do() -> None:
    enabled_sent, off_sent, no_read_sent, refused_sent = Sent(), Sent(), Sent(), Sent()
    refused = Consulted(False)  # more than two participants
    policies = [
        Receipts(ReceiptSettings(throttle_seconds=0), enabled_sent, lambda: True),
        Receipts(ReceiptSettings(enabled=False, throttle_seconds=0), off_sent, lambda: True),
        Receipts(ReceiptSettings(read=False, throttle_seconds=0), no_read_sent, lambda: True),
        Receipts(ReceiptSettings(throttle_seconds=0), refused_sent, refused),
    ]
    try:
        for receipts in policies:
            receipts.delivered("m1")
            receipts.read("m1")
        await enabled_sent.wait_for(2)
        await no_read_sent.wait_for(1)
        await refused.wait_for(2)  # both of its receipts were about to go out, and were held back
        assert [k for k, _, _ in enabled_sent.events] == [v.EVENT_MESSAGE_DELIVERED, v.EVENT_MESSAGE_READ]
        assert off_sent.events == []
        assert [k for k, _, _ in no_read_sent.events] == [v.EVENT_MESSAGE_DELIVERED]
        assert refused_sent.events == []
    finally:
        for receipts in policies:
            receipts.cancel()


async def test_a_receipt_pending_when_a_third_participant_arrives_is_dropped() -> None:
    sent = Sent()
    allowed = Consulted(True)
    receipts = Receipts(ReceiptSettings(read=False, throttle_seconds=0.1), sent, allowed)
    try:
        receipts.delivered("m1")
        await sent.wait_for(1)
        receipts.delivered("m2")  # pending until the window ends
        allowed.answer = False  # a supervisor barged in meanwhile
        receipts.delivered("m3")  # replaces m2 as the pending one
        await allowed.wait_for(2)  # the window ended and the pending receipt was held back
        assert sent.ids() == ["m1"]
        allowed.answer = True  # the supervisor left
        receipts.delivered("m4")
        await sent.wait_for(2)
        assert sent.ids() == ["m1", "m4"]
    finally:
        receipts.cancel()


def test_typing_goes_out_on_the_leading_edge_then_once_per_window(monkeypatch: Any) -> None:
    from botkit.runtime import policies

    now = {"t": 1000.0}
    monkeypatch.setattr(policies, "time", types.SimpleNamespace(monotonic=lambda: now["t"]))  # this module's clock only
    throttle = policies.TypingThrottle(10.0)
    assert throttle.allow()
    now["t"] += 9.9
    assert not throttle.allow()
    now["t"] += 0.1
    assert throttle.allow()
    assert not throttle.allow()
    assert policies.TypingThrottle(0).allow() and policies.TypingThrottle(0).allow()
