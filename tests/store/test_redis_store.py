"""RedisStore on a redis-server of the test's own, which the test restarts under it."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from botkit.connect.secrets import Secret
from botkit.store import ContactRecord, Fenced, open_store
from botkit.store.redis_store import RedisStore
from tests.store.redis_server import RedisServer


async def test_the_store_carries_on_after_redis_restarts(tmp_path: Path) -> None:
    server = RedisServer(tmp_path, durable=True).start()
    store = open_store({"url": server.url, "lease_seconds": 30})
    assert isinstance(store, RedisStore)
    try:
        lease = await store.acquire("contact-1", "worker-a")
        assert lease is not None
        first = ContactRecord("contact-1", Secret("token")).dispatched("item-1", None, {"counter": 1})
        await store.save("contact-1", first, fence=lease.fence)

        server.stop()
        server.start()  # same port and directory: the append-only file brings the data back; scripts are gone

        lease = await store.renew(lease)  # the first call after the restart: a new connection, scripts reloaded
        await store.save("contact-1", first.dispatched("item-2", None, {"counter": 2}), fence=lease.fence)
        loaded = await store.load("contact-1")
        assert loaded is not None and (loaded.last_item_id, dict(loaded.state)) == ("item-2", {"counter": 2})
        assert await store.seen_once("sns:after-restart", 60) is True
    finally:
        await store.close()
        server.stop()


async def test_a_call_made_while_redis_is_down_succeeds_once_it_is_back(tmp_path: Path) -> None:
    server = RedisServer(tmp_path, durable=True).start()
    store = open_store(server.url)
    try:
        lease = await store.acquire("contact-1", "worker-a")
        assert lease is not None
        server.stop()

        started = time.monotonic()
        pending = asyncio.create_task(store.save("contact-1", ContactRecord("contact-1", Secret("t")), fence=lease.fence))
        done, _ = await asyncio.wait({pending}, timeout=0.3)
        assert not done  # retrying, with backoff, rather than failing at once
        await asyncio.to_thread(server.start)
        await asyncio.wait_for(pending, 15)

        assert time.monotonic() - started < 15
        loaded = await store.load("contact-1")
        assert loaded is not None and loaded.fence == lease.fence
    finally:
        await store.close()
        server.stop()


async def test_a_restart_that_lost_everything_fences_the_old_owner(tmp_path: Path) -> None:
    """A Redis without persistence forgets every fence: an old lease's save must not recreate the record."""
    server = RedisServer(tmp_path).start()
    store = open_store(server.url)
    try:
        lease = await store.acquire("contact-1", "worker-a")
        assert lease is not None
        server.stop()
        server.start()

        try:
            await store.save("contact-1", ContactRecord("contact-1", Secret("t")), fence=lease.fence)
        except Fenced:
            pass
        else:
            raise AssertionError("a save under a fence Redis no longer knows was accepted")
        assert await store.load("contact-1") is None
    finally:
        await store.close()
        server.stop()
