"""Many workers on one store: new contacts through the store's queue, and contacts nobody owns taken up.

Intake. Whichever worker receives a contact (`POST /contact-flow`, from a load balancer or from every
worker's webhook on the emulator) `offer`s it; the store keeps one offer per contact, so one session is started
however many workers heard of it. Workers with room `claim_offers` one at a time and join the contact under
its lease. The receiving worker answers once the contact's record names its participant (its own join
resolves at once; another worker's is read from the store), so every worker answers the one bot participant.
The records of all the contacts a worker's intake waits on are read together, in one round trip every
`ANSWER_POLL`, so that a burst of new contacts does not become a storm of reads.

Least loaded. A worker whose load (its sessions) is at or below the live workers' average (from their
heartbeats), or that is the least loaded, claims at once, up to `CLAIM_BATCH` offers; one above the average
while a less loaded worker lives waits `PAUSE_PER_CONTACT` per contact over the average (at most `MAX_PAUSE`)
and claims one, so that the less loaded claim first while no offer waits long, and a worker left alone is not
slowed.

Takeover. At start a worker takes back every live contact it can acquire (on SQLite, its own after a restart);
then, every third of the lease, it takes up the orphans: contacts whose owner died (its lease expired) or
departed (released at shutdown). Each resumes from its record (runtime/persistence.py).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from botkit.runtime import metrics
from botkit.runtime.manager import CapacityExceeded, OwnedElsewhere, SessionManager
from botkit.runtime.ownership import RETRY_PAUSE, Ownership, timed
from botkit.runtime.session import Session
from botkit.store import Offer, Store

log = logging.getLogger(__name__)

PAUSE_PER_CONTACT = 0.01
MAX_PAUSE = 0.5
CLAIM_BATCH = 8
CLAIM_WAIT = 1.0
"""Seconds one claim waits for an offer; the loop then looks at its load again."""
ANSWER_POLL = 0.05
"""Seconds between reads of the waiting contacts' records while other workers join them."""
DEFAULT_JOIN_SECONDS = 6.0
TAKE_AT_ONCE = 32
"""Orphans acquired and resumed concurrently: a dead worker's thousand contacts are not taken one round trip
at a time, nor all at once against the store and Amazon Connect."""


@dataclass(frozen=True, slots=True)
class JoinedElsewhere:
    """The intake's answer for a contact another worker joined: its one bot participant."""

    contact_id: str
    participant_id: str | None


class Fleet:
    """This worker's part among the workers sharing a store."""

    def __init__(self, manager: SessionManager, ownership: Ownership, *, max_sessions: int) -> None:
        self._manager = manager
        self._ownership = ownership
        self._store: Store = ownership.store
        self._max_sessions = max_sessions
        self._average_load = 0.0
        self._least_other_load: float | None = None
        self._taking: set[str] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._joins: set[asyncio.Task[None]] = set()
        self._waiters: dict[str, asyncio.Future[Session | JoinedElsewhere]] = {}
        self._answering: asyncio.Task[None] | None = None

    @property
    def load(self) -> int:
        return len(self._manager.sessions)

    async def start(self) -> None:
        """Take back the live contacts this worker can acquire, then keep taking offers and orphans."""
        await self._take_up(await timed("live_contacts", self._store.live_contacts()))
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._claim_offers(), name="botkit-claims"),
            loop.create_task(self._watch_orphans(), name="botkit-orphans"),
        ]
        self._manager.intake = self.intake

    async def stop(self, grace: float) -> None:
        """Take nothing more: no offer, no orphan. Offers being joined finish and are acked (within `grace`), so
        that their contacts are released with the others, not left to come back after lease_seconds."""
        self._manager.intake = None
        tasks = [*self._tasks, *([self._answering] if self._answering is not None else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks, self._answering = [], None
        if self._joins:
            await asyncio.wait(list(self._joins), timeout=grace)

    # Intake -------------------------------------------------------------------------------

    async def intake(self, contact_id: str, initial_contact_id: str | None, timeout: float | None) -> Any:
        """Offer the contact to the workers and answer once one has joined it (within `timeout`)."""
        seconds = DEFAULT_JOIN_SECONDS if timeout is None else timeout
        loop = asyncio.get_running_loop()
        waiter = self._waiters.get(contact_id)
        if waiter is None:
            waiter = self._waiters[contact_id] = loop.create_future()
        try:
            async with asyncio.timeout(seconds + 1.0):
                await timed(
                    "offer",
                    self._store.offer(contact_id, {"initial_contact_id": initial_contact_id, "timeout": seconds}),
                )
                if self._answering is None or self._answering.done():
                    self._answering = loop.create_task(self._answer_joins(), name="botkit-join-answers")
                await asyncio.wait([waiter])  # not cancelled on a timeout: another intake may share it
                return waiter.result()
        finally:
            if self._waiters.get(contact_id) is waiter and not waiter.done():
                waiter.cancel()
            self._waiters.pop(contact_id, None)

    async def _answer_joins(self) -> None:
        """Resolve the intake's waiters of contacts another worker joined: their records, read together."""
        while self._waiters:
            await asyncio.sleep(ANSWER_POLL)
            waiting = [contact_id for contact_id, waiter in self._waiters.items() if not waiter.done()]
            if not waiting:
                continue
            try:
                records = await timed("load", self._store.load_many(waiting))
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the intake's own deadline bounds the wait
                log.warning("could not read the records of contacts being joined (%s); retrying", type(error).__name__)
                continue
            for contact_id, record in zip(waiting, records, strict=True):
                waiter = self._waiters.get(contact_id)
                if waiter is not None and not waiter.done() and record is not None and record.participant_id is not None:
                    waiter.set_result(JoinedElsewhere(contact_id, record.participant_id))

    async def _claim_offers(self) -> None:
        while True:
            try:
                if self.load >= self._max_sessions:
                    await asyncio.sleep(CLAIM_WAIT)
                    continue
                pause = self._pause()
                if pause:
                    await asyncio.sleep(pause)
                count = 1 if pause else min(CLAIM_BATCH, self._max_sessions - self.load)
                offers = await timed(
                    "claim", self._store.claim_offers(self._ownership.worker_id, count=count, wait_seconds=CLAIM_WAIT)
                )
                for offer in offers:
                    self._spawn(self._take_offer(offer))
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("could not claim new contacts (%s); retrying", type(error).__name__)
                await asyncio.sleep(RETRY_PAUSE)

    def _pause(self) -> float:
        over = self.load - self._average_load
        if over <= 0 or self._least_other_load is None or self._least_other_load >= self.load:
            return 0.0
        return min(MAX_PAUSE, PAUSE_PER_CONTACT * over)

    def _spawn(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._joins.add(task)
        task.add_done_callback(self._joins.discard)

    async def _take_offer(self, offer: Offer) -> None:
        """Join the offered contact under its lease, then ack.

        A lease held by another worker with no record saved is a join under way, or one whose worker died
        mid-join: it is tried again until that lease has had time to run out (the holder, if alive, has saved
        by then). A contact with a record has its session somewhere: the offer is only acked. An offer not acked
        (no room here) comes back to a claimer after lease_seconds.
        """
        contact_id = offer.contact_id
        timeout = float(offer.payload.get("timeout") or DEFAULT_JOIN_SECONDS)
        initial = offer.payload.get("initial_contact_id")
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self._store.lease_seconds + self._ownership.interval
        while True:
            try:
                session = await self._manager.join_here(contact_id, initial, timeout=timeout)
            except OwnedElsewhere:
                if await timed("load", self._store.load(contact_id)) is not None or loop.time() > give_up:
                    break
                await asyncio.sleep(self._ownership.interval / 2)
                continue
            except CapacityExceeded as error:
                log.info("contact %s: offer left for another worker: %s", contact_id, error)
                return
            except Exception as error:
                log.warning("contact %s: could not join an offered contact: %s", contact_id, type(error).__name__)
                break
            log.info("contact %s: joined from the offer queue", contact_id)
            waiter = self._waiters.get(contact_id)
            if waiter is not None and not waiter.done():
                waiter.set_result(session)
            break
        try:
            await timed("ack", self._store.ack(offer))
        except Exception as error:  # it comes back to a claimer after lease_seconds, who finds it owned
            log.warning("contact %s: could not ack its offer: %s", contact_id, type(error).__name__)

    # Takeover -------------------------------------------------------------------------------

    async def _watch_orphans(self) -> None:
        while True:
            try:
                await asyncio.sleep(self._ownership.interval)
                workers = await timed("workers", self._store.workers())
                others = [float(w.info.get("sessions", 0)) for w in workers if w.worker_id != self._ownership.worker_id]
                self._average_load = (sum(others) + self.load) / (len(others) + 1)
                self._least_other_load = min(others) if others else None
                await self._take_up(await timed("orphans", self._store.orphans()))
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("could not look for orphaned contacts (%s); retrying", type(error).__name__)

    async def _take_up(self, contact_ids: Iterable[str]) -> None:
        """Acquire and resume each contact nobody else holds, while there is room; shuffled, so that workers
        taking up the same orphans at once mostly try different ones first."""
        candidates = [c for c in contact_ids if c not in self._manager.sessions and c not in self._ownership.leases]
        random.shuffle(candidates)
        for start in range(0, len(candidates), TAKE_AT_ONCE):
            room = self._max_sessions - self.load
            batch = [c for c in candidates[start : start + TAKE_AT_ONCE] if c not in self._taking][: max(room, 0)]
            if not batch:
                return
            self._taking.update(batch)
            try:
                await asyncio.gather(*(self._take_one(c) for c in batch))
            finally:
                self._taking.difference_update(batch)

    async def _take_one(self, contact_id: str) -> None:
        if contact_id in self._manager.sessions or await self._ownership.acquire(contact_id) is None:
            return
        try:
            record = await timed("load", self._store.load(contact_id))
        except Exception:
            await self._ownership.release(contact_id)
            raise
        if record is None:  # forgotten meanwhile: the chat ended
            self._ownership.drop(contact_id)
            return
        self._manager.resume(record)
        metrics.TAKEOVERS.labels("resumed").inc()
        log.info("contact %s: taken up from the store", contact_id)
