"""What every store promises (botkit.store.base), checked on memory, SQLite and the real Redis alike."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable

import pytest

from botkit.connect.secrets import Secret
from botkit.store import ContactRecord, Fenced, Offer, Store, UnsavableState
from tests.store.conftest import Backend

WAIT = 10.0


def record(contact_id: str = "contact-1") -> ContactRecord:
    base = ContactRecord(
        contact_id=contact_id,
        participant_token=Secret("participant-token-value"),
        participant_id="participant-1",
        initial_contact_id="initial-1",
        instance_id="instance-1",
        streaming_id="streaming-1",
    )
    return base.dispatched("item-1", "2026-11-23T20:00:00.000Z", {"counter": 1, "nested": {"list": [1, "two", None]}})


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = WAIT) -> None:
    """Poll `check` until it holds, failing at the deadline: expiry is a matter of the store's clock."""
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "the condition did not hold in time"
        await asyncio.sleep(0.02)


async def test_a_saved_record_loads_back_with_its_owner_and_fence(store: Store) -> None:
    lease = await store.acquire("contact-1", "worker-a")
    assert lease is not None
    saved = record()

    await store.save("contact-1", saved, fence=lease.fence)
    loaded = await store.load("contact-1")

    assert loaded is not None
    assert loaded.participant_token.reveal() == "participant-token-value"
    assert (loaded.owner, loaded.fence) == ("worker-a", lease.fence)
    assert loaded == dataclasses.replace(saved, owner="worker-a", fence=lease.fence)
    assert await store.live_contacts() == ["contact-1"]
    assert await store.load("contact-unknown") is None


async def test_a_later_save_replaces_the_record(store: Store) -> None:
    lease = await store.acquire("contact-1", "worker-a")
    assert lease is not None
    first = record()
    await store.save("contact-1", first, fence=lease.fence)
    second = first.dispatched("item-2", "2026-11-23T20:00:01.000Z", {"counter": 2})
    await store.save("contact-1", second, fence=lease.fence)

    loaded = await store.load("contact-1")

    assert loaded is not None
    assert (loaded.last_item_id, loaded.recent_ids, dict(loaded.state)) == ("item-2", ("item-1", "item-2"), {"counter": 2})


async def test_a_save_without_any_lease_is_fenced(store: Store) -> None:
    with pytest.raises(Fenced):
        await store.save("contact-1", record(), fence=1)
    assert await store.load("contact-1") is None


async def test_a_live_lease_keeps_other_workers_out_and_fences_grow(backend: Backend) -> None:
    a, b = backend.open(), backend.open()
    first = await a.acquire("contact-1", "worker-a")
    assert first is not None

    assert await b.acquire("contact-1", "worker-b") is None
    again = await a.acquire("contact-1", "worker-a")  # the same worker (a restarted process) takes it back at once

    assert again is not None and again.fence > first.fence
    with pytest.raises(Fenced):
        await a.save("contact-1", record(), fence=first.fence)
    await a.save("contact-1", record(), fence=again.fence)


async def test_an_old_owner_is_fenced_once_another_worker_acquires(backend: Backend) -> None:
    a, b = backend.open(), backend.open()
    old = await a.acquire("contact-1", "worker-a", lease_seconds=0.3)
    assert old is not None
    await a.save("contact-1", record(), fence=old.fence)

    new: list[object] = []

    async def taken() -> bool:
        new.append(await b.acquire("contact-1", "worker-b"))
        return new[-1] is not None

    await eventually(taken)
    lease = new[-1]
    assert lease is not None and lease.fence > old.fence  # type: ignore[attr-defined]

    with pytest.raises(Fenced) as refused:
        await a.save("contact-1", record(), fence=old.fence)
    assert refused.value.contact_id == "contact-1" and refused.value.fence == old.fence
    with pytest.raises(Fenced):
        await a.renew(old)
    loaded = await b.load("contact-1")
    assert loaded is not None and loaded.owner == "worker-b"
    await b.save("contact-1", record(), fence=lease.fence)  # type: ignore[attr-defined]


async def test_an_unrenewed_lease_expires_and_the_contact_becomes_an_orphan(backend: Backend) -> None:
    a, b = backend.open(), backend.open()
    lease = await a.acquire("contact-1", "worker-a", lease_seconds=0.4)
    assert lease is not None
    await a.save("contact-1", record(), fence=lease.fence)
    assert await b.orphans() == []
    assert [(held.contact_id, held.worker_id, held.fence) for held in await b.leases()] == [
        ("contact-1", "worker-a", lease.fence)
    ]

    async def orphaned() -> bool:
        return await b.orphans() == ["contact-1"]

    await eventually(orphaned)
    assert await b.leases() == []
    with pytest.raises(Fenced):
        await a.renew(lease)
    assert await b.acquire("contact-1", "worker-b") is not None


async def test_renewal_keeps_a_short_lease_alive(backend: Backend) -> None:
    a, b = backend.open(), backend.open()
    lease = await a.acquire("contact-1", "worker-a", lease_seconds=0.5)
    assert lease is not None
    await a.save("contact-1", record(), fence=lease.fence)
    until = time.monotonic() + 1.5  # three lease lengths, renewed every sixth of one

    while time.monotonic() < until:
        lease = await a.renew(lease)
        assert lease.remaining > 0.3
        assert await b.acquire("contact-1", "worker-b") is None
        assert await b.orphans() == []
        await asyncio.sleep(0.08)

    await a.save("contact-1", record(), fence=lease.fence)


async def test_renew_all_renews_in_one_go_and_reports_the_lost_ones(backend: Backend) -> None:
    a, b = backend.open(), backend.open()
    kept = [await a.acquire(f"contact-{n}", "worker-a") for n in range(5)]
    assert all(kept)
    lost = await a.acquire("contact-lost", "worker-a")
    assert lost is not None
    await a.release(lost)
    assert await b.acquire("contact-lost", "worker-b") is not None

    renewed = await a.renew_all([*kept, lost])  # type: ignore[list-item]

    assert [lease is not None for lease in renewed] == [True] * 5 + [False]
    assert [lease.fence for lease in renewed[:5]] == [lease.fence for lease in kept]  # type: ignore[union-attr]


async def test_release_makes_an_orphan_at_once(backend: Backend) -> None:
    a, b = backend.open(), backend.open()
    lease = await a.acquire("contact-1", "worker-a", lease_seconds=60)
    assert lease is not None
    await a.save("contact-1", record(), fence=lease.fence)

    await a.release(lease)

    assert await b.orphans() == ["contact-1"]
    taken = await b.acquire("contact-1", "worker-b")
    assert taken is not None and taken.fence > lease.fence
    with pytest.raises(Fenced):
        await a.renew(lease)
    await a.release(lease)  # releasing a lost lease does nothing to the new owner's
    assert await b.orphans() == []


async def test_forget_ends_the_contact_and_fences_its_owner(backend: Backend) -> None:
    a, b = backend.open(), backend.open()
    lease = await a.acquire("contact-1", "worker-a")
    assert lease is not None
    await a.save("contact-1", record(), fence=lease.fence)

    await b.forget("contact-1")

    assert await a.load("contact-1") is None
    assert await a.live_contacts() == [] and await a.orphans() == []
    with pytest.raises(Fenced):
        await a.save("contact-1", record(), fence=lease.fence)
    assert await a.load("contact-1") is None
    later = await b.acquire("contact-1", "worker-b")
    assert later is not None and later.fence > lease.fence


async def test_concurrent_acquires_give_exactly_one_owner(backend: Backend) -> None:
    stores = [backend.open(), backend.open()]

    leases = await asyncio.gather(
        *(stores[n % 2].acquire("contact-1", f"worker-{n}") for n in range(10))
    )

    assert len([lease for lease in leases if lease is not None]) == 1


async def test_an_unsavable_state_is_refused_before_anything_is_written(store: Store) -> None:
    lease = await store.acquire("contact-1", "worker-a")
    assert lease is not None
    await store.save("contact-1", record(), fence=lease.fence)
    bad = record().dispatched("item-2", None, {"counter": 2, "seen": {1, 2}})

    with pytest.raises(UnsavableState, match=r"session.state\['seen'\]"):
        await store.save("contact-1", bad, fence=lease.fence)

    loaded = await store.load("contact-1")
    assert loaded is not None and loaded.last_item_id == "item-1"


async def test_heartbeats_list_the_live_workers(backend: Backend) -> None:
    a, b = backend.open(lease_seconds=0.5), backend.open(lease_seconds=0.5)
    await a.heartbeat("worker-a", {"contacts": 3, "url": "http://127.0.0.1:8080"})
    await b.heartbeat("worker-b", {"contacts": 0})

    seen = await a.workers()

    assert [(w.worker_id, dict(w.info)) for w in seen] == [
        ("worker-a", {"contacts": 3, "url": "http://127.0.0.1:8080"}),
        ("worker-b", {"contacts": 0}),
    ]
    assert all(abs(w.seen - time.time()) < 5 for w in seen)
    await b.depart("worker-b")
    assert [w.worker_id for w in await a.workers()] == ["worker-a"]

    async def only_the_beating_one() -> bool:
        await b.heartbeat("worker-c", {})
        return [w.worker_id for w in await a.workers()] == ["worker-c"]

    await eventually(only_the_beating_one)  # worker-a stopped beating and drops out after its 0.5 s


async def test_each_offer_goes_to_exactly_one_of_two_concurrent_claimers(backend: Backend) -> None:
    a, b = backend.open(), backend.open()
    contacts = [f"contact-{n}" for n in range(40)]
    got: dict[str, list[Offer]] = {"worker-a": [], "worker-b": []}

    async def claimer(store: Store, worker_id: str) -> None:
        while sum(len(offers) for offers in got.values()) < len(contacts):
            for offer in await store.claim_offers(worker_id, count=3, wait_seconds=0.2):
                got[worker_id].append(offer)
                await store.ack(offer)

    async def intake() -> None:
        for n, contact_id in enumerate(contacts):
            assert await (a if n % 2 else b).offer(contact_id, {"ContactId": contact_id, "n": n})
            await asyncio.sleep(0)

    await asyncio.wait_for(asyncio.gather(claimer(a, "worker-a"), claimer(b, "worker-b"), intake()), WAIT)

    claimed = [offer.contact_id for offers in got.values() for offer in offers]
    assert sorted(claimed) == sorted(contacts)  # each one, exactly once
    assert all(dict(offer.payload) == {"ContactId": offer.contact_id, "n": int(offer.contact_id[8:])}
               for offers in got.values() for offer in offers)
    assert await a.claim_offers("worker-a") == [] and await b.claim_offers("worker-b") == []


async def test_a_contact_is_offered_once_however_many_workers_offer_it(backend: Backend) -> None:
    a, b = backend.open(), backend.open()

    made = await asyncio.gather(a.offer("contact-1", {"n": 1}), b.offer("contact-1", {"n": 2}), a.offer("contact-1", {}))

    assert sorted(made) == [False, False, True]
    offers = await b.claim_offers("worker-b", count=10)
    assert [offer.contact_id for offer in offers] == ["contact-1"]


async def test_a_waiting_claim_returns_as_soon_as_an_offer_arrives(backend: Backend) -> None:
    a, b = backend.open(), backend.open()
    waiting = asyncio.create_task(a.claim_offers("worker-a", wait_seconds=WAIT))
    done, _ = await asyncio.wait({waiting}, timeout=0.2)
    assert not done  # nothing offered yet: it waits

    await b.offer("contact-1", {})
    offers = await asyncio.wait_for(waiting, WAIT - 1)

    assert [offer.contact_id for offer in offers] == ["contact-1"]


async def test_an_offer_never_acked_goes_to_another_worker_after_the_lease(backend: Backend) -> None:
    a, b = backend.open(lease_seconds=0.4), backend.open(lease_seconds=0.4)
    await a.offer("contact-1", {"n": 1})
    first = await a.claim_offers("worker-a")  # worker-a dies before it acks
    assert [offer.contact_id for offer in first] == ["contact-1"]
    assert await b.claim_offers("worker-b") == []

    again: list[Offer] = []

    async def redelivered() -> bool:
        again.extend(await b.claim_offers("worker-b"))
        return bool(again)

    await eventually(redelivered)
    assert [(offer.contact_id, dict(offer.payload)) for offer in again] == [("contact-1", {"n": 1})]
    await b.ack(again[0])
    assert await a.claim_offers("worker-a", wait_seconds=0.6) == []  # past another lease, an acked one stays gone


async def test_seen_once_is_true_for_the_first_caller_only_until_the_ttl_passes(backend: Backend) -> None:
    a, b = backend.open(), backend.open()

    first = await asyncio.gather(*(store.seen_once("sns:message-1", 0.5) for store in (a, b, a, b)))

    assert sorted(first) == [False, False, False, True]
    assert await a.seen_once("sns:message-2", 60) is True

    async def forgotten() -> bool:
        return await b.seen_once("sns:message-1", 60)

    await eventually(forgotten)
    assert await a.seen_once("sns:message-1", 60) is False


async def test_unsee_lets_the_next_caller_take_the_key_again(backend: Backend) -> None:
    a, b = backend.open(), backend.open()
    assert await a.seen_once("sns:message-1", 60) is True
    await a.unsee("sns:message-1")
    assert await b.seen_once("sns:message-1", 60) is True
    assert await a.seen_once("sns:message-1", 60) is False


async def test_messages_handed_over_reach_their_worker_once_in_order(backend: Backend) -> None:
    sender, owner = backend.open(), backend.open()
    assert await owner.take_handed("worker-b") == []
    for n in range(5):
        await sender.hand_over("worker-b", {"n": n, "text": f"message {n}"})
    await sender.hand_over("worker-c", {"n": 99})

    first = await owner.take_handed("worker-b", count=3)
    rest = await owner.take_handed("worker-b", count=10)

    assert [m["n"] for m in first] == [0, 1, 2] and [m["n"] for m in rest] == [3, 4]
    assert rest[0]["text"] == "message 3"
    assert await owner.take_handed("worker-b", count=10) == []
    assert await owner.take_handed("worker-c", count=10) == [{"n": 99}]


async def test_a_worker_waiting_for_handed_messages_gets_one_handed_meanwhile(backend: Backend) -> None:
    sender, owner = backend.open(), backend.open()
    waiting = asyncio.ensure_future(owner.take_handed("worker-b", wait_seconds=3.0))
    await asyncio.sleep(0)  # usually the take is waiting by now; either way the message must reach it
    await sender.hand_over("worker-b", {"n": 1})
    assert await asyncio.wait_for(waiting, 5) == [{"n": 1}]
