"""Saving a session after each handled event, and what a resumed session starts from.

A Keeper is one session's link to the store: the record it saves, and its owner's lease. The session asks it
before it handles an event (`may_handle`: is the lease still ours?), before each send (`may_act`), and after
each event (`done`: the record, with `session.state`, saved under the lease's fencing token; the event counts
as done once that returns). A save the store refuses (Fenced) means another worker owns the contact now: the
session stops without sending anything more.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from botkit.runtime import metrics
from botkit.runtime.dispatch import current_plugin
from botkit.runtime.ownership import RETRY_PAUSE, Ownership, timed
from botkit.store import ContactRecord, Fenced, UnsavableState, encode_state

log = logging.getLogger(__name__)

_SAVE_SECONDS = metrics.STORE_SECONDS.labels("save")


class LeaseLost(Exception):
    """This worker no longer owns the contact (its lease ran out or another worker took it): it must not act."""

    def __init__(self, contact_id: str) -> None:
        super().__init__(f"contact {contact_id}: this worker no longer holds its lease; nothing is sent")


class SessionState(dict[str, Any]):
    """`session.state`: a plain dict that remembers which plugin set each key, so that a value the store cannot
    save is reported with the plugin that put it there. Reads are the dict's own."""

    __slots__ = ("setters",)

    def __init__(self, initial: Mapping[str, Any] | None = None) -> None:
        super().__init__(initial or {})
        self.setters: dict[str, str | None] = {}

    def __setitem__(self, key: str, value: Any) -> None:
        self.setters[key] = current_plugin.get()
        super().__setitem__(key, value)

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key not in self:
            self.setters[key] = current_plugin.get()
        return super().setdefault(key, default)

    def update(self, other: Any = (), /, **more: Any) -> None:
        plugin = current_plugin.get()
        pairs: Iterable[tuple[Any, Any]] = other.items() if isinstance(other, Mapping) else other
        for key, value in (*pairs, *more.items()):
            self.setters[key] = plugin
            super().__setitem__(key, value)

    def __ior__(self, other: Any) -> SessionState:  # type: ignore[override,misc]
        self.update(other)
        return self

    def plugin_of(self, key: str) -> str | None:
        return self.setters.get(key)


class Keeper:
    """One session's record and lease in the store."""

    def __init__(self, ownership: Ownership, record: ContactRecord, *, resumed: bool) -> None:
        self.ownership = ownership
        self.record = record
        self.resumed = resumed and record.started
        """Whether on_session_resume runs rather than on_session_start: a session whose start never finished
        (its worker died first) starts again, its sends under the same ClientTokens."""
        self.taken_up = resumed
        self.contact_id = record.contact_id
        self._margin = ownership.store.lease_seconds / 3
        self._unsavable: set[str] = set()

    def may_act(self) -> bool:
        return self.ownership.valid(self.contact_id)

    async def may_handle(self) -> bool:
        """Before an event: True while the lease is ours. A lease running low (the renewals are behind: a paused
        process, a slow store) is renewed first; False once the store says another worker has the contact."""
        lease = self.ownership.lease(self.contact_id)
        if lease is None:
            return False
        if lease.remaining > self._margin:
            return True
        while True:
            try:
                await self.ownership.renew(self.contact_id)
                return True
            except Fenced:
                return False
            except Exception as error:
                log.warning("contact %s: cannot renew its lease (%s); waiting for the store",
                            self.contact_id, type(error).__name__)
                await asyncio.sleep(RETRY_PAUSE)

    async def done(self, item_id: str, absolute_time: str | None, state: SessionState) -> Exception | None:
        """Save after an event; raises Fenced when another worker owns the contact. Waits while the store is down.

        Returns an UnsavableState (once per key) when `state` cannot be saved: the event then counts as done
        without it (the store keeps the last good state), and the caller reports it to the plugins' on_error.
        """
        record = self.record.dispatched(item_id, absolute_time, state)
        while True:
            lease = self.ownership.lease(self.contact_id)
            if lease is None:
                raise Fenced(self.contact_id, 0)
            try:
                await self._save(record, lease.fence)
                self.record = record
                return None
            except Fenced:
                self.ownership.drop(self.contact_id)
                raise
            except UnsavableState:
                return self._unsavable_state(state)
            except Exception as error:
                log.warning("contact %s: could not save (%s); retrying", self.contact_id, type(error).__name__)
                await asyncio.sleep(RETRY_PAUSE)

    async def _save(self, record: ContactRecord, fence: int) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            await self.ownership.store.save(self.contact_id, record, fence=fence)
        finally:
            _SAVE_SECONDS.observe(loop.time() - started)

    def _unsavable_state(self, state: SessionState) -> Exception | None:
        try:
            encode_state(state, state.plugin_of)
        except UnsavableState as error:
            if error.key in self._unsavable:
                return None
            self._unsavable.add(error.key)
            log.error("contact %s: %s; the state is saved without this change until it is fixed", self.contact_id, error)
            return error
        return None

    async def started(self, state: SessionState) -> None:
        """on_session_start has run: saved, so that a worker taking the contact up runs on_session_resume."""
        record = dataclasses.replace(self.record, started=True, state=state)
        while True:
            lease = self.ownership.lease(self.contact_id)
            if lease is None:
                raise Fenced(self.contact_id, 0)
            try:
                await self._save(record, lease.fence)
                self.record = record
                return
            except Fenced:
                self.ownership.drop(self.contact_id)
                raise
            except UnsavableState:
                self._unsavable_state(state)
                record = dataclasses.replace(record, state=self.record.state)
            except Exception as error:
                log.warning("contact %s: could not save (%s); retrying", self.contact_id, type(error).__name__)
                await asyncio.sleep(RETRY_PAUSE)

    async def first_save(self) -> None:
        """The record as joined (token, participant id), before the session starts: any worker can resume it."""
        lease = self.ownership.lease(self.contact_id)
        if lease is None:
            raise Fenced(self.contact_id, 0)
        await timed("save", self.ownership.store.save(self.contact_id, self.record, fence=lease.fence))

    async def finish(self, reason: str) -> None:
        """The session ended: the chat is over (forget the contact), or it is left for another worker (release)."""
        if reason == "fenced":
            self.ownership.drop(self.contact_id)
            return
        if reason == "abandoned":
            await self.ownership.release(self.contact_id)
            return
        self.ownership.drop(self.contact_id)
        try:
            await timed("forget", self.ownership.store.forget(self.contact_id))
        except Exception as error:
            log.warning("contact %s: could not forget the ended contact: %s", self.contact_id, type(error).__name__)
