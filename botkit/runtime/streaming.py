"""The message-streaming transport: AWS's documented way for a custom bot, SNS notifications instead of a socket.

For each contact the bot follows AWS's order: StartContactStreaming with the topic (`before_join`), then
CreateParticipant (the manager), then, within 15 s, CreateParticipantConnection with ConnectParticipant and
CONNECTION_CREDENTIALS only (the contact's transport, as its session starts). Every item of the chat then
reaches the intake's SNS route as a notification, which hands it here (`Streaming.deliver`).

SNS delivers at least once and in no particular order, so a notification is not fed as it comes. It wakes
the contact's reader, which reads the transcript forward from the last item it fed and feeds what follows,
in transcript order: this orders the items and fills any gap, and an item a later notification repeats
is then dropped by its Id. At most one read runs per contact; notifications arriving meanwhile make one
more. The cost is a GetTranscript per wake, coalesced under load (reads per notification are counted
in `botkit_streaming_reads_total`). The notification of the bot's own message wakes no read: no plugin
hears it, and the read the next other item wakes passes it, in order; so an echoed message costs one read.
Nothing cheaper orders safely: an item names no predecessor (no sequence number, only AbsoluteTime and Id),
so a notification cannot tell that nothing came between it and the last item fed, and SNS may deliver
that in-between item later. Items the transcript never holds (typing, receipts) have no place in
its order and are fed as they come. Notifications repeated by SNS are dropped by MessageId first.

A contact on streaming holds no socket: an idle one is a task waiting on an event, and a few small objects.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

from botkit.connect import vocabulary as v
from botkit.connect.client import ParticipantClient
from botkit.connect.control import ControlPlaneClient
from botkit.connect.errors import ParticipantConnectionError, ParticipantServiceError
from botkit.connect.models import Item, StartPosition
from botkit.connect.secrets import Secret
from botkit.runtime import metrics
from botkit.runtime.join_tokens import join_token, participant_discriminator
from botkit.runtime.session import _RecentIds
from botkit.runtime.transport import ChatOver, Feed, OpenTransport

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class StreamingSettings:
    topic_arn: str
    token_refresh_margin: float = 600.0
    """Seconds before its expiry that the connection token is replaced by a new CreateParticipantConnection."""
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    transcript_page: int = 100
    held_per_contact: int = 256
    """Notifications held for a contact still being joined; beyond this the route answers 503 and SNS retries."""
    recent_message_ids: int = 65_536
    missing_reads: int = 5
    """Reads an announced item may be absent from the transcript (a lagging read) before it is fed as it came."""
    missing_pause: float = 0.05
    end_grace: float = 2.0
    """Once the service answers 403 (the chat is over for the bot), how long the notification of the end itself
    (chat.ended, or the bot's participant.left) is waited for, so that `on_chat_ended` runs as on a websocket."""
    stop_timeout: float = 5.0
    """Seconds StopContactStreaming may take, retries included; at shutdown, how long the stops are waited for."""


class Delivery(StrEnum):
    """What became of a notification handed to `Streaming.deliver`; the route answers from it."""

    QUEUED = "queued"  # handed to the contact's transport
    HELD = "held"  # the contact is being joined: kept for its transport
    DUPLICATE = "duplicate"  # a MessageId already taken (SNS delivers at least once)
    IGNORED = "ignored"  # no session here for the contact: never joined, or already over
    BUSY = "busy"  # too many held for a contact being joined: the route answers 503, SNS retries
    HANDED = "handed"  # stored for the worker that owns the contact (runtime/relay.py)


class Streaming:
    """Message streaming for a whole bot process: starts and stops streams, routes notifications to sessions."""

    def __init__(
        self,
        participants: ParticipantClient,
        control: ControlPlaneClient,
        instance_id: str,
        settings: StreamingSettings,
    ) -> None:
        self._participants = participants
        self._control = control
        self._instance_id = instance_id
        self.settings = settings
        self._transports: dict[str, StreamingTransport] = {}
        self._joining: dict[str, _Joining] = {}
        self._message_ids = _RecentIds(settings.recent_message_ids)
        self._stops: set[asyncio.Task[None]] = set()

    # What the manager calls ----------------------------------------------------------

    async def before_join(self, contact_id: str, *, client_token: str | None = None, timeout: float | None) -> None:
        """StartContactStreaming; notifications arriving from here until the session opens are held for it."""
        joining = self._joining[contact_id] = _Joining()
        joining.streaming_id = await self.start_streaming(contact_id, client_token, timeout=timeout)

    def join_failed(self, contact_id: str, *, stop: bool = False) -> None:
        """Notifications are no longer held for the contact. Its stream is left running unless `stop`: a retry of
        the join, here or at another worker, asks under the same ClientToken and is handed that stream again."""
        joining = self._joining.pop(contact_id, None)
        if stop and joining is not None and joining.streaming_id is not None:
            self._stop_later(contact_id, joining.streaming_id)

    def stream_of(self, contact_id: str) -> str | None:
        joining = self._joining.get(contact_id)
        return None if joining is None else joining.streaming_id

    def opener(
        self,
        contact_id: str,
        participant_token: Secret,
        *,
        streaming_id: str | None = None,
        after_item_id: str | None = None,
    ) -> OpenTransport:
        return lambda feed: self._open(contact_id, participant_token, feed, streaming_id, after_item_id)

    def _open(
        self,
        contact_id: str,
        participant_token: Secret,
        feed: Feed,
        streaming_id: str | None,
        after_item_id: str | None,
    ) -> StreamingTransport:
        joining = self._joining.pop(contact_id, None) or _Joining()
        transport = StreamingTransport(
            self, contact_id, participant_token, feed, joining.streaming_id or streaming_id, after_item_id
        )
        self._transports[contact_id] = transport
        for item in joining.held:
            transport.notify(item)
        return transport

    # What the SNS route calls ---------------------------------------------------------

    def serves(self, contact_id: str) -> bool:
        """Whether the contact's session runs here, or is being joined here."""
        return contact_id in self._transports or contact_id in self._joining

    def deliver(self, message_id: str, item: Item) -> Delivery:
        """Hand a verified notification's item to its contact's transport; never waits."""
        if message_id in self._message_ids:
            return self._counted(Delivery.DUPLICATE)
        contact_id = item.contact_id or ""
        transport = self._transports.get(contact_id)
        if transport is not None:
            transport.notify(item)
            outcome = Delivery.QUEUED
        elif (joining := self._joining.get(contact_id)) is not None:
            if len(joining.held) >= self.settings.held_per_contact:
                return self._counted(Delivery.BUSY)
            joining.held.append(item)
            outcome = Delivery.HELD
        else:
            outcome = Delivery.IGNORED
        self._message_ids.add(message_id)
        return self._counted(outcome)

    @staticmethod
    def _counted(outcome: Delivery) -> Delivery:
        metrics.STREAMING_NOTIFICATIONS.labels(outcome.value).inc()
        return outcome

    # What the transports call ---------------------------------------------------------

    async def start_streaming(
        self, contact_id: str, client_token: str | None = None, *, timeout: float | None = None
    ) -> str:
        """StartContactStreaming: its StreamingId. The same `client_token` gets the same stream from any worker;
        without one, a fresh token (retries of this call reuse it)."""
        return await self._control.start_contact_streaming(
            self._instance_id, contact_id, self.settings.topic_arn, client_token or str(uuid.uuid4()), timeout=timeout
        )

    def stream_token(self, contact_id: str, participant_token: Secret) -> str:
        """The ClientToken of a stream a session starts itself (it was neither joined here nor resumed with one):
        derived from its participant, so that every worker resuming that session gets the one stream."""
        discriminator = participant_discriminator(participant_token)
        return join_token("StartContactStreaming", self._instance_id, contact_id, "", discriminator)

    def closed(self, transport: StreamingTransport, *, final: bool) -> None:
        if self._transports.get(transport.contact_id) is transport:
            del self._transports[transport.contact_id]
        if final and transport.streaming_id is not None:
            self._stop_later(transport.contact_id, transport.streaming_id)

    def _stop_later(self, contact_id: str, streaming_id: str) -> None:
        """StopContactStreaming in the background, so a session ends at once; `close` waits for what is left."""
        task = asyncio.get_running_loop().create_task(self._stop(contact_id, streaming_id))
        self._stops.add(task)
        task.add_done_callback(self._stops.discard)

    async def _stop(self, contact_id: str, streaming_id: str) -> None:
        try:
            await self._control.stop_contact_streaming(
                self._instance_id, contact_id, streaming_id, timeout=self.settings.stop_timeout
            )
        except (ParticipantServiceError, ParticipantConnectionError, TimeoutError) as error:
            log.info("contact %s: could not stop message streaming: %s", contact_id, _describe(error))

    @property
    def participants(self) -> ParticipantClient:
        return self._participants

    async def close(self) -> None:
        """Wait (bounded) for the streams still being stopped."""
        if self._stops:
            await asyncio.wait(list(self._stops), timeout=self.settings.stop_timeout)


class _Joining:
    """A contact between StartContactStreaming and its session: its StreamingId and the notifications so far."""

    __slots__ = ("held", "streaming_id")

    def __init__(self) -> None:
        self.streaming_id: str | None = None
        self.held: list[Item] = []


class StreamingTransport:
    """One contact on message streaming: a connection token, and a reader fed by notifications."""

    __slots__ = (
        "_announced",
        "_cursor",
        "_failures",
        "_feed",
        "_hub",
        "_live",
        "_misses",
        "_participant_token",
        "_refresh_at",
        "_token",
        "_wake",
        "contact_id",
        "streaming_id",
    )

    def __init__(
        self,
        hub: Streaming,
        contact_id: str,
        participant_token: Secret,
        feed: Feed,
        streaming_id: str | None,
        after_item_id: str | None = None,
    ) -> None:
        """`after_item_id`: a resumed session's last handled item, where its first read starts."""
        self._hub = hub
        self.contact_id = contact_id
        self.streaming_id = streaming_id
        self._participant_token = participant_token
        self._feed = feed
        self._token: Secret | None = None
        self._refresh_at = 0.0
        self._cursor = after_item_id
        self._announced: dict[str, Item] | None = None
        self._wake = _Wake()
        self._live = False
        self._failures = 0
        self._misses = 0

    @property
    def end_grace(self) -> float:
        return self._hub.settings.end_grace

    def notify(self, item: Item) -> None:
        """A notification's item. One the transcript never holds is fed now; any other wakes the reader."""
        if not item.id or self._feed.seen(item.id):
            return
        if self._feed.finished:
            if item.content_type == v.EVENT_CHAT_ENDED:
                self._feed.feed(item)  # the session may still be waiting for it, to dispatch as its last word
            return
        if item.content_type in v.EPHEMERAL_CONTENT_TYPES or item.type == v.MESSAGEMETADATA:
            if self._live:
                self._feed.feed(item)
            return
        if item.type in (v.MESSAGE, v.ATTACHMENT) and self._feed.own(item):
            return  # no plugin hears it: the read that the next other item wakes passes it, in order
        if self._announced is None:
            self._announced = {}
        self._announced[item.id] = item
        self._wake.set()

    async def resync(self) -> None:
        """The session has room again: it takes items again, from the reader's position on."""
        if self._token is not None:
            self._feed.connected(self._token)
        self._wake.set()

    async def close(self, *, final: bool) -> None:
        self._hub.closed(self, final=final)

    async def run(self) -> None:
        """Connect, read what is there, then read on each notification, until the chat is over for the bot."""
        settings = self._hub.settings
        while not self._feed.finished:
            try:
                await self._step()
            except ChatOver:
                raise
            except (ParticipantServiceError, ParticipantConnectionError) as error:
                await self._pause_after(_describe(error), settings)
            except Exception:
                log.exception("contact %s: unexpected failure on message streaming", self.contact_id)
                await self._pause_after("unexpected failure", settings)

    async def _step(self) -> None:
        if self.streaming_id is None:
            token = self._hub.stream_token(self.contact_id, self._participant_token)
            self.streaming_id = await self._over_on_403(self._hub.start_streaming(self.contact_id, token))
        if self._token is None or self._refresh_in() <= 0:
            await self._connect()
            self._wake.set()  # after every (re)connect, read forward before anything else
        if self._wake.is_set():
            self._wake.clear()
            try:
                complete = await self._read()
            except BaseException:
                self._wake.set()
                raise
            self._failures = 0
            if not self._live:
                self._live = True
                self._feed.live()
            if complete:
                self._settle_announced()
            return
        wait = self._refresh_in()
        try:
            async with asyncio.timeout(None if wait == float("inf") else wait):
                await self._wake.wait()
        except TimeoutError:
            pass

    async def _connect(self) -> None:
        """CreateParticipantConnection, credentials only: ConnectParticipant the first time, a new token after."""
        details = await self._over_on_403(
            self._hub.participants.create_participant_connection(
                self._participant_token,
                types=(v.CONNECTION_CREDENTIALS,),
                connect_participant=True if self._token is None else None,
            )
        )
        if details.connection_token is None:
            raise ParticipantConnectionError("CreateParticipantConnection", 1, "no connection token in the answer")
        self._token = details.connection_token
        self._plan_refresh(details.connection_expiry)
        self._feed.connected(details.connection_token)

    async def _read(self) -> bool:
        """Feed what follows the cursor in the transcript, in order; False when the session refused an item."""
        assert self._token is not None
        metrics.STREAMING_READS.inc()
        start = StartPosition(id=self._cursor) if self._cursor is not None else None
        items = self._hub.participants.iter_transcript(
            self._token,
            contact_id=self.contact_id,
            max_results=self._hub.settings.transcript_page,
            scan_direction=v.FORWARD,
            sort_order=v.ASCENDING,
            start_position=start,
        )
        try:
            async for item in items:
                if self._announced:
                    self._announced.pop(item.id, None)
                if not self._feed.seen(item.id):
                    self._feed.feed(item)
                    if not self._feed.seen(item.id):
                        return False  # refused, or the chat is over: the cursor stays before it
                self._cursor = item.id
        except ParticipantServiceError as error:
            raise await self._over(error) from None
        return True

    def _settle_announced(self) -> None:
        """Items announced but not in the transcript yet: read again shortly, and after a few reads feed them as they came."""
        if not self._announced:
            self._announced = None
            self._misses = 0
            return
        self._misses += 1
        settings = self._hub.settings
        if self._misses < settings.missing_reads:
            asyncio.get_running_loop().call_later(settings.missing_pause * 2 ** (self._misses - 1), self._wake.set)
            return
        log.warning(
            "contact %s: %d notified item(s) never showed in the transcript; fed as they came",
            self.contact_id,
            len(self._announced),
        )
        for item in sorted(self._announced.values(), key=_when):
            self._feed.feed(item)
        self._announced = None
        self._misses = 0

    async def _over_on_403(self, call: Coroutine[Any, Any, T]) -> T:
        try:
            return await call
        except ParticipantServiceError as error:
            raise await self._over(error) from None

    async def _over(self, error: ParticipantServiceError) -> Exception:
        """A 403 means the chat is over for the bot, and the transcript is closed to it. The notification of the
        end may still be on its way (the service revokes the token as it publishes the end): it is waited for a
        moment, then what notifications brought is fed, oldest first. Any other error is raised as it is."""
        if error.status != 403:
            return error
        try:
            async with asyncio.timeout(self._hub.settings.end_grace):
                while not self._end_announced():
                    self._wake.clear()
                    await self._wake.wait()
        except TimeoutError:
            log.info("contact %s: the chat is over for the bot; no notification of its end came", self.contact_id)
        announced, self._announced = self._announced or {}, None
        for item in sorted(announced.values(), key=_when):
            self._feed.feed(item)
        return ChatOver(error.code)

    def _end_announced(self) -> bool:
        return self._announced is not None and any(
            item.content_type == v.EVENT_CHAT_ENDED
            or (item.content_type == v.EVENT_PARTICIPANT_LEFT and item.participant_role == v.CUSTOM_BOT)
            for item in self._announced.values()
        )

    def _refresh_in(self) -> float:
        """Seconds until the connection token must be replaced (0 before the first)."""
        return self._refresh_at - asyncio.get_running_loop().time()

    def _plan_refresh(self, expiry: datetime | None) -> None:
        """Replace the token `token_refresh_margin` before its expiry, or half way for a short-lived one."""
        loop = asyncio.get_running_loop()
        if expiry is None:
            self._refresh_at = float("inf")
            return
        lifetime = (expiry - datetime.now(UTC)).total_seconds()
        self._refresh_at = loop.time() + max(lifetime - self._hub.settings.token_refresh_margin, lifetime / 2, 1.0)

    async def _pause_after(self, failure: str, settings: StreamingSettings) -> None:
        """Back off with full jitter; a session never gives up while its chat is on."""
        metrics.CONNECTION_FAILURES.inc()
        self._failures += 1
        delay = random.uniform(0, min(settings.backoff_max, settings.backoff_base * 2 ** min(self._failures, 16)))
        log.info("contact %s: message streaming failed (%s); retrying in %.2f s", self.contact_id, failure, delay)
        await asyncio.sleep(delay)


class _Wake:
    """asyncio.Event for one waiter, without the Event's waiter deque (about 0.7 KiB): every idle contact holds one."""

    __slots__ = ("_is_set", "_waiter")

    def __init__(self) -> None:
        self._is_set = False
        self._waiter: asyncio.Future[None] | None = None

    def is_set(self) -> bool:
        return self._is_set

    def set(self) -> None:
        self._is_set = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def clear(self) -> None:
        self._is_set = False

    async def wait(self) -> None:
        if self._is_set:
            return
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None


def _when(item: Item) -> str:
    return item.absolute_time or ""


def _describe(error: Exception) -> str:
    if isinstance(error, ParticipantServiceError):
        return f"{error.code} (HTTP {error.status})"
    return type(error).__name__
