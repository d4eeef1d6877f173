"""The relay alone, on the memory store: a MessageId taken once across workers, a notification handed to the
contact's owner, and one that could not be handed over left for SNS's retry."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from botkit.connect.secrets import Secret
from botkit.runtime.ownership import Ownership
from botkit.runtime.relay import Relay
from botkit.runtime.streaming import Delivery
from botkit.store import ContactRecord, MemoryStore, StoreError
from tests.runtime.test_streaming import Control, Feed, hub, item


class BrokenHandOver(MemoryStore):
    async def hand_over(self, worker_id: str, message: Mapping[str, Any]) -> None:
        raise StoreError("the store is down")


def relay(store: MemoryStore, worker_id: str) -> Relay:
    ownership = Ownership(store, worker_id, on_lost=lambda contact_id: None, info=dict)
    return Relay(hub(Control()), ownership)


async def owned_by(store: MemoryStore, worker_id: str, contact_id: str) -> None:
    lease = await store.acquire(contact_id, worker_id)
    assert lease is not None
    await store.save(contact_id, ContactRecord(contact_id, Secret("participant-token")), fence=lease.fence)


async def test_a_notification_for_another_workers_contact_is_handed_to_it_once() -> None:
    store = MemoryStore()
    await owned_by(store, "worker-b", "c-1")
    a, b = relay(store, "worker-a"), relay(store, "worker-b")

    assert await a.deliver("m-1", item("i-1")) is Delivery.HANDED
    assert await b.deliver("m-1", item("i-1")) is Delivery.DUPLICATE  # the same message, SNS's copy to worker b
    handed = await store.take_handed("worker-b")
    assert [(m["message_id"], m["item"]["Id"]) for m in handed] == [("m-1", "i-1")]
    assert await store.take_handed("worker-a") == []


async def test_a_notification_for_a_contact_served_here_is_fed_here() -> None:
    store = MemoryStore()
    await owned_by(store, "worker-b", "c-1")
    here = relay(store, "worker-a")
    transport = here._streaming.opener("c-1", Secret("participant-token"))(Feed())
    assert await here.deliver("m-1", item("i-1")) is Delivery.QUEUED
    await transport.close(final=False)
    assert await store.take_handed("worker-b") == []


async def test_a_notification_that_could_not_be_handed_over_is_taken_again_on_sns_retry() -> None:
    store = BrokenHandOver()
    await owned_by(store, "worker-b", "c-1")
    a = relay(store, "worker-a")
    with pytest.raises(StoreError):
        await a.deliver("m-1", item("i-1"))  # the route answers 500: SNS delivers it again
    assert await store.seen_once("sns:m-1", 60) is True  # the mark was dropped, so the retry is taken
