"""This worker's ownership of its contacts: a name, a heartbeat, and a lease per contact kept alive together.

One task beats for the worker and renews every lease in one `renew_all` every third of the store's
`lease_seconds`. A lease the store no longer grants (another worker took the contact) is reported to
`on_lost`, which stops that session without sending. While the store cannot be reached the leases are not
renewed; a session checks `valid` before it acts, so once a lease's own deadline passes it acts no more until
the store answers again (renewed: it goes on; refused: it stops).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from botkit.runtime import metrics
from botkit.store import Fenced, Lease, Store

log = logging.getLogger(__name__)

T = TypeVar("T")

RETRY_PAUSE = 0.25
"""Seconds between attempts while the store does not answer."""


def new_worker_id(store: Store) -> str:
    """Unique per process on a shared store (host, pid, a random part). On SQLite, one machine runs one bot
    process per file, so the id is the host's alone: a restarted process takes its contacts back at once,
    without waiting for the dead one's leases to expire."""
    host = socket.gethostname()
    if type(store).__name__ == "SqliteStore":
        return f"{host}/sqlite"
    return f"{host}/{os.getpid()}/{uuid.uuid4().hex[:8]}"


async def timed(operation: str, call: Awaitable[T]) -> T:
    """A store call, timed into botkit_store_seconds; a failure other than Fenced is counted."""
    started = time.perf_counter()
    try:
        return await call
    except Fenced:
        raise
    except Exception:
        metrics.STORE_FAILURES.labels(operation).inc()
        raise
    finally:
        metrics.STORE_SECONDS.labels(operation).observe(time.perf_counter() - started)


class Ownership:
    """The leases this worker holds, renewed together, and its heartbeat."""

    def __init__(
        self,
        store: Store,
        worker_id: str,
        *,
        on_lost: Callable[[str], None],
        info: Callable[[], Mapping[str, Any]],
    ) -> None:
        self.store = store
        self.worker_id = worker_id
        self.leases: dict[str, Lease] = {}
        self._on_lost = on_lost
        self._info = info
        self._task: asyncio.Task[None] | None = None

    @property
    def interval(self) -> float:
        return self.store.lease_seconds / 3

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._keep(), name="botkit-ownership")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def acquire(self, contact_id: str) -> Lease | None:
        lease = await timed("acquire", self.store.acquire(contact_id, self.worker_id))
        if lease is not None:
            self._hold(lease)
        return lease

    def valid(self, contact_id: str) -> bool:
        """Whether this worker may still act for the contact, by its own clock."""
        lease = self.leases.get(contact_id)
        return lease is not None and lease.valid_until > time.monotonic()

    def lease(self, contact_id: str) -> Lease | None:
        return self.leases.get(contact_id)

    async def renew(self, contact_id: str) -> Lease:
        """Renew one lease now (a session about to act on a lease that is running out); Fenced when lost."""
        lease = self.leases.get(contact_id)
        if lease is None:
            raise Fenced(contact_id, 0)
        try:
            renewed = await timed("renew", self.store.renew(lease))
        except Fenced:
            self.drop(contact_id)
            raise
        if contact_id in self.leases:
            self.leases[contact_id] = renewed
        return renewed

    def drop(self, contact_id: str) -> None:
        """Stop holding the contact here (the store was told, or refused it)."""
        if self.leases.pop(contact_id, None) is not None:
            metrics.LEASES_HELD.set(len(self.leases))

    async def release(self, contact_id: str) -> None:
        """Give the contact up at once: another worker takes it without waiting for the lease to expire."""
        lease = self.leases.pop(contact_id, None)
        metrics.LEASES_HELD.set(len(self.leases))
        if lease is not None:
            try:
                await timed("release", self.store.release(lease))
            except Exception as error:  # the lease then expires on its own
                log.warning("contact %s: could not release its lease: %s", contact_id, type(error).__name__)

    async def depart(self) -> None:
        try:
            await timed("depart", self.store.depart(self.worker_id))
        except Exception as error:
            log.warning("could not remove this worker from the store: %s", type(error).__name__)

    def _hold(self, lease: Lease) -> None:
        self.leases[lease.contact_id] = lease
        metrics.LEASES_HELD.set(len(self.leases))

    async def _keep(self) -> None:
        while True:
            try:
                await self.beat()
                await asyncio.sleep(self.interval)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("store unreachable (%s); leases not renewed, retrying", type(error).__name__)
                await asyncio.sleep(RETRY_PAUSE)

    async def beat(self) -> None:
        """One heartbeat and one renewal of every lease; lost ones go to `on_lost`."""
        await timed("heartbeat", self.store.heartbeat(self.worker_id, self._info()))
        held = list(self.leases.values())
        if not held:
            return
        renewed = await timed("renew_all", self.store.renew_all(held))
        for old, new in zip(held, renewed, strict=True):
            if self.leases.get(old.contact_id) is not old:
                continue  # released, dropped or renewed meanwhile
            if new is None:
                self.drop(old.contact_id)
                self._on_lost(old.contact_id)
            else:
                self.leases[old.contact_id] = new
