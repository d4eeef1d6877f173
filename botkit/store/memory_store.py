"""The store of a single process: today's behaviour, nothing survives the process.

It still keeps real leases and fences, so the runtime runs the same code on every store and the conformance
tests hold for this one too. Every method runs without an await inside, so each is atomic on the event loop.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

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

__all__ = ["MemoryStore"]


@dataclass(slots=True)
class _Ownership:
    fence: int
    worker_id: str = ""  # the last acquirer, kept after a release to stamp its saves
    expires: float = 0.0  # time.monotonic()
    held: bool = False

    def live(self, now: float) -> bool:
        return self.held and self.expires > now


@dataclass(slots=True)
class _Claim:
    offer: Offer
    worker_id: str | None = None
    claimed: float = 0.0


class MemoryStore(Store):
    """Records, leases and offers in dictionaries of this process."""

    def __init__(self, lease_seconds: float = DEFAULT_LEASE_SECONDS) -> None:
        self.lease_seconds = lease_seconds
        self._records: dict[str, str] = {}
        self._owners: dict[str, _Ownership] = {}
        self._forgotten: dict[str, float] = {}
        self._workers: dict[str, tuple[str, float, float]] = {}
        self._offers: OrderedDict[str, _Claim] = OrderedDict()
        self._offered: dict[str, float] = {}
        self._seen: dict[str, float] = {}
        self._offer_ids = itertools.count(1)
        self._offer_arrived = asyncio.Event()
        self._handed: dict[str, list[tuple[float, str]]] = {}
        self._handed_arrived = asyncio.Event()

    async def load(self, contact_id: str) -> ContactRecord | None:
        text = self._records.get(contact_id)
        if text is None:
            return None
        ownership = self._owners.get(contact_id)
        if ownership is None:
            return ContactRecord.from_json(text)
        return ContactRecord.from_json(text, owner=ownership.worker_id or None, fence=ownership.fence)

    async def save(self, contact_id: str, record: ContactRecord, *, fence: int) -> None:
        text = record.to_json()
        ownership = self._owners.get(contact_id)
        if ownership is None or ownership.fence != fence or contact_id in self._forgotten:
            raise Fenced(contact_id, fence)
        self._records[contact_id] = text

    async def live_contacts(self) -> list[str]:
        return list(self._records)

    async def forget(self, contact_id: str) -> None:
        now = time.monotonic()
        self._records.pop(contact_id, None)
        ownership = self._owners.setdefault(contact_id, _Ownership(0))
        ownership.fence += 1
        ownership.held = False
        self._forgotten[contact_id] = now + TOMBSTONE_SECONDS
        for gone in [c for c, until in self._forgotten.items() if until < now]:
            del self._forgotten[gone]
            self._owners.pop(gone, None)

    async def acquire(self, contact_id: str, worker_id: str, lease_seconds: float | None = None) -> Lease | None:
        seconds = self.lease_seconds if lease_seconds is None else lease_seconds
        now = time.monotonic()
        ownership = self._owners.get(contact_id)
        if ownership is None:
            ownership = self._owners[contact_id] = _Ownership(0)
        elif ownership.worker_id != worker_id and ownership.live(now):
            return None
        self._forgotten.pop(contact_id, None)
        ownership.fence += 1
        ownership.worker_id, ownership.expires, ownership.held = worker_id, now + seconds, True
        return Lease(contact_id, worker_id, ownership.fence, seconds, now + seconds)

    async def renew(self, lease: Lease) -> Lease:
        now = time.monotonic()
        ownership = self._owners.get(lease.contact_id)
        if ownership is None or ownership.fence != lease.fence or not ownership.live(now):
            raise Fenced(lease.contact_id, lease.fence)
        ownership.expires = now + lease.lease_seconds
        return Lease(lease.contact_id, lease.worker_id, lease.fence, lease.lease_seconds, now + lease.lease_seconds)

    async def release(self, lease: Lease) -> None:
        ownership = self._owners.get(lease.contact_id)
        if ownership is not None and ownership.fence == lease.fence:
            ownership.held = False

    async def orphans(self) -> list[str]:
        now = time.monotonic()
        return [
            contact_id
            for contact_id in self._records
            if (owner := self._owners.get(contact_id)) is None or not owner.live(now)
        ]

    async def leases(self) -> list[Lease]:
        now = time.monotonic()
        return [
            Lease(contact_id, owner.worker_id, owner.fence, self.lease_seconds, owner.expires)
            for contact_id, owner in self._owners.items()
            if owner.live(now)
        ]

    async def heartbeat(self, worker_id: str, info: Mapping[str, Any]) -> None:
        self._workers[worker_id] = (json.dumps(dict(info)), time.time(), time.monotonic() + self.lease_seconds)

    async def workers(self) -> list[WorkerInfo]:
        now = time.monotonic()
        for gone in [w for w, (_, _, until) in self._workers.items() if until <= now]:
            del self._workers[gone]
        return [WorkerInfo(w, json.loads(info), seen) for w, (info, seen, _) in self._workers.items()]

    async def depart(self, worker_id: str) -> None:
        self._workers.pop(worker_id, None)

    async def offer(self, contact_id: str, payload: Mapping[str, Any]) -> bool:
        if not await self.seen_once(f"offer:{contact_id}", TOMBSTONE_SECONDS):
            return False
        offer_id = str(next(self._offer_ids))
        self._offers[offer_id] = _Claim(Offer(offer_id, contact_id, json.loads(json.dumps(dict(payload)))))
        self._offer_arrived.set()
        return True

    async def claim_offers(self, worker_id: str, *, count: int = 1, wait_seconds: float = 0.0) -> list[Offer]:
        deadline = time.monotonic() + wait_seconds
        while True:
            claimed = self._claim(worker_id, count)
            remaining = deadline - time.monotonic()
            if claimed or remaining <= 0:
                return claimed
            self._offer_arrived.clear()
            try:
                await asyncio.wait_for(self._offer_arrived.wait(), min(remaining, self.lease_seconds))
            except TimeoutError:
                continue

    def _claim(self, worker_id: str, count: int) -> list[Offer]:
        now = time.monotonic()
        taken: list[Offer] = []
        for claim in self._offers.values():
            if len(taken) >= count:
                break
            if claim.worker_id is None or claim.claimed + self.lease_seconds <= now:
                claim.worker_id, claim.claimed = worker_id, now
                taken.append(claim.offer)
        return taken

    async def ack(self, offer: Offer) -> None:
        self._offers.pop(offer.offer_id, None)

    async def seen_once(self, key: str, ttl_seconds: float) -> bool:
        now = time.monotonic()
        if (until := self._seen.get(key)) is not None and until > now:
            return False
        self._seen[key] = now + ttl_seconds
        if len(self._seen) % 1024 == 0:
            for gone in [k for k, until in self._seen.items() if until <= now]:
                del self._seen[gone]
        return True

    async def unsee(self, key: str) -> None:
        self._seen.pop(key, None)

    async def hand_over(self, worker_id: str, message: Mapping[str, Any]) -> None:
        now = time.monotonic()
        queue = self._handed.setdefault(worker_id, [])
        queue[:] = [entry for entry in queue if entry[0] > now]
        queue.append((now + HANDED_SECONDS, json.dumps(dict(message))))
        self._handed_arrived.set()

    async def take_handed(self, worker_id: str, *, count: int = 64, wait_seconds: float = 0.0) -> list[Mapping[str, Any]]:
        deadline = time.monotonic() + wait_seconds
        while True:
            queue = self._handed.get(worker_id, [])
            now = time.monotonic()
            taken = [text for until, text in queue[:count] if until > now]
            if queue:
                del queue[:count]
            remaining = deadline - now
            if taken or remaining <= 0:
                return [json.loads(text) for text in taken]
            self._handed_arrived.clear()
            try:
                await asyncio.wait_for(self._handed_arrived.wait(), remaining)
            except TimeoutError:
                continue

    async def close(self) -> None:
        self._offer_arrived.set()
