"""The sessions of one bot process: joining contacts, running their sessions, and stopping them all."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from botkit.connect import vocabulary as v
from botkit.connect.client import ParticipantClient
from botkit.connect.control import ControlPlaneClient, JoinedParticipant
from botkit.connect.secrets import Secret
from botkit.runtime import metrics
from botkit.runtime.connection import WebsocketTransports
from botkit.runtime.dispatch import Dispatcher
from botkit.runtime.join_tokens import GENERATIONS, GoneParticipants, join_token, spent
from botkit.runtime.logcontext import about_contact
from botkit.runtime.ownership import Ownership
from botkit.runtime.persistence import Keeper
from botkit.runtime.session import (
    SHUTDOWN_END_SECONDS,
    SHUTDOWN_LEAVE_SECONDS,
    ContactControl,
    Session,
    SessionSettings,
)
from botkit.runtime.transport import OpenTransport, Transports
from botkit.store import ContactRecord

log = logging.getLogger(__name__)


class CapacityExceeded(Exception):
    """This process already carries its `max_sessions`; another worker should take the contact."""


class OwnedElsewhere(Exception):
    """Another worker holds the contact's lease: its session runs there."""


class NotACustomBot(Exception):
    """A participant token handed in is not a custom bot's: the bot must not speak or leave with it."""


class NoUsableParticipant(Exception):
    """CreateParticipant answered only participants whose credentials had expired (a clock far off the service's)."""


TRANSCRIPT_PAGE = 100
_LEFT_THE_CHAT = frozenset({"left", "handoff", "removed", "chat_ended", "shutdown"})
"""Session ends after which the bot's participant is gone from the chat (not abandoned to another worker)."""
JOINED_READS = 3
JOINED_READ_PAUSE = 0.25


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
        transports: Transports | None = None,
        ownership: Ownership | None = None,
    ) -> None:
        """`transports`: how sessions reach their chats; a websocket each unless told otherwise. `ownership`: the
        store's leases; with it every session is saved after each event, and can be resumed from the store."""
        self.ownership = ownership
        self.intake: Callable[[str, str | None, float | None], Awaitable[Any]] | None = None
        """Set on a shared store (runtime/fleet.py): `join` hands the contact to the workers' queue instead."""
        self._participants = participant_client
        self._control = control_client
        self._dispatcher = dispatcher
        self._instance_id = instance_id
        self._display_name = display_name
        self._settings = settings or SessionSettings()
        self._plugin_config = {} if plugin_config is None else plugin_config  # may be a live view
        self._max_sessions = max_sessions
        self._transports = transports or WebsocketTransports(participant_client, self._settings.connection)
        self.sessions: dict[str, Session] = {}
        self._tasks: dict[str, asyncio.Task[str]] = {}
        self._joining: dict[str, asyncio.Future[Session | None]] = {}
        self._gone = GoneParticipants()

    async def join(
        self,
        contact_id: str,
        initial_contact_id: str | None = None,
        *,
        timeout: float | None = None,
        attributes: Mapping[str, str] | None = None,
    ) -> Session:
        """Join `contact_id` as a custom bot; a contact joined or handed in already keeps its one session.

        `initial_contact_id` (the contact flow event's `ContactData.InitialContactId`) keys the contact's
        attributes; it is the contact's own id unless the chat was transferred. `timeout` bounds
        CreateParticipant, its retries included: the caller (a contact flow's Lambda) has a deadline of its own.
        `attributes`: the contact's attributes from the same event, for `session.attributes`.
        On a shared store the answer is whichever worker's session took the contact (see runtime/fleet.py).
        Attributes reach the session only when this process joins the contact.
        """
        if self.intake is not None and contact_id not in self.sessions:
            return await self.intake(contact_id, initial_contact_id, timeout)
        return await self.join_here(contact_id, initial_contact_id, timeout=timeout, attributes=attributes)

    async def join_here(
        self,
        contact_id: str,
        initial_contact_id: str | None = None,
        *,
        timeout: float | None = None,
        attributes: Mapping[str, str] | None = None,
    ) -> Session:
        """`join`, in this process: under the contact's lease when there is a store, so no other worker joins it."""
        running = await self._settled(contact_id)
        if running is not None:
            return running
        self._check_capacity()
        async with self._claim(contact_id) as settle:
            await self._acquire(contact_id)
            try:
                joined = await self._create_participant(contact_id, timeout)
            except BaseException:
                self._let_go(contact_id)
                raise
            keeper = await self._keeper(
                contact_id, joined.participant_token, joined.participant_id, initial_contact_id
            )
            session = self.adopt(
                contact_id,
                joined.participant_token,
                joined.participant_id,
                initial_contact_id=initial_contact_id,
                attributes=attributes,
                keeper=keeper,
            )
            return settle(session)

    async def _acquire(self, contact_id: str) -> None:
        if self.ownership is not None and await self.ownership.acquire(contact_id) is None:
            raise OwnedElsewhere(f"contact {contact_id}: another worker holds it")

    def _let_go(self, contact_id: str) -> None:
        """A join that failed: release the lease in the background (this may run while cancelled)."""
        if self.ownership is not None:
            asyncio.get_running_loop().create_task(self.ownership.release(contact_id))

    async def _keeper(
        self, contact_id: str, token: Secret, participant_id: str | None, initial_contact_id: str | None
    ) -> Keeper | None:
        """The contact's first record, saved before its session starts, so that any worker can take it up."""
        if self.ownership is None:
            return None
        record = ContactRecord(
            contact_id,
            token,
            participant_id,
            initial_contact_id=initial_contact_id or contact_id,
            instance_id=self._instance_id,
            streaming_id=self._transports.stream_of(contact_id),
        )
        keeper = Keeper(self.ownership, record, resumed=False)
        try:
            await keeper.first_save()
        except BaseException:
            self._transports.join_failed(contact_id)
            self._let_go(contact_id)
            raise
        return keeper

    def resume(self, record: ContactRecord) -> Session:
        """Take up a contact from its stored record, under a lease this worker just acquired: on_session_resume
        runs instead of on_session_start, and the transcript is read back to the last item handled."""
        assert self.ownership is not None
        return self.adopt(
            record.contact_id,
            record.participant_token,
            record.participant_id,
            initial_contact_id=record.initial_contact_id,
            keeper=Keeper(self.ownership, record, resumed=True),
        )

    def lost(self, contact_id: str) -> None:
        """The store gave the contact's lease to another worker: stop its session here without sending."""
        session = self.sessions.get(contact_id)
        if session is not None:
            session.fenced()

    async def _create_participant(self, contact_id: str, timeout: float | None) -> JoinedParticipant:
        """The transport's step before a join (StartContactStreaming), then CreateParticipant, in one deadline.

        Under ClientTokens every worker derives alike (runtime/join_tokens.py): a join another worker made and
        died before saving is handed back, not made twice. An answer whose participant can no longer connect
        spends its generation, and the next is asked for."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout

        def remaining() -> float | None:
            return None if deadline is None else max(deadline - loop.time(), 0.001)

        for generation in range(GENERATIONS):
            discriminator = f"join-{generation}"
            try:
                await self._transports.before_join(
                    contact_id, client_token=self._join_token("StartContactStreaming", contact_id, discriminator),
                    timeout=remaining(),
                )
                joined = await self._control.create_participant(
                    self._instance_id, contact_id, self._display_name,
                    self._join_token("CreateParticipant", contact_id, discriminator), timeout=remaining(),
                )
            except BaseException:
                self._transports.join_failed(contact_id)
                raise
            if not spent(joined) and joined.participant_id not in self._gone:
                return joined
            log.info("contact %s: bot participant %s of join %d can no longer connect; asking for the next",
                     contact_id, joined.participant_id, generation)
            self._transports.join_failed(contact_id, stop=True)
        raise NoUsableParticipant(f"contact {contact_id}: every CreateParticipant answered a participant already expired")

    def _join_token(self, operation: str, contact_id: str, discriminator: str) -> str:
        return join_token(operation, self._instance_id, contact_id, self._display_name, discriminator)

    async def hand_in(
        self, contact_id: str, participant_token: Secret, participant_id: str, initial_contact_id: str | None = None
    ) -> Session:
        """Run a session for a custom bot's token obtained elsewhere, once its participant is proven a custom bot.

        Raises NotACustomBot for anyone else's token. A contact that already has a session keeps it:
        the answer is that session, whichever route brought it. `initial_contact_id`: as for `join`.
        """
        running = await self._settled(contact_id)
        if running is not None and running.participant_id == participant_id:
            return running
        if running is not None:
            await self._vouch(contact_id, participant_token, participant_id, joining=False)
            return running
        self._check_capacity()
        async with self._claim(contact_id) as settle:
            await self._acquire(contact_id)
            try:
                await self._vouch(contact_id, participant_token, participant_id, joining=True)
                await self._before_hand_in(contact_id, participant_id)
            except BaseException:
                self._let_go(contact_id)
                raise
            keeper = await self._keeper(contact_id, participant_token, participant_id, initial_contact_id)
            return settle(
                self.adopt(
                    contact_id, participant_token, participant_id, initial_contact_id=initial_contact_id, keeper=keeper
                )
            )

    async def _before_hand_in(self, contact_id: str, participant_id: str) -> None:
        """The transport's step before the first save, as for a join (its StreamingId goes in the record), under a
        ClientToken of the participant handed in: the caller's retry, at any worker, gets the same stream."""
        token = self._join_token("StartContactStreaming", contact_id, f"hand-in-{participant_id}")
        try:
            await self._transports.before_join(contact_id, client_token=token, timeout=None)
        except BaseException:
            self._transports.join_failed(contact_id)
            raise

    async def _settled(self, contact_id: str) -> Session | None:
        """The contact's session, once any join or hand-in under way has settled; None when it has none."""
        while contact_id not in self.sessions:
            pending = self._joining.get(contact_id)
            if pending is None:
                return None
            session = await asyncio.shield(pending)
            if session is not None:
                return session
        return self.sessions[contact_id]

    @asynccontextmanager
    async def _claim(self, contact_id: str) -> AsyncIterator[Callable[[Session], Session]]:
        """Hold the contact while one join or hand-in runs: the others wait for it, then take its session or try theirs."""
        pending: asyncio.Future[Session | None] = asyncio.get_running_loop().create_future()
        self._joining[contact_id] = pending

        def settle(session: Session) -> Session:
            pending.set_result(session)
            return session

        try:
            yield settle
        finally:
            if not pending.done():
                pending.set_result(None)
            del self._joining[contact_id]

    async def _vouch(self, contact_id: str, participant_token: Secret, participant_id: str, *, joining: bool) -> None:
        """Refuse a token whose participant is not a custom bot, with calls that neither speak nor leave.

        Only CreateParticipantConnection (credentials, no socket) and GetTranscript are made with the
        token: SendMessage, SendEvent or DisconnectParticipant with a customer's token would speak for
        the customer or end their chat. `joining`: the token will run the session, so its participant
        connects and must be seen joined as a custom bot. Otherwise the contact keeps the session it has
        and the token is not used again: it only must not be a human's, and a fresh bot is not connected,
        so it does not linger in the chat. The token's owner cannot be read from the service, so a token
        passed with another participant's id is not caught here: the intake's signature guards that.
        """
        details = await self._participants.create_participant_connection(
            participant_token, types=(v.CONNECTION_CREDENTIALS,), connect_participant=True if joining else None
        )
        if details.connection_token is None:
            raise NotACustomBot("Amazon Connect gave no connection for the participant token")
        role = await self._joined_role(
            details.connection_token, contact_id, participant_id, reads=JOINED_READS if joining else 1
        )
        if role != v.CUSTOM_BOT and (joining or role is not None):
            log.warning("contact %r: refused a participant token handed in for a %s participant", contact_id, role)
            found = f"joined as {role}" if role else "has not joined the contact"
            raise NotACustomBot(f"the participant is not a custom bot: it {found}")

    async def _joined_role(self, connection_token: Secret, contact_id: str, participant_id: str, *, reads: int) -> str | None:
        """The role `participant_id` joined `contact_id` with, read from the newest item back; None when it never joined.

        Naming the contact makes the service refuse (403) a token of another contact.

        Read again a few times when it is absent: the service may list a fresh join a moment late.
        """
        for read in range(reads):
            if read:
                await asyncio.sleep(JOINED_READ_PAUSE * 2 ** (read - 1))
            async for item in self._participants.iter_transcript(
                connection_token,
                contact_id=contact_id,
                max_results=TRANSCRIPT_PAGE,
                scan_direction=v.BACKWARD,
                sort_order=v.DESCENDING,
            ):
                if item.content_type == v.EVENT_PARTICIPANT_JOINED and item.participant_id == participant_id:
                    return item.participant_role
        return None

    def adopt(
        self,
        contact_id: str,
        participant_token: Secret,
        participant_id: str | None = None,
        *,
        initial_contact_id: str | None = None,
        attributes: Mapping[str, str] | None = None,
        keeper: Keeper | None = None,
    ) -> Session:
        """Run a session for a custom bot's participant token the caller vouches for (`hand_in` proves it first).

        `initial_contact_id` keys the contact's attributes (see `join`); it defaults to `contact_id`.
        `attributes` become `session.attributes` (none for a token handed in: its request carries none).
        """
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
            control=ContactControl(self._control, self._instance_id, initial_contact_id or contact_id),
            attributes=attributes,
            transport=self._opener(contact_id, participant_token, keeper),
            keeper=keeper,
        )
        self.sessions[contact_id] = session
        log.info("contact %s: joined as bot participant %s", contact_id, participant_id or "(id not yet known)")
        task = asyncio.get_running_loop().create_task(self._run(session, keeper), name=f"session-{contact_id}")
        self._tasks[contact_id] = task
        return session

    def _opener(self, contact_id: str, participant_token: Secret, keeper: Keeper | None) -> OpenTransport:
        """A resumed session's transport starts from its record: the contact's stream and its last handled item."""
        if keeper is None or not keeper.taken_up:
            return self._transports.opener(contact_id, participant_token)
        record = keeper.record
        return self._transports.opener(
            contact_id, participant_token, streaming_id=record.streaming_id, after_item_id=record.last_item_id
        )

    def on_session_over(self, contact_id: str, callback: Callable[[], None]) -> bool:
        """Call `callback` once the contact's session is over and gone from `sessions`; False if it has none."""
        task = self._tasks.get(contact_id)
        if task is None:
            return False
        task.add_done_callback(lambda _: callback())
        return True

    def _check_capacity(self) -> None:
        if len(self.sessions) + len(self._joining) >= self._max_sessions:
            raise CapacityExceeded(f"this process carries its maximum of {self._max_sessions} sessions")

    async def _run(self, session: Session, keeper: Keeper | None) -> str:
        about_contact(session.contact_id)
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
            if reason in _LEFT_THE_CHAT and session.participant_id is not None:
                self._gone.add(session.participant_id)
            if keeper is not None:
                # cancelled: stopped past the shutdown's bounds, so left to another worker like an abandoned one
                await keeper.finish("abandoned" if reason == "cancelled" else reason)

    async def shutdown(self, grace: float = 20.0, *, leave: bool = True) -> None:
        """Stop every session: running handlers get `grace` seconds, then each session ends.

        With `leave`, every session runs on_session_end and the bot leaves its chat, so no customer waits on a
        bot that is gone; without, the chats are left as they are, for another worker to resume. Contacts
        being joined are waited for first, so that none is missed.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        if self._joining:
            await asyncio.wait(list(self._joining.values()), timeout=grace)
        left = max(0.0, deadline - loop.time())
        tasks = list(self._tasks.values())
        for session in list(self.sessions.values()):
            session.stop(grace=left, leave=leave)
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=left + SHUTDOWN_END_SECONDS + SHUTDOWN_LEAVE_SECONDS + 0.25)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
