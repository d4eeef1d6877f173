"""The websocket transport: keeping one contact connected, every reconnect decision in one place.

The loop creates a participant connection, opens and subscribes a socket,
fills the gap from the transcript while holding live frames back, then lets
live frames through. It comes back after a drop with backoff, rotates the
socket before its limits, and stops when the chat is over for the bot.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botkit.connect import vocabulary as v
from botkit.connect.client import ParticipantClient
from botkit.connect.errors import ParticipantConnectionError, ParticipantServiceError
from botkit.connect.models import Item
from botkit.connect.secrets import Secret
from botkit.connect.websocket import ChatSocket, SocketFailure
from botkit.runtime import metrics
from botkit.runtime.transport import ChatOver, Feed, OpenTransport

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ConnectionSettings:
    heartbeat_interval: float = 10.0
    rotate_after: float = 3540.0
    token_refresh_margin: float = 600.0
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    transcript_page: int = 100


class ContactConnection:
    """The websocket transport: one socket per contact, its gap filled from the transcript on every connect."""

    end_grace = 0.0

    def __init__(
        self,
        client: ParticipantClient,
        participant_token: Secret,
        feed: Feed,
        settings: ConnectionSettings | None = None,
    ) -> None:
        self._client = client
        self._participant_token = participant_token
        self._feed = feed
        self._settings = settings or ConnectionSettings()
        self._socket: ChatSocket | None = None
        self._failures = 0
        self._connections = 0

    async def run(self) -> None:
        """Stay connected until the chat is over for the bot; raises ChatOver when the service says so."""
        while not self._feed.finished:
            try:
                await self._connect_once()
            except ChatOver:
                raise
            except (ParticipantServiceError, ParticipantConnectionError, SocketFailure) as error:
                await self._pause_after(_describe(error))
            except Exception:
                log.exception("contact %s: unexpected failure while connecting", self._feed.contact_id)
                await self._pause_after("unexpected failure")

    async def _pause_after(self, failure: str) -> None:
        """Back off after a failed attempt; a session never gives up while its chat is on."""
        metrics.CONNECTION_FAILURES.inc()
        self._failures += 1
        delay = self._backoff()
        log.info("contact %s: connection failed (%s); retrying in %.2f s", self._feed.contact_id, failure, delay)
        await asyncio.sleep(delay)

    async def drop(self) -> None:
        """Close the current socket; the loop reconnects and fills the gap."""
        if self._socket is not None:
            await self._socket.close()

    async def resync(self) -> None:
        """A reconnect brings back what the session refused: its gap fill reads to the newest item seen."""
        await self.drop()

    async def close(self, *, final: bool) -> None:
        """Nothing is held on the service: the socket closes with the session's task."""

    async def _connect_once(self) -> None:
        try:
            details = await self._client.create_participant_connection(
                self._participant_token,
                types=(v.WEBSOCKET, v.CONNECTION_CREDENTIALS),
                connect_participant=True,
            )
        except ParticipantServiceError as error:
            if error.status == 403:
                raise ChatOver(error.code) from None
            raise
        if details.websocket_url is None or details.connection_token is None:
            raise SocketFailure("CreateParticipantConnection returned no websocket or token")
        self._feed.connected(details.connection_token)
        socket = await ChatSocket.open(details.websocket_url, heartbeat_interval=self._settings.heartbeat_interval)
        self._socket = socket
        held: list[Item] = []
        gate = _Gate(held)
        filling = asyncio.create_task(self._fill_then_open(details.connection_token, socket, gate))
        try:
            reason = await self._until_rotation(socket.run(gate), details.connection_expiry)
        finally:
            filling.cancel()
            self._socket = None
            await socket.close()
            # cancel() only asks: wait until the fill has finished before reading how it ended.
            await asyncio.wait((filling,))
        if not filling.cancelled() and (failure := filling.exception()) is not None:
            raise failure
        metrics.SOCKETS_ENDED.inc()
        log.info("contact %s: socket ended (%s)", self._feed.contact_id, reason)

    async def _fill_then_open(self, connection_token: Secret, socket: ChatSocket, gate: _Gate) -> None:
        """Fill the gap while the socket reads (live items held back), then let live items through.

        A failed fill closes the socket, so the loop comes back and tries again.
        """
        try:
            await self._fill_gap(connection_token)
        except BaseException:
            await socket.close()
            raise
        gate.open(self._feed)
        self._feed.live()
        self._failures = 0
        self._connections += 1
        if self._connections == 1:
            log.info("contact %s: connected", self._feed.contact_id)
        else:
            log.info("contact %s: reconnected (connection %d), gap filled", self._feed.contact_id, self._connections)

    async def _until_rotation(self, reading: Coroutine[Any, Any, str], token_expiry: datetime | None) -> str:
        lifetime = self._settings.rotate_after
        expires_in = _seconds_until(token_expiry)
        if expires_in is not None:
            lifetime = min(lifetime, max(expires_in - self._settings.token_refresh_margin, 1.0))
        try:
            async with asyncio.timeout(lifetime):
                return await reading
        except TimeoutError:
            return "rotated before its limits"

    async def _fill_gap(self, connection_token: Secret) -> None:
        """Read the transcript back to the newest item already seen, then feed what is new, oldest first.

        Scanning backward from the newest item needs no stored position, so it
        works the same after a short blink and after the first connect.
        """
        missed: list[Item] = []
        next_token: str | None = None
        while True:
            page = await self._client.get_transcript(
                connection_token,
                scan_direction=v.BACKWARD,
                sort_order=v.DESCENDING,
                max_results=self._settings.transcript_page,
                next_token=next_token,
            )
            reached_seen = False
            for item in page.items:
                if self._feed.seen(item.id):
                    reached_seen = True
                    break
                missed.append(item)
            next_token = page.next_token
            if reached_seen or not next_token or not page.items:
                break
        for item in reversed(missed):
            self._feed.feed(item)

    def _backoff(self) -> float:
        """Full jitter: spread a fleet's reconnects after an outage."""
        ceiling = min(self._settings.backoff_max, self._settings.backoff_base * 2 ** min(self._failures, 16))
        return random.uniform(0, ceiling)


class _Gate:
    """Holds live items back while the gap is filled, then passes them straight through."""

    __slots__ = ("_held", "_target")

    def __init__(self, held: list[Item]) -> None:
        self._held = held
        self._target: Feed | None = None

    def open(self, target: Feed) -> None:
        """Feed what was held, in arrival order, then pass everything straight through."""
        for item in self._held:
            target.feed(item)
        self._held.clear()
        self._target = target

    def __call__(self, item: Item) -> None:
        if self._target is None:
            self._held.append(item)
        else:
            self._target.feed(item)


class WebsocketTransports:
    """The default transport: nothing to do around a join, a socket per session."""

    def __init__(self, client: ParticipantClient, settings: ConnectionSettings | None = None) -> None:
        self._client = client
        self._settings = settings or ConnectionSettings()

    async def before_join(self, contact_id: str, *, client_token: str | None = None, timeout: float | None) -> None:
        return None

    def join_failed(self, contact_id: str, *, stop: bool = False) -> None:
        return None

    def stream_of(self, contact_id: str) -> str | None:
        return None

    def opener(
        self,
        contact_id: str,
        participant_token: Secret,
        *,
        streaming_id: str | None = None,
        after_item_id: str | None = None,
    ) -> OpenTransport:
        """The socket's gap fill reads back to the session's recent ids: `after_item_id` is not needed."""
        return lambda feed: ContactConnection(self._client, participant_token, feed, self._settings)



def _seconds_until(expiry: datetime | None) -> float | None:
    if expiry is None:
        return None
    return (expiry - datetime.now(UTC)).total_seconds()


def _describe(error: Exception) -> str:
    if isinstance(error, ParticipantServiceError):
        return f"{error.code} (HTTP {error.status})"
    if isinstance(error, SocketFailure):
        return error.reason
    return type(error).__name__

