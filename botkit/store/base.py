"""The one interface every store implements, and the small values it hands back.

How the runtime is meant to use it (the store itself enforces only the fencing):

- A worker names itself with a `worker_id` unique to the process (host, pid and a random part) and calls
  `heartbeat(worker_id, info)` every `lease_seconds / 3`; `workers()` lists the ones alive, `depart()` removes
  one at once on a clean shutdown.
- Before it acts on a contact, a worker `acquire`s its lease. The Lease carries a fencing token, an integer that
  grows with every acquire of that contact. Every `save` passes the token; a save under a token older than the
  newest one raises `Fenced`, and the session must then stop without sending anything more.
- The owner `renew`s (or `renew_all`, one round trip for all its contacts) every `lease_seconds / 3`. A renew that
  raises `Fenced` (or gives None in `renew_all`) means another worker took the contact. A worker that cannot reach
  the store must stop acting once `Lease.valid_until` (its own monotonic clock, measured conservatively) passes.
- After each handled event the session saves `record.dispatched(...)`; the event counts as done once `save`
  returns. When the chat ends the owner calls `forget`. On a clean shutdown it `release`s its leases, and the
  contacts are at once `orphans()`, which other workers `acquire` and resume from `load`.
- New contacts go through the work queue: whichever worker receives the contact-flow call `offer`s it (the
  store drops a second offer of the same contact), workers with room `claim_offers`, acquire the lease and then
  `ack`. An offer claimed but not acked within `lease_seconds` (its claimer died) is handed to another claimer.
- `seen_once(key, ttl)` is true for the first caller only, across workers: SNS MessageId dedup. `unsee(key)`
  drops the mark again, when the work it guarded failed and must be taken by a retry.
- `hand_over(worker_id, message)` queues a message for one worker (an SNS notification for a contact it owns,
  received by another); the owner `take_handed`s its own, each once.

Times are seconds. Wall-clock expiry is judged by the store (Redis's own clock; SQLite's and memory's host clock).
"""

from __future__ import annotations

import abc
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from botkit.store.record import ContactRecord

__all__ = ["DEFAULT_LEASE_SECONDS", "HANDED_SECONDS", "Fenced", "Lease", "Offer", "Store", "StoreError", "WorkerInfo"]

DEFAULT_LEASE_SECONDS = 10.0
HANDED_SECONDS = 3_600.0
"""How long messages handed to a worker that never takes them (it died) are kept: its contacts are resumed
elsewhere from the transcript, so nothing depends on them after that."""
TOMBSTONE_SECONDS = 86_400.0
"""How long a forgotten contact's fencing counter is kept, so that a late save by an old owner is still refused and
a new acquire still gets a larger token; contact ids are never reused, so a day is plenty."""


class StoreError(Exception):
    """A store operation that could not be done."""


class Fenced(StoreError):
    """The caller's fencing token is stale: another worker acquired the contact since. Stop; send nothing more."""

    def __init__(self, contact_id: str, fence: int) -> None:
        super().__init__(f"contact {contact_id}: fencing token {fence} is stale; another worker owns it now")
        self.contact_id = contact_id
        self.fence = fence


@dataclass(frozen=True, slots=True)
class Lease:
    """A worker's ownership of a contact. `fence` orders the owners; `valid_until` is on the holder's own
    time.monotonic() clock, taken from before the store was asked, so it never runs past the store's expiry."""

    contact_id: str
    worker_id: str
    fence: int
    lease_seconds: float
    valid_until: float

    @property
    def remaining(self) -> float:
        """Seconds left before the holder must assume the lease lost (negative once it has)."""
        return self.valid_until - time.monotonic()


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """A live worker as its last heartbeat described it; `seen` is the store's wall-clock time of that beat."""

    worker_id: str
    info: Mapping[str, Any]
    seen: float


@dataclass(frozen=True, slots=True)
class Offer:
    """A new contact waiting for a worker: `payload` is what the intake received (JSON-serialisable).
    `offer_id` identifies this delivery to `ack`."""

    offer_id: str
    contact_id: str
    payload: Mapping[str, Any] = field(hash=False)


class Store(abc.ABC):
    """Where sessions' durable facts live. Async throughout; every method may be called from one event loop by
    many sessions at once. See the module docstring for the protocol the runtime follows."""

    lease_seconds: float = DEFAULT_LEASE_SECONDS
    shared: bool = False
    """True when other processes see the same data (SQLite, Redis): the runtime then resumes and hands over."""

    # Records

    @abc.abstractmethod
    async def load(self, contact_id: str) -> ContactRecord | None:
        """The contact's last saved record, with `owner` (the last worker to acquire it) and `fence` (the newest
        fencing token) filled in; None if there is none."""

    @abc.abstractmethod
    async def save(self, contact_id: str, record: ContactRecord, *, fence: int) -> None:
        """Store `record` if `fence` is still the contact's newest fencing token, else raise Fenced.

        The record is encoded before the first await, so the caller may change `session.state` right after the
        call; an UnsavableState error is raised there, before anything is written. The contact becomes live.
        """

    async def load_many(self, contact_ids: Sequence[str]) -> list[ContactRecord | None]:
        """`load` for many contacts, in one round trip where the store can; None in place of each unknown one."""
        return [await self.load(contact_id) for contact_id in contact_ids]

    @abc.abstractmethod
    async def live_contacts(self) -> list[str]:
        """Contacts with a record that were not forgotten."""

    @abc.abstractmethod
    async def forget(self, contact_id: str) -> None:
        """The chat ended: drop the record and the lease, and make every lease handed out so far stale."""

    # Ownership

    @abc.abstractmethod
    async def acquire(self, contact_id: str, worker_id: str, lease_seconds: float | None = None) -> Lease | None:
        """A lease with a new, larger fencing token, or None while another worker's lease is live.

        A live lease of the same `worker_id` is taken over with a new token, so a restarted single process that
        keeps its worker id resumes its contacts at once.
        """

    @abc.abstractmethod
    async def renew(self, lease: Lease) -> Lease:
        """The lease extended by its `lease_seconds`; Fenced once it is no longer live: it expired, was released,
        or the contact was forgotten or acquired by another worker. (A save under an expired lease that nobody
        acquired since is still accepted: only a newer token fences.)"""

    async def renew_all(self, leases: Sequence[Lease]) -> list[Lease | None]:
        """`renew` for many leases, in one round trip where the store can; None in place of each lost lease."""
        renewed: list[Lease | None] = []
        for lease in leases:
            try:
                renewed.append(await self.renew(lease))
            except Fenced:
                renewed.append(None)
        return renewed

    @abc.abstractmethod
    async def release(self, lease: Lease) -> None:
        """Give the contact up at once (clean shutdown): it is an orphan now. A lost lease is ignored."""

    @abc.abstractmethod
    async def orphans(self) -> list[str]:
        """Live contacts nobody holds: their lease expired or was released."""

    @abc.abstractmethod
    async def leases(self) -> list[Lease]:
        """Every live lease, for `botkit status` (whose contacts each worker owns)."""

    # Workers

    @abc.abstractmethod
    async def heartbeat(self, worker_id: str, info: Mapping[str, Any]) -> None:
        """Say the worker is alive for the next `lease_seconds`; `info` (JSON) is shown by `workers()`."""

    @abc.abstractmethod
    async def workers(self) -> list[WorkerInfo]:
        """Workers whose last heartbeat is younger than `lease_seconds`."""

    @abc.abstractmethod
    async def depart(self, worker_id: str) -> None:
        """Remove the worker from `workers()` at once (clean shutdown)."""

    # Intake of new contacts

    @abc.abstractmethod
    async def offer(self, contact_id: str, payload: Mapping[str, Any]) -> bool:
        """Queue a new contact for some worker; False (and nothing queued) if it was offered before."""

    @abc.abstractmethod
    async def claim_offers(self, worker_id: str, *, count: int = 1, wait_seconds: float = 0.0) -> list[Offer]:
        """Up to `count` offers, each delivered to one claimer only; waits up to `wait_seconds` for the first.

        Offers claimed by another worker more than `lease_seconds` ago and never acked come back first.
        """

    @abc.abstractmethod
    async def ack(self, offer: Offer) -> None:
        """The offer is taken care of (its lease is acquired): it is never delivered again."""

    # Dedup

    @abc.abstractmethod
    async def seen_once(self, key: str, ttl_seconds: float) -> bool:
        """True for the first caller with `key` within `ttl_seconds`, False for every later one (any worker)."""

    @abc.abstractmethod
    async def unsee(self, key: str) -> None:
        """Forget `key`'s mark, so that the next `seen_once(key, ...)` is true again."""

    # Hand-over between workers

    @abc.abstractmethod
    async def hand_over(self, worker_id: str, message: Mapping[str, Any]) -> None:
        """Queue `message` (JSON-serialisable) for `worker_id`. Once this returns the message is stored, so the
        sender may answer for it; it is kept for HANDED_SECONDS if never taken."""

    @abc.abstractmethod
    async def take_handed(self, worker_id: str, *, count: int = 64, wait_seconds: float = 0.0) -> list[Mapping[str, Any]]:
        """Up to `count` messages handed to `worker_id`, oldest first, each given out once (they are removed);
        waits up to `wait_seconds` for the first."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Let go of connections and threads; the store is unusable afterwards."""

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
