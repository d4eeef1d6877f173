"""The participant websocket: open, subscribe, heartbeat, watch for silence, hand items over.

A `ChatSocket` is one socket's life. It never reconnects: deciding when and how
to come back belongs to the caller, in one place (see botkit.runtime.connection).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import re
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.proxy import get_proxy
from websockets.uri import parse_uri

from botkit.connect.models import Item
from botkit.connect.outbound import websocket_options

log = logging.getLogger(__name__)

_QUERY = re.compile(r"\?[^\s\"']*")


class _HideQueries(logging.Filter):
    """The websockets library logs its handshake request line at DEBUG; on AWS the URL's query is a credential."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = _QUERY.sub("?****", str(record.msg))
        if isinstance(record.args, tuple):
            record.args = tuple(_QUERY.sub("?****", arg) if isinstance(arg, str) else arg for arg in record.args)
        return True


_wire_log = logging.getLogger(f"{__name__}.wire")
_wire_log.addFilter(_HideQueries())

CHAT_TOPIC = "aws/chat"
_SUBSCRIBE = json.dumps({"topic": "aws/subscribe", "content": {"topics": [CHAT_TOPIC]}})
_HEARTBEAT = json.dumps({"topic": "aws/heartbeat"})
HEARTBEAT_UNANSWERED = "heartbeat unanswered"


class SocketFailure(Exception):
    """The socket could not be opened or subscribed; `reason` is safe to log (no URL, no token)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ChatSocket:
    """An open, subscribed participant websocket.

    The heartbeat doubles as the watchdog: a heartbeat still unanswered when the
    next one is due means the socket is dead, whatever TCP believes.
    """

    def __init__(self, connection: ClientConnection, heartbeat_interval: float) -> None:
        self._connection = connection
        self._heartbeat_interval = heartbeat_interval
        self._heartbeat_answered = True
        self._silent = False
        self._beat: asyncio.TimerHandle | None = None
        self._sending: asyncio.Task[None] | None = None

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        heartbeat_interval: float = 10.0,
        subscribe_timeout: float = 1.0,
        subscribe_attempts: int = 3,
        open_timeout: float = 10.0,
        close_timeout: float = 2.0,
    ) -> ChatSocket:
        try:
            connection = await connect(
                url,
                compression=None,
                ping_interval=None,
                open_timeout=open_timeout,
                close_timeout=close_timeout,
                max_size=1 << 20,
                max_queue=64,
                user_agent_header=None,
                logger=_wire_log,
                proxy=_proxy_for(*_endpoint_of(url)),
                **websocket_options(url),
            )
        except InvalidHandshake as error:
            raise SocketFailure(f"handshake refused: {type(error).__name__}") from None
        except (OSError, TimeoutError) as error:
            raise SocketFailure(f"cannot connect: {type(error).__name__}") from None
        socket = cls(connection, heartbeat_interval)
        try:
            await socket._subscribe(subscribe_timeout, subscribe_attempts)
        except BaseException:
            await connection.close()
            raise
        return socket

    async def _subscribe(self, timeout: float, attempts: int) -> None:
        """Like chatjs: resend a subscribe that gets no answer in time, a few times."""
        for _ in range(attempts):
            try:
                await self._connection.send(_SUBSCRIBE)
                async with asyncio.timeout(timeout):
                    while True:
                        frame = _decode(await self._connection.recv())
                        if frame is None or frame.get("topic") != "aws/subscribe":
                            continue
                        content = frame.get("content")
                        if isinstance(content, dict) and content.get("status") == "success":
                            return
                        raise SocketFailure("subscribe refused")
            except TimeoutError:
                continue
            except ConnectionClosed:
                raise SocketFailure("closed while subscribing") from None
        raise SocketFailure("subscribe unanswered")

    async def run(self, on_item: Callable[[Item], None]) -> str:
        """Hand every chat item to `on_item` until the socket ends; return why it ended.

        Reading runs in the caller's task and the heartbeat is a timer, not a task:
        an idle socket costs no task of its own.
        """
        self._heartbeat()
        try:
            reason = await self._read(on_item)
            return HEARTBEAT_UNANSWERED if self._silent else reason
        finally:
            if self._beat is not None:
                self._beat.cancel()
            await self._connection.close()

    def _heartbeat(self) -> None:
        """Send a heartbeat, unless the last one is still unanswered: then the peer is gone."""
        if not self._heartbeat_answered:
            self._silent = True
            # A silent peer will not answer a closing handshake either: don't wait for one.
            self._connection.transport.abort()
            return
        self._heartbeat_answered = False
        if self._sending is None or self._sending.done():
            self._sending = asyncio.ensure_future(self._send_heartbeat())
        self._beat = asyncio.get_running_loop().call_later(self._heartbeat_interval, self._heartbeat)

    async def _send_heartbeat(self) -> None:
        try:
            await self._connection.send(_HEARTBEAT)
        except ConnectionClosed:
            return

    async def _read(self, on_item: Callable[[Item], None]) -> str:
        try:
            async for message in self._connection:
                frame = _decode(message)
                if frame is None:
                    log.warning("ignoring a malformed websocket frame (%d characters)", len(message))
                    continue
                topic = frame.get("topic")
                if topic == CHAT_TOPIC:
                    item = _chat_item(frame)
                    if item is None:
                        log.warning("ignoring an aws/chat frame whose content is not an item")
                    else:
                        on_item(item)
                elif topic == "aws/heartbeat":
                    self._heartbeat_answered = True
                elif topic is None and "message" in frame:
                    log.warning("websocket error frame: %s", str(frame.get("message"))[:200])
        except ConnectionClosed as closed:
            return f"closed by peer ({closed.rcvd.code if closed.rcvd else 'no close frame'})"
        return "closed by peer"

    async def close(self) -> None:
        await self._connection.close()


def _endpoint_of(url: str) -> tuple[str, str]:
    scheme, _, rest = url.partition("://")
    return scheme, rest.split("/", 1)[0].split("?", 1)[0]


@functools.cache
def _proxy_for(scheme: str, netloc: str) -> str | None:
    """The proxy (environment and no_proxy honoured) for an endpoint, looked up once: it walks os.environ."""
    try:
        return get_proxy(parse_uri(f"{scheme}://{netloc}/"))
    except InvalidURI:
        return None


def _decode(message: str | bytes) -> dict[str, Any] | None:
    try:
        frame = json.loads(message)
    except ValueError:
        return None
    return frame if isinstance(frame, dict) else None


def _chat_item(frame: dict[str, Any]) -> Item | None:
    content = frame.get("content")
    try:
        data = json.loads(content) if isinstance(content, str) else content
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("Id"), str):
        return None
    return Item.from_wire(data)
