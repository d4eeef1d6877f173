"""The participant websocket: subscribe, heartbeat, ping, fan-out, and closing idle sockets.

Frames are exactly those of API Gateway's chat endpoint (see the protocol spec):
every frame the server sends is a JSON object, and chat items travel as
`{"topic":"aws/chat","contentType":"application/json","content":"<item JSON>"}`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from aiohttp import WSMsgType, web

from botkit.emulator.config import EmulatorConfig
from botkit.emulator.contacts import Contact, ContactCenter, Participant
from botkit.emulator.faults import Faults
from botkit.emulator.wireformat import dumps, has_lone_surrogate, new_id

log = logging.getLogger(__name__)

CHAT_TOPIC = "aws/chat"
_HEARTBEAT_REPLY = dumps({"topic": "aws/heartbeat"})
_PING_REPLY = dumps({"topic": "aws/ping", "statusCode": 200, "statusContent": "OK"})


class Socket:
    """One open participant websocket."""

    __slots__ = ("ws", "transport", "participant", "subscribed", "last_seen", "opened_at", "connection_id", "send_buffer")

    def __init__(
        self, ws: web.WebSocketResponse, participant: Participant, transport: asyncio.Transport | None, send_buffer: int
    ) -> None:
        self.ws = ws
        self.transport = transport
        self.participant = participant
        self.subscribed = False
        self.last_seen = self.opened_at = time.monotonic()
        self.connection_id = new_id()
        self.send_buffer = send_buffer
        if transport is not None:
            # Never paused below the cap `send` keeps (4 bytes a character at most), so send_str never waits.
            transport.set_write_buffer_limits(high=4 * send_buffer + 65536)

    async def send(self, frame: str) -> None:
        """Never waits on the peer, so one stalled socket cannot hold up a contact's fan-out.

        A socket holding `send_buffer` bytes unsent has a peer that stopped reading: it is cut
        off, as API Gateway drops a connection it can no longer post to.
        """
        transport = self.transport
        if transport is None or transport.is_closing():
            self.participant.sockets.discard(self)
            return
        unsent = transport.get_write_buffer_size()
        if unsent + len(frame) > self.send_buffer:
            log.info("websocket %s: its peer stopped reading (%d bytes unsent); cutting it off", self.connection_id, unsent)
            self.participant.sockets.discard(self)
            transport.abort()
            return
        try:
            await self.ws.send_str(frame)
        except (ConnectionError, RuntimeError):
            await self.close()

    async def close(self, code: int = 1000) -> None:
        self.participant.sockets.discard(self)
        if not self.ws.closed:
            await self.ws.close(code=code)


class Hub:
    """All open sockets, the chat fan-out, and the sweeper that closes idle ones."""

    def __init__(self, center: ContactCenter, config: EmulatorConfig, faults: Faults) -> None:
        self._center = center
        self._config = config
        self._faults = faults
        self._sockets: set[Socket] = set()
        self._sweeper: asyncio.Task[None] | None = None
        center.add_listener(self.deliver)

    @property
    def open_sockets(self) -> int:
        return len(self._sockets)

    async def start(self) -> None:
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep_forever())

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        for socket in list(self._sockets):
            await socket.close(code=1001)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        participant = self._center.redeem_socket_ticket(request.query.get("X-Amz-Security-Token", ""))
        if participant is None:
            return web.json_response(
                {"message": "Forbidden"}, status=403, headers={"x-amzn-ErrorType": "ForbiddenException"}
            )
        if self._faults.refusing_websockets():
            unavailable = {"x-amzn-ErrorType": "ServiceUnavailableException"}
            return web.json_response({"message": "Service Unavailable"}, status=503, headers=unavailable)
        ws = web.WebSocketResponse(compress=False, autoping=True, heartbeat=None, max_msg_size=128 * 1024)
        await ws.prepare(request)
        socket = Socket(ws, participant, request.transport, self._config.websocket_send_buffer)
        self._sockets.add(socket)
        participant.sockets.add(socket)
        try:
            async for message in ws:
                socket.last_seen = time.monotonic()
                if message.type == WSMsgType.TEXT:
                    await self._answer(socket, message.data)
                elif message.type == WSMsgType.BINARY:
                    await socket.send(self._error_frame(socket, "Binary frames are not supported"))
        finally:
            self._sockets.discard(socket)
            participant.sockets.discard(socket)
        return ws

    async def _answer(self, socket: Socket, text: str) -> None:
        frame = _parse_frame(text)
        topic = frame.get("topic") if frame is not None else None
        if topic == "aws/heartbeat":
            await socket.send(_HEARTBEAT_REPLY)
        elif topic == "aws/ping":
            await socket.send(_PING_REPLY)
        elif topic == "aws/subscribe":
            socket.subscribed = True
            await socket.send(dumps({"topic": topic, "content": {"status": "success", "topics": _topics(frame)}}))
        elif topic == "aws/unsubscribe":
            socket.subscribed = False
            await socket.send(dumps({"topic": topic, "content": {"status": "success", "topics": _topics(frame)}}))
        else:
            reason = "Malformed frame" if frame is None else f"Unknown topic: {str(topic)[:100]}"
            log.debug("websocket %s: %s", socket.connection_id, reason)
            await socket.send(self._error_frame(socket, reason))

    @staticmethod
    def _error_frame(socket: Socket, message: str) -> str:
        """API Gateway's own error shape: no topic, a message, the connection's id."""
        return dumps({"message": message, "connectionId": socket.connection_id, "requestId": new_id()})

    async def deliver(self, contact: Contact, item: dict[str, Any]) -> None:
        frame = dumps({"topic": CHAT_TOPIC, "contentType": "application/json", "content": dumps(item)})
        for participant in contact.participants.values():
            for socket in list(participant.sockets):
                if not socket.subscribed:
                    continue
                if self._faults.drop_websocket_now():
                    await socket.close(code=1011)
                    continue
                await socket.send(frame)

    async def drop(self, matches: Callable[[Socket], bool]) -> int:
        """Close the matching sockets at once, as a network blink would."""
        chosen = [socket for socket in self._sockets if matches(socket)]
        for socket in chosen:
            await socket.close(code=1011)
        return len(chosen)

    async def _sweep_forever(self) -> None:
        idle = self._config.websocket_idle_timeout
        lifetime = self._config.websocket_max_lifetime
        period = min(max(min(idle, lifetime) / 4, 0.05), 30.0)
        while True:
            await asyncio.sleep(period)
            now = time.monotonic()
            for socket in [s for s in self._sockets if now - s.last_seen > idle or now - s.opened_at > lifetime]:
                log.debug("closing idle or old websocket %s", socket.connection_id)
                await socket.close(code=1001)


def _parse_frame(text: str) -> dict[str, Any] | None:
    """Lenient like the real endpoint: the iOS SDK sends a subscribe with a trailing ')'."""
    for candidate in (text, text.rstrip().rstrip(")")):
        try:
            frame = json.loads(candidate)
        except (ValueError, RecursionError):
            continue
        return frame if isinstance(frame, dict) and not has_lone_surrogate(frame) else None
    return None


def _topics(frame: dict[str, Any]) -> list[str]:
    content = frame.get("content")
    topics = content.get("topics") if isinstance(content, dict) else None
    if isinstance(topics, list) and all(isinstance(t, str) for t in topics):
        return topics
    return [CHAT_TOPIC]
