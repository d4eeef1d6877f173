"""RedisStore's connections under a burst: many contacts' calls at once wait for a pooled connection rather than
fail, and the blocking reads (a claim waiting for offers, a worker waiting for messages handed to it) never hold
one of the pool's connections while they wait."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
import redis
from redis.asyncio.connection import Connection

from botkit.connect.secrets import Secret
from botkit.store import ContactRecord, Fenced, Offer
from botkit.store.redis_batch import ScriptBatches
from botkit.store.redis_store import RedisStore

BURST = 200
WAIT = 30.0


@pytest.fixture
async def opened(redis_url: str) -> AsyncIterator[Callable[[str], RedisStore]]:
    """RedisStores on the tests' Redis under a prefix of this test's own, removed afterwards; the argument is
    appended to the URL (its query: the pool's options)."""
    prefix = f"test:{uuid.uuid4().hex}:"
    stores: list[RedisStore] = []

    def open_one(query: str = "") -> RedisStore:
        store = RedisStore(redis_url + query, 10.0, prefix=prefix)
        stores.append(store)
        return store

    try:
        yield open_one
    finally:
        for store in stores:
            await store.close()
        client = redis.Redis.from_url(redis_url)
        try:
            keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
            if keys:
                client.delete(*keys)
        finally:
            client.close()


async def test_a_burst_of_new_contacts_through_one_store_all_succeed(opened: Callable[[str], RedisStore]) -> None:
    """200 contacts offered, acquired, saved, claimed and acked at once by one worker, as the intake does under a
    burst: each call waits its turn for a connection, none fails for want of one."""
    store = opened("")
    contacts = [f"contact-{n}" for n in range(BURST)]
    claimed: list[Offer] = []

    async def join(contact_id: str) -> int:
        assert await store.offer(contact_id, {"initial_contact_id": contact_id})
        lease = await store.acquire(contact_id, "worker-a")
        assert lease is not None
        joined = ContactRecord(contact_id, Secret(f"token-{contact_id}"), "bot").dispatched("item-1", None, {"n": 1})
        await store.save(contact_id, joined, fence=lease.fence)
        return lease.fence

    async def claim() -> None:
        while len(claimed) < BURST:
            for offer in await store.claim_offers("worker-a", count=8, wait_seconds=1.0):
                await store.ack(offer)
                claimed.append(offer)

    fences, _ = await asyncio.wait_for(
        asyncio.gather(asyncio.gather(*(join(c) for c in contacts)), claim()), WAIT
    )

    assert fences == [1] * BURST
    assert sorted(offer.contact_id for offer in claimed) == sorted(contacts)
    assert await store.live_contacts() == sorted(contacts)
    loaded = await asyncio.gather(*(store.load(c) for c in contacts))
    assert [(r.last_item_id, r.owner) for r in loaded if r is not None] == [("item-1", "worker-a")] * BURST


async def test_blocking_reads_hold_none_of_the_pools_connections(opened: Callable[[str], RedisStore]) -> None:
    """With a pool of one connection, a claim and a take of handed messages both waiting in Redis still leave that
    connection to everything else: the offer and the hand-over made meanwhile reach the two waiting reads."""
    store = opened("?max_connections=1")
    claiming = asyncio.create_task(store.claim_offers("worker-a", wait_seconds=WAIT / 2))
    taking = asyncio.create_task(store.take_handed("worker-a", wait_seconds=WAIT / 2))
    done, _ = await asyncio.wait({claiming, taking}, timeout=0.2)
    assert not done  # nothing offered nor handed yet: both wait

    lease = await store.acquire("contact-1", "worker-a")
    assert lease is not None
    await store.save("contact-1", ContactRecord("contact-1", Secret("token"), "bot"), fence=lease.fence)
    assert await store.offer("contact-1", {"initial_contact_id": "contact-1"})
    await store.hand_over("worker-a", {"message_id": "m-1"})

    offers, handed = await asyncio.wait_for(asyncio.gather(claiming, taking), WAIT)
    assert [offer.contact_id for offer in offers] == ["contact-1"]
    assert handed == [{"message_id": "m-1"}]


async def test_saves_sent_together_each_get_their_own_answer(opened: Callable[[str], RedisStore]) -> None:
    """Saves made at once go out in one batch; a stale fence among them is refused alone, and a caller that gave
    up waiting leaves the others' answers as they are."""
    store, other_worker = opened(""), opened("")
    leases = [await store.acquire(f"contact-{n}", "worker-a") for n in range(20)]
    assert all(lease is not None for lease in leases)
    taken = await other_worker.acquire("contact-7", "worker-a")  # a newer fence: worker-a's older one is stale
    assert taken is not None

    def save(n: int) -> asyncio.Task[None]:
        lease = leases[n]
        assert lease is not None
        saved = ContactRecord(lease.contact_id, Secret("token"), "bot").dispatched(f"item-{n}", None, {"n": n})
        return asyncio.create_task(store.save(lease.contact_id, saved, fence=lease.fence))

    saves = [save(n) for n in range(20)]
    await asyncio.sleep(0)  # every save is queued for the batch by now: its caller gives up while it waits
    saves[3].cancel()
    outcomes = await asyncio.wait_for(asyncio.gather(*saves, return_exceptions=True), WAIT)

    assert isinstance(outcomes[7], Fenced) and isinstance(outcomes[3], asyncio.CancelledError)
    assert [n for n, outcome in enumerate(outcomes) if outcome is not None] == [3, 7]
    loaded = await store.load_many([f"contact-{n}" for n in range(20)])
    assert [None if r is None else dict(r.state) for n, r in enumerate(loaded) if n != 3] == [
        None if n == 7 else {"n": n} for n in range(20) if n != 3
    ]


def test_the_batched_call_is_packed_as_redis_py_packs_it() -> None:
    """The per-event EVALSHA is packed by hand: byte for byte what redis-py's packer sends, non-ASCII text too."""
    connection = Connection()
    batches = ScriptBatches(lambda: connection, "return 1", timeout=1.0)
    keys, args = ["botkit:c:é:own", "botkit:c:é:rec", "botkit:live"], [12, '{"state":{"name":"Zoë 🙂"}}', "é"]

    packed = batches._packed(keys, args)

    sha = hashlib.sha1(b"return 1").hexdigest()
    assert packed == b"".join(connection.pack_command("EVALSHA", sha, len(keys), *keys, *args))
