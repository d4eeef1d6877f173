"""The sessions of one bot process: joining contacts, running their sessions, and stopping them all."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from botkit.connect.client import ParticipantClient
from botkit.connect.control import ControlPlaneClient
from botkit.connect.secrets import Secret
from botkit.runtime import metrics
from botkit.runtime.dispatch import Dispatcher
from botkit.runtime.session import Session, SessionSettings

log = logging.getLogger(__name__)


class CapacityExceeded(Exception):
    """This process already carries its `max_sessions`; another worker should take the contact."""


class NotACustomBot(Exception):
    """A handed-in token is not the contact's custom bot (a customer's or an agent's): the bot will not use it."""


class SessionManager:
    def __init__(
        self,
        participant_client: ParticipantClient,
        control_client: ControlPlaneClient,
        dispatcher: Dispatcher,
        *,
        instance_id: str,
        display_name: str = "Bot",
        settings: SessionSettings | None = None,
        plugin_config: Mapping[str, Mapping[str, Any]] | None = None,
        max_sessions: int = 20_000,
    ) -> None:
        self._participants = participant_client
        self._control = control_client
        self._dispatcher = dispatcher
        self._instance_id = instance_id
        self._display_name = display_name
        self._settings = settings or SessionSettings()
        self._plugin_config = plugin_config or {}
        self._max_sessions = max_sessions
        self.sessions: dict[str, Session] = {}
        self._tasks: dict[str, asyncio.Task[str]] = {}
        self._joining: dict[str, asyncio.Future[Session]] = {}

    async def join(self, contact_id: str) -> Session:
        """Join `contact_id` as a custom bot; joining a contact twice returns the session already there."""
        if contact_id in self.sessions:
            return self.sessions[contact_id]
        if contact_id in self._joining:
            return await asyncio.shield(self._joining[contact_id])
        self._check_capacity()
        pending: asyncio.Future[Session] = asyncio.get_running_loop().create_future()
        self._joining[contact_id] = pending
        try:
            joined = await self._control.create_participant(self._instance_id, contact_id, self._display_name)
            session = self.adopt(contact_id, joined.participant_token, joined.participant_id)
            pending.set_result(session)
            return session
        except BaseException as error:
            pending.set_exception(error)
            pending.exception()
            raise
        finally:
            del self._joining[contact_id]

    async def hand_in(self, contact_id: str, participant_token: Secret, participant_id: str) -> Session:
        return self.adopt(contact_id, participant_token, participant_id)

    def adopt(self, contact_id: str, participant_token: Secret, participant_id: str | None = None) -> Session:
        """Run a session for a participant token obtained elsewhere."""
        if contact_id in self.sessions:
            return self.sessions[contact_id]
        self._check_capacity()
        session = Session(
            contact_id,
            participant_token,
            self._participants,
            self._dispatcher,
            self._settings,
            self._plugin_config,
            participant_id,
        )
        self.sessions[contact_id] = session
        task = asyncio.get_running_loop().create_task(self._run(session), name=f"session-{contact_id}")
        self._tasks[contact_id] = task
        return session

    def _check_capacity(self) -> None:
        if len(self.sessions) + len(self._joining) >= self._max_sessions:
            raise CapacityExceeded(f"this process carries its maximum of {self._max_sessions} sessions")

    async def _run(self, session: Session) -> str:
        metrics.SESSIONS.inc()
        reason = "cancelled"
        try:
            reason = await session.run()
            log.info("contact %s: session ended (%s)", session.contact_id, reason)
            return reason
        except Exception:
            log.exception("contact %s: session failed", session.contact_id)
            reason = "failed"
            return reason
        finally:
            metrics.SESSIONS.dec()
            metrics.SESSIONS_ENDED.labels(reason).inc()
            self.sessions.pop(session.contact_id, None)
            self._tasks.pop(session.contact_id, None)

    async def shutdown(self, timeout: float = 10.0) -> None:
        """Let every session finish the events it holds, then stop; stragglers are cancelled."""
        tasks = list(self._tasks.values())
        for session in list(self.sessions.values()):
            session.stop()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=timeout)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
