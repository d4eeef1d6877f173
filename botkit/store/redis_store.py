"""The store of many workers: Redis, through redis-py's asyncio client.

Every check-and-write is one Lua script (loaded once, then called by EVALSHA; reloaded after a Redis restart), so
no two workers can interleave between the check and the write. Batch work (renewing all of a worker's leases,
listing orphans, the records the intake waits on) is one pipelined round trip. The client retries on connection
errors with backoff and checks idle connections, so the store carries on after Redis restarts.

Connections. Most calls share a pool of `max_connections` (default 32; `redis://host/0?max_connections=64` sets
it); a call that finds them all busy waits its turn (up to the socket timeout) rather than failing, so a burst of
new contacts queues instead of erroring. The per-event save, the hot path, has a connection of its own and sends
the saves made meanwhile together (redis_batch.py). Each blocking read (a claim waiting for offers, a worker
waiting for messages handed to it) has its own connection too, so a wait in Redis never holds one of the pool's.

A single Redis (or a primary with replicas) is assumed, not Redis Cluster: the scripts touch keys of several
contacts' sets at once. Keys, under `prefix` (default "botkit:"):

    c:<contact>:rec    the record (JSON)                    live       set of contacts with a record
    c:<contact>:own    hash: fence (a counter), worker      c:<contact>:lease   "<fence> <worker>", with PX expiry
    w:<worker>         a worker's heartbeat, with PX expiry workers    sorted set of worker ids (by last beat)
    offers             stream of new contacts, consumer group "workers"
    seen:<key>         SET NX EX marks (seen_once, and offers already made)
    inbox:<worker>     stream of messages handed over to one worker (its only reader), expiring unread
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from botkit.store.base import (
    DEFAULT_LEASE_SECONDS,
    HANDED_SECONDS,
    TOMBSTONE_SECONDS,
    Fenced,
    Lease,
    Offer,
    Store,
    WorkerInfo,
)
from botkit.store.record import ContactRecord
from botkit.store.redis_batch import ScriptBatches

__all__ = ["RedisStore"]

_GROUP = "workers"
_CHUNK = 1000
POOL_CONNECTIONS = 32
"""The pool's size unless the URL says otherwise: one event loop uses a connection only for a round trip, so a
few dozen carry thousands of calls a second; more would only let a burst open more sockets at once."""

# KEYS: own, lease. ARGV: worker, lease ms. A live lease of another worker refuses; otherwise the fence grows.
_ACQUIRE = """
local current = redis.call('GET', KEYS[2])
if current then
    local holder = string.match(current, '^%d+ (.*)$')
    if holder ~= ARGV[1] then return false end
end
local fence = redis.call('HINCRBY', KEYS[1], 'fence', 1)
redis.call('HSET', KEYS[1], 'worker', ARGV[1])
redis.call('HDEL', KEYS[1], 'forgotten')
redis.call('PERSIST', KEYS[1])
redis.call('SET', KEYS[2], fence .. ' ' .. ARGV[1], 'PX', ARGV[2])
return fence
"""

# KEYS: lease. ARGV: "<fence> <worker>", lease ms. Only the live lease with this very fence is extended.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return 1
end
return 0
"""

# KEYS: lease. ARGV: "<fence> <worker>".
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
"""

# KEYS: own, rec, live. ARGV: fence, body, contact id. Written only under the newest fence of a live contact.
_SAVE = """
local own = redis.call('HMGET', KEYS[1], 'fence', 'forgotten')
if own[1] ~= ARGV[1] or own[2] then return 0 end
redis.call('SET', KEYS[2], ARGV[2])
redis.call('SADD', KEYS[3], ARGV[3])
return 1
"""

# KEYS: own, rec, lease, live. ARGV: contact id, tombstone seconds.
_FORGET = """
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('SREM', KEYS[4], ARGV[1])
redis.call('HINCRBY', KEYS[1], 'fence', 1)
redis.call('HSET', KEYS[1], 'forgotten', 1)
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""

# KEYS: seen mark, stream. ARGV: ttl seconds, contact id, payload. The mark and the entry, or neither.
_OFFER = """
if not redis.call('SET', KEYS[1], 1, 'NX', 'EX', ARGV[1]) then return 0 end
redis.call('XADD', KEYS[2], '*', 'contact', ARGV[2], 'payload', ARGV[3])
return 1
"""


class RedisStore(Store):
    """Records, leases, workers and offers in one Redis, shared by every worker."""

    shared = True

    def __init__(
        self, url: str, lease_seconds: float = DEFAULT_LEASE_SECONDS, *, prefix: str = "botkit:"
    ) -> None:
        self.lease_seconds = lease_seconds
        self.prefix = prefix
        self._socket_timeout = max(5.0, lease_seconds)
        self._url = url
        self._options: dict[str, Any] = {
            "decode_responses": True,
            "retry": Retry(ExponentialWithJitterBackoff(base=0.05, cap=1.0), retries=8),
            "retry_on_error": [RedisConnectionError, RedisTimeoutError, ConnectionResetError],
            "health_check_interval": max(1, int(lease_seconds)),
            "socket_connect_timeout": 2.0,
            "socket_timeout": self._socket_timeout,
            "socket_keepalive": True,
            "client_name": "botkit",
        }
        self._pool = BlockingConnectionPool.from_url(
            url, max_connections=POOL_CONNECTIONS, timeout=self._socket_timeout, **self._options
        )
        self._redis = Redis.from_pool(self._pool)
        self._waiting_reads: dict[str, Redis] = {}
        self._acquire = self._redis.register_script(_ACQUIRE)
        self._renew = self._redis.register_script(_RENEW)
        self._release = self._redis.register_script(_RELEASE)
        self._save = ScriptBatches(self._own_connection, _SAVE, timeout=self._socket_timeout)
        self._forget = self._redis.register_script(_FORGET)
        self._offer = self._redis.register_script(_OFFER)
        self._group_ready = False

    def _own_connection(self) -> AbstractConnection:
        """A connection outside the pool, as the pool's are but for the socket timeout: its user bounds each
        exchange whole, so that its reads need no timer each."""
        return self._pool.connection_class(**{**self._pool.connection_kwargs, "socket_timeout": None})

    def _waiting_read(self, purpose: str) -> Redis:
        """The client of one kind of blocking read: a single connection of its own, made when first needed."""
        client = self._waiting_reads.get(purpose)
        if client is None:
            client = self._waiting_reads[purpose] = Redis.from_url(
                self._url, single_connection_client=True, **self._options
            )
        return client

    def _key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    def _contact(self, contact_id: str, what: str) -> str:
        return f"{self.prefix}c:{contact_id}:{what}"

    @property
    def _live(self) -> str:
        return self._key("live")

    # Records

    async def load(self, contact_id: str) -> ContactRecord | None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.get(self._contact(contact_id, "rec"))
            pipe.hmget(self._contact(contact_id, "own"), "worker", "fence")
            body, (owner, fence) = await pipe.execute()
        if body is None:
            return None
        return ContactRecord.from_json(body, owner=owner, fence=int(fence or 0))

    async def save(self, contact_id: str, record: ContactRecord, *, fence: int) -> None:
        body = record.to_json()
        keys = (self._contact(contact_id, "own"), self._contact(contact_id, "rec"), self._live)
        if not await self._save(keys, (fence, body, contact_id)):
            raise Fenced(contact_id, fence)

    async def load_many(self, contact_ids: Sequence[str]) -> list[ContactRecord | None]:
        records: list[ContactRecord | None] = []
        for start in range(0, len(contact_ids), _CHUNK):
            chunk = contact_ids[start : start + _CHUNK]
            async with self._redis.pipeline(transaction=True) as pipe:
                for contact_id in chunk:
                    pipe.get(self._contact(contact_id, "rec"))
                    pipe.hmget(self._contact(contact_id, "own"), "worker", "fence")
                answers = await pipe.execute()
            for body, (owner, fence) in zip(answers[::2], answers[1::2], strict=True):
                records.append(None if body is None else ContactRecord.from_json(body, owner=owner, fence=int(fence or 0)))
        return records

    async def live_contacts(self) -> list[str]:
        return sorted(await self._redis.smembers(self._live))

    async def forget(self, contact_id: str) -> None:
        keys = [self._contact(contact_id, what) for what in ("own", "rec", "lease")] + [self._live]
        await self._forget(keys=keys, args=[contact_id, int(TOMBSTONE_SECONDS)])

    # Ownership

    async def acquire(self, contact_id: str, worker_id: str, lease_seconds: float | None = None) -> Lease | None:
        seconds = self.lease_seconds if lease_seconds is None else lease_seconds
        started = time.monotonic()
        keys = [self._contact(contact_id, "own"), self._contact(contact_id, "lease")]
        fence = await self._acquire(keys=keys, args=[worker_id, _ms(seconds)])
        return None if fence is None else Lease(contact_id, worker_id, int(fence), seconds, started + seconds)

    async def renew(self, lease: Lease) -> Lease:
        started = time.monotonic()
        args = [f"{lease.fence} {lease.worker_id}", _ms(lease.lease_seconds)]
        if not await self._renew(keys=[self._contact(lease.contact_id, "lease")], args=args):
            raise Fenced(lease.contact_id, lease.fence)
        return _extended(lease, started)

    async def renew_all(self, leases: Sequence[Lease]) -> list[Lease | None]:
        started = time.monotonic()
        kept: list[Any] = []
        for start in range(0, len(leases), _CHUNK):
            async with self._redis.pipeline(transaction=False) as pipe:
                for lease in leases[start : start + _CHUNK]:
                    args = [f"{lease.fence} {lease.worker_id}", _ms(lease.lease_seconds)]
                    await self._renew(keys=[self._contact(lease.contact_id, "lease")], args=args, client=pipe)
                kept.extend(await pipe.execute())
        return [_extended(lease, started) if ok else None for lease, ok in zip(leases, kept)]

    async def release(self, lease: Lease) -> None:
        args = [f"{lease.fence} {lease.worker_id}"]
        await self._release(keys=[self._contact(lease.contact_id, "lease")], args=args)

    async def orphans(self) -> list[str]:
        contacts = await self.live_contacts()
        held = await self._many_get([self._contact(contact_id, "lease") for contact_id in contacts])
        return [contact_id for contact_id, lease in zip(contacts, held) if lease is None]

    async def leases(self) -> list[Lease]:
        contacts = await self.live_contacts()
        keys = [self._contact(contact_id, "lease") for contact_id in contacts]
        here = time.monotonic()
        found: list[Lease] = []
        for start in range(0, len(keys), _CHUNK):
            async with self._redis.pipeline(transaction=False) as pipe:
                for key in keys[start : start + _CHUNK]:
                    pipe.get(key)
                    pipe.pttl(key)
                answers = await pipe.execute()
            for contact_id, value, ttl in zip(contacts[start : start + _CHUNK], answers[::2], answers[1::2]):
                if value is not None and ttl > 0:
                    fence, worker_id = value.split(" ", 1)
                    found.append(Lease(contact_id, worker_id, int(fence), self.lease_seconds, here + ttl / 1000))
        return found

    async def _many_get(self, keys: list[str]) -> list[str | None]:
        values: list[str | None] = []
        for start in range(0, len(keys), _CHUNK):
            values.extend(await self._redis.mget(keys[start : start + _CHUNK]))
        return values

    # Workers

    async def heartbeat(self, worker_id: str, info: Mapping[str, Any]) -> None:
        now = time.time()
        text = json.dumps({"info": dict(info), "seen": now})
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.set(self._key("w", worker_id), text, px=_ms(self.lease_seconds))
            pipe.zadd(self._key("workers"), {worker_id: now})
            await pipe.execute()

    async def workers(self) -> list[WorkerInfo]:
        names = await self._redis.zrange(self._key("workers"), 0, -1)
        beats = await self._many_get([self._key("w", name) for name in names])
        gone = [name for name, beat in zip(names, beats) if beat is None]
        if gone:
            await self._redis.zrem(self._key("workers"), *gone)
        alive = [(name, json.loads(beat)) for name, beat in zip(names, beats) if beat is not None]
        return sorted((WorkerInfo(name, beat["info"], beat["seen"]) for name, beat in alive), key=lambda w: w.worker_id)

    async def depart(self, worker_id: str) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(self._key("w", worker_id))
            pipe.zrem(self._key("workers"), worker_id)
            await pipe.execute()

    # Intake of new contacts

    async def offer(self, contact_id: str, payload: Mapping[str, Any]) -> bool:
        keys = [self._key("seen", f"offer:{contact_id}"), self._key("offers")]
        return bool(await self._offer(keys=keys, args=[int(TOMBSTONE_SECONDS), contact_id, json.dumps(dict(payload))]))

    async def _ensure_group(self) -> None:
        """The consumer group, from the stream's start so that offers made before any worker claimed count."""
        if self._group_ready:
            return
        try:
            await self._redis.xgroup_create(self._key("offers"), _GROUP, id="0", mkstream=True)
        except ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise
        self._group_ready = True

    async def claim_offers(self, worker_id: str, *, count: int = 1, wait_seconds: float = 0.0) -> list[Offer]:
        await self._ensure_group()
        stream = self._key("offers")
        try:
            # Offers a dead claimer never acked come back first.
            _, entries, _ = await self._redis.xautoclaim(
                stream, _GROUP, worker_id, min_idle_time=_ms(self.lease_seconds), start_id="0-0", count=count
            )
            if len(entries) < count:
                # A block longer than the socket timeout would read as a dead connection.
                wait = min(wait_seconds, self._socket_timeout - 1)
                block = _ms(wait) if wait > 0 and not entries else None
                client = self._redis if block is None else self._waiting_read("claims")
                answer = await client.xreadgroup(
                    _GROUP, worker_id, {stream: ">"}, count=count - len(entries), block=block
                )
                for _, new in answer or []:
                    entries.extend(new)
        except ResponseError as error:
            if "NOGROUP" not in str(error):  # the stream was deleted under us (a flushed or restarted Redis)
                raise
            self._group_ready = False
            return []
        return [
            Offer(entry_id, fields["contact"], json.loads(fields["payload"]))
            for entry_id, fields in entries
            if fields  # an entry deleted while pending comes back empty
        ]

    async def ack(self, offer: Offer) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.xack(self._key("offers"), _GROUP, offer.offer_id)
            pipe.xdel(self._key("offers"), offer.offer_id)
            await pipe.execute()

    async def seen_once(self, key: str, ttl_seconds: float) -> bool:
        return bool(await self._redis.set(self._key("seen", key), 1, nx=True, px=_ms(ttl_seconds)))

    async def unsee(self, key: str) -> None:
        await self._redis.delete(self._key("seen", key))

    async def hand_over(self, worker_id: str, message: Mapping[str, Any]) -> None:
        inbox = self._key("inbox", worker_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.xadd(inbox, {"body": json.dumps(dict(message))})
            pipe.pexpire(inbox, _ms(HANDED_SECONDS))
            await pipe.execute()

    async def take_handed(self, worker_id: str, *, count: int = 64, wait_seconds: float = 0.0) -> list[Mapping[str, Any]]:
        """One reader per inbox (its worker), so a read then a delete of what was read gives each message once."""
        inbox = self._key("inbox", worker_id)
        wait = min(wait_seconds, self._socket_timeout - 1)  # a longer block would read as a dead connection
        client = self._redis if wait <= 0 else self._waiting_read("handed")
        answer = await client.xread({inbox: "0-0"}, count=count, block=_ms(wait) if wait > 0 else None)
        entries = [entry for _, found in answer or [] for entry in found]
        if not entries:
            return []
        await self._redis.xdel(inbox, *(entry_id for entry_id, _ in entries))
        return [json.loads(fields["body"]) for _, fields in entries if fields]

    async def close(self) -> None:
        await self._save.close()
        for client in self._waiting_reads.values():
            await client.aclose()
        await self._redis.aclose()


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


def _extended(lease: Lease, started: float) -> Lease:
    return Lease(lease.contact_id, lease.worker_id, lease.fence, lease.lease_seconds, started + lease.lease_seconds)
