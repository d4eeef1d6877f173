"""The store of one machine: a SQLite file in WAL mode, so a restarted bot finds its chats again.

sqlite3 blocks, so every statement runs on one thread of this store's own (a connection is used by one thread
at a time, and one writer is all SQLite allows anyway); the event loop only awaits it. Several processes may
share the file: each check-and-write is one IMMEDIATE transaction, which SQLite serialises across processes.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

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

__all__ = ["SqliteStore"]

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (contact_id TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS owners (
    contact_id TEXT PRIMARY KEY, fence INTEGER NOT NULL, worker_id TEXT NOT NULL, expires REAL NOT NULL,
    held INTEGER NOT NULL, forgotten REAL
);
CREATE TABLE IF NOT EXISTS workers (worker_id TEXT PRIMARY KEY, info TEXT NOT NULL, seen REAL NOT NULL);
CREATE TABLE IF NOT EXISTS offers (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, contact_id TEXT NOT NULL, payload TEXT NOT NULL,
    worker_id TEXT, claimed REAL
);
CREATE TABLE IF NOT EXISTS seen (key TEXT PRIMARY KEY, expires REAL NOT NULL);
CREATE TABLE IF NOT EXISTS handed (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, worker_id TEXT NOT NULL, body TEXT NOT NULL, expires REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS handed_by_worker ON handed (worker_id, seq);
"""

_sightings = itertools.count(1)
_BUSY_SECONDS = 30.0
_LOCKED_RETRY_SECONDS = 0.02
_POLL_SECONDS = 0.05
"""How often a waiting `claim_offers` (or `take_handed`) looks again: other processes' offers raise no signal in this one."""


class SqliteStore(Store):
    """Records, leases and offers in a SQLite file shared by the processes of one machine."""

    shared = True

    def __init__(self, path: str | Path, lease_seconds: float = DEFAULT_LEASE_SECONDS) -> None:
        self.path = Path(path)
        self.lease_seconds = lease_seconds
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="botkit-sqlite")
        self._db: sqlite3.Connection | None = None
        self._offer_arrived = asyncio.Event()

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, self._in_thread, work)

    def _in_thread(self, work: Callable[[sqlite3.Connection], T]) -> T:
        if self._db is None:
            self._db = self._open()
        return work(self._db)

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, isolation_level=None, timeout=_BUSY_SECONDS)
        _retry_while_locked(lambda: db.execute("PRAGMA journal_mode=WAL"))
        db.execute("PRAGMA synchronous=NORMAL")  # in WAL mode: a committed save survives the process being killed
        _retry_while_locked(lambda: db.executescript(_SCHEMA))
        return db

    # Records

    async def load(self, contact_id: str) -> ContactRecord | None:
        row = await self._run(
            lambda db: db.execute(
                "SELECT r.body, o.worker_id, o.fence FROM records r LEFT JOIN owners o USING (contact_id)"
                " WHERE r.contact_id = ?",
                (contact_id,),
            ).fetchone()
        )
        if row is None:
            return None
        body, owner, fence = row
        return ContactRecord.from_json(body, owner=owner, fence=fence or 0)

    async def save(self, contact_id: str, record: ContactRecord, *, fence: int) -> None:
        body = record.to_json()

        def write(db: sqlite3.Connection) -> bool:
            # One statement: the fence check and the write are one atomic step.
            cursor = db.execute(
                "INSERT INTO records (contact_id, body) SELECT ?, ? WHERE EXISTS"
                " (SELECT 1 FROM owners WHERE contact_id = ? AND fence = ? AND forgotten IS NULL)"
                " ON CONFLICT (contact_id) DO UPDATE SET body = excluded.body",
                (contact_id, body, contact_id, fence),
            )
            return cursor.rowcount == 1

        if not await self._run(write):
            raise Fenced(contact_id, fence)

    async def live_contacts(self) -> list[str]:
        rows = await self._run(lambda db: db.execute("SELECT contact_id FROM records").fetchall())
        return [contact_id for (contact_id,) in rows]

    async def forget(self, contact_id: str) -> None:
        def forget(db: sqlite3.Connection) -> None:
            now = time.time()
            with _transaction(db):
                db.execute("DELETE FROM records WHERE contact_id = ?", (contact_id,))
                db.execute(
                    "INSERT INTO owners (contact_id, fence, worker_id, expires, held, forgotten) VALUES (?, 1, '', 0, 0, ?)"
                    " ON CONFLICT (contact_id) DO UPDATE SET fence = fence + 1, held = 0, forgotten = excluded.forgotten",
                    (contact_id, now),
                )
                db.execute("DELETE FROM owners WHERE forgotten < ?", (now - TOMBSTONE_SECONDS,))

        await self._run(forget)

    # Ownership

    async def acquire(self, contact_id: str, worker_id: str, lease_seconds: float | None = None) -> Lease | None:
        seconds = self.lease_seconds if lease_seconds is None else lease_seconds
        started = time.monotonic()

        def acquire(db: sqlite3.Connection) -> int | None:
            now = time.time()
            with _transaction(db):
                row = db.execute(
                    "SELECT fence, worker_id, expires, held FROM owners WHERE contact_id = ?", (contact_id,)
                ).fetchone()
                if row is not None and row[1] != worker_id and row[3] and row[2] > now:
                    return None
                fence = (row[0] if row else 0) + 1
                db.execute(
                    "INSERT OR REPLACE INTO owners (contact_id, fence, worker_id, expires, held, forgotten)"
                    " VALUES (?, ?, ?, ?, 1, NULL)",
                    (contact_id, fence, worker_id, now + seconds),
                )
                return fence

        fence = await self._run(acquire)
        return None if fence is None else Lease(contact_id, worker_id, fence, seconds, started + seconds)

    def _renew(self, db: sqlite3.Connection, lease: Lease) -> bool:
        now = time.time()
        return (
            db.execute(
                "UPDATE owners SET expires = ? WHERE contact_id = ? AND fence = ? AND held = 1 AND expires > ?",
                (now + lease.lease_seconds, lease.contact_id, lease.fence, now),
            ).rowcount
            == 1
        )

    async def renew(self, lease: Lease) -> Lease:
        started = time.monotonic()
        if not await self._run(lambda db: self._renew(db, lease)):
            raise Fenced(lease.contact_id, lease.fence)
        return _extended(lease, started)

    async def renew_all(self, leases: Sequence[Lease]) -> list[Lease | None]:
        started = time.monotonic()

        def renew_all(db: sqlite3.Connection) -> list[bool]:
            with _transaction(db):
                return [self._renew(db, lease) for lease in leases]

        kept = await self._run(renew_all)
        return [_extended(lease, started) if ok else None for lease, ok in zip(leases, kept)]

    async def release(self, lease: Lease) -> None:
        await self._run(
            lambda db: db.execute(
                "UPDATE owners SET held = 0 WHERE contact_id = ? AND fence = ?", (lease.contact_id, lease.fence)
            )
        )

    async def orphans(self) -> list[str]:
        rows = await self._run(
            lambda db: db.execute(
                "SELECT r.contact_id FROM records r LEFT JOIN owners o USING (contact_id)"
                " WHERE o.contact_id IS NULL OR o.held = 0 OR o.expires <= ?",
                (time.time(),),
            ).fetchall()
        )
        return [contact_id for (contact_id,) in rows]

    async def leases(self) -> list[Lease]:
        now, here = time.time(), time.monotonic()
        rows = await self._run(
            lambda db: db.execute(
                "SELECT contact_id, worker_id, fence, expires FROM owners WHERE held = 1 AND expires > ?", (now,)
            ).fetchall()
        )
        return [Lease(c, w, f, self.lease_seconds, here + expires - now) for c, w, f, expires in rows]

    # Workers

    async def heartbeat(self, worker_id: str, info: Mapping[str, Any]) -> None:
        text = json.dumps(dict(info))
        await self._run(
            lambda db: db.execute(
                "INSERT OR REPLACE INTO workers (worker_id, info, seen) VALUES (?, ?, ?)", (worker_id, text, time.time())
            )
        )

    async def workers(self) -> list[WorkerInfo]:
        def alive(db: sqlite3.Connection) -> list[tuple[str, str, float]]:
            with _transaction(db):
                db.execute("DELETE FROM workers WHERE seen <= ?", (time.time() - self.lease_seconds,))
                return db.execute("SELECT worker_id, info, seen FROM workers ORDER BY worker_id").fetchall()

        return [WorkerInfo(w, json.loads(info), seen) for w, info, seen in await self._run(alive)]

    async def depart(self, worker_id: str) -> None:
        await self._run(lambda db: db.execute("DELETE FROM workers WHERE worker_id = ?", (worker_id,)))

    # Intake of new contacts

    async def offer(self, contact_id: str, payload: Mapping[str, Any]) -> bool:
        text = json.dumps(dict(payload))

        def offer(db: sqlite3.Connection) -> bool:
            with _transaction(db):
                if not _first_sighting(db, f"offer:{contact_id}", TOMBSTONE_SECONDS):
                    return False
                db.execute("INSERT INTO offers (contact_id, payload) VALUES (?, ?)", (contact_id, text))
                return True

        queued = await self._run(offer)
        if queued:
            self._offer_arrived.set()
        return queued

    async def claim_offers(self, worker_id: str, *, count: int = 1, wait_seconds: float = 0.0) -> list[Offer]:
        deadline = time.monotonic() + wait_seconds

        def claim(db: sqlite3.Connection) -> list[tuple[int, str, str]]:
            now = time.time()
            return db.execute(
                "UPDATE offers SET worker_id = ?, claimed = ? WHERE seq IN (SELECT seq FROM offers"
                " WHERE worker_id IS NULL OR claimed <= ? ORDER BY seq LIMIT ?) RETURNING seq, contact_id, payload",
                (worker_id, now, now - self.lease_seconds, count),
            ).fetchall()

        while True:
            self._offer_arrived.clear()
            rows = await self._run(claim)
            remaining = deadline - time.monotonic()
            if rows or remaining <= 0:
                return [Offer(str(seq), contact_id, json.loads(payload)) for seq, contact_id, payload in sorted(rows)]
            try:
                await asyncio.wait_for(self._offer_arrived.wait(), min(remaining, _POLL_SECONDS))
            except TimeoutError:
                continue

    async def ack(self, offer: Offer) -> None:
        await self._run(lambda db: db.execute("DELETE FROM offers WHERE seq = ?", (int(offer.offer_id),)))

    async def seen_once(self, key: str, ttl_seconds: float) -> bool:
        def check(db: sqlite3.Connection) -> bool:
            with _transaction(db):
                return _first_sighting(db, key, ttl_seconds)

        return await self._run(check)

    async def unsee(self, key: str) -> None:
        await self._run(lambda db: db.execute("DELETE FROM seen WHERE key = ?", (key,)))

    async def hand_over(self, worker_id: str, message: Mapping[str, Any]) -> None:
        body = json.dumps(dict(message))

        def insert(db: sqlite3.Connection) -> None:
            now = time.time()
            with _transaction(db):
                db.execute("DELETE FROM handed WHERE expires <= ?", (now,))
                db.execute(
                    "INSERT INTO handed (worker_id, body, expires) VALUES (?, ?, ?)",
                    (worker_id, body, now + HANDED_SECONDS),
                )

        await self._run(insert)

    async def take_handed(self, worker_id: str, *, count: int = 64, wait_seconds: float = 0.0) -> list[Mapping[str, Any]]:
        deadline = time.monotonic() + wait_seconds

        def take(db: sqlite3.Connection) -> list[tuple[int, str]]:
            return db.execute(
                "DELETE FROM handed WHERE seq IN (SELECT seq FROM handed WHERE worker_id = ? AND expires > ?"
                " ORDER BY seq LIMIT ?) RETURNING seq, body",
                (worker_id, time.time(), count),
            ).fetchall()

        while True:
            rows = await self._run(take)
            remaining = deadline - time.monotonic()
            if rows or remaining <= 0:
                return [json.loads(body) for _, body in sorted(rows)]
            await asyncio.sleep(min(remaining, _POLL_SECONDS))

    async def close(self) -> None:
        def close(db: sqlite3.Connection) -> None:
            db.close()

        if self._db is not None:
            await self._run(close)
            self._db = None
        self._thread.shutdown(wait=True)
        self._offer_arrived.set()


class _transaction:
    """BEGIN IMMEDIATE ... COMMIT: takes the write lock first, so a read-then-write cannot interleave with
    another process's (a deferred transaction would fail with SQLITE_BUSY on upgrade instead)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        self._db.execute("COMMIT" if kind is None else "ROLLBACK")


def _first_sighting(db: sqlite3.Connection, key: str, ttl_seconds: float) -> bool:
    now = time.time()
    if next(_sightings) % 1000 == 0:  # now and then, drop the marks that ran out
        db.execute("DELETE FROM seen WHERE expires <= ?", (now,))
    cursor = db.execute(
        "INSERT INTO seen (key, expires) VALUES (?, ?)"
        " ON CONFLICT (key) DO UPDATE SET expires = excluded.expires WHERE seen.expires <= ?",
        (key, now + ttl_seconds, now),
    )
    return cursor.rowcount == 1


def _extended(lease: Lease, started: float) -> Lease:
    return Lease(lease.contact_id, lease.worker_id, lease.fence, lease.lease_seconds, started + lease.lease_seconds)


def _retry_while_locked(statement: Callable[[], object]) -> None:
    """Run a setup statement again while another process holds the file.

    SQLite answers "database is locked" at once, without its busy timeout, where waiting could deadlock: turning
    a file to WAL, or creating tables, while another process writes. Such a writer ends soon, so wait it out here
    (on the store's thread, never the event loop).
    """
    deadline = time.monotonic() + _BUSY_SECONDS
    while True:
        try:
            statement()
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(_LOCKED_RETRY_SECONDS)
