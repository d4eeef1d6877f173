"""Raw clients for the emulator's tests: plain HTTP for the APIs, plain websockets for the chat socket.

Nothing here goes through botkit's own client: these helpers put exactly the
bytes on the wire that the real SDKs do, so a test sees what they would see.
"""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from botkit.emulator.config import DEFAULT_CONTACT_FLOW_ID, DEFAULT_INSTANCE_ID

TIMEOUT = 5.0
EVENT = "application/vnd.amazonaws.connect.event."
JOINED = EVENT + "participant.joined"
LEFT = EVENT + "participant.left"
CHAT_ENDED = EVENT + "chat.ended"
TYPING = EVENT + "typing"

SUBSCRIBE = json.dumps({"topic": "aws/subscribe", "content": {"topics": ["aws/chat"]}})
HEARTBEAT = json.dumps({"topic": "aws/heartbeat"})
PING = json.dumps({"topic": "aws/ping"})


@dataclass
class Reply:
    status: int
    headers: Any
    body: Any
    text: str


@dataclass
class Session:
    """One participant's credentials: who it is, its ConnectionToken, and a websocket URL."""

    contact_id: str
    participant_id: str
    participant_token: str
    connection_token: str
    websocket_url: str


class Api:
    """The emulator's REST surface through a raw aiohttp session."""

    def __init__(self, http: aiohttp.ClientSession, base_url: str) -> None:
        self.http = http
        self.base_url = base_url

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        data: bytes | str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        kwargs: dict[str, Any] = {"headers": headers or {}}
        if data is not None:
            kwargs["data"] = data
        elif body is not None:
            kwargs["json"] = body
        async with self.http.request(method, self.base_url + path, **kwargs) as response:
            text = await response.text()
            try:
                parsed = json.loads(text) if text else None
            except ValueError:
                parsed = None
            return Reply(response.status, response.headers, parsed, text)

    async def ok(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        reply = await self.call(method, path, body, **kwargs)
        assert reply.status == 200, (method, path, reply.status, reply.text)
        return reply.body

    # connect --------------------------------------------------------------

    async def start_chat(self, name: str = "Customer", **extra: Any) -> dict[str, Any]:
        body = {
            "InstanceId": DEFAULT_INSTANCE_ID,
            "ContactFlowId": DEFAULT_CONTACT_FLOW_ID,
            "ParticipantDetails": {"DisplayName": name},
            **extra,
        }
        return await self.ok("PUT", "/contact/chat", body)

    async def stop_contact(self, contact_id: str) -> None:
        await self.ok("POST", "/contact/stop", {"InstanceId": DEFAULT_INSTANCE_ID, "ContactId": contact_id})

    # participant -----------------------------------------------------------

    async def participant(self, path: str, token: str, body: Any = None, **kwargs: Any) -> Reply:
        headers = {"X-Amz-Bearer": token, "Content-Type": "application/json", **kwargs.pop("headers", {})}
        return await self.call("POST", "/participant/" + path, body, headers=headers, **kwargs)

    async def connection(self, contact_id: str, participant_id: str, participant_token: str) -> Session:
        body = {"Type": ["WEBSOCKET", "CONNECTION_CREDENTIALS"], "ConnectParticipant": True}
        reply = await self.participant("connection", participant_token, body)
        assert reply.status == 200, reply.text
        return Session(
            contact_id,
            participant_id,
            participant_token,
            reply.body["ConnectionCredentials"]["ConnectionToken"],
            reply.body["Websocket"]["Url"],
        )

    async def customer(self, name: str = "Customer", **extra: Any) -> Session:
        started = await self.start_chat(name, **extra)
        return await self.connection(started["ContactId"], started["ParticipantId"], started["ParticipantToken"])

    async def join(self, contact_id: str, role: str = "AGENT", name: str | None = None) -> Session:
        body: dict[str, Any] = {"ParticipantRole": role}
        if name is not None:
            body["DisplayName"] = name
        joined = await self.ok("POST", f"/emulator/contacts/{contact_id}/participants", body)
        return await self.connection(contact_id, joined["ParticipantId"], joined["ParticipantToken"])

    async def send_message(
        self, session: Session, content: str, content_type: str = "text/plain", client_token: str | None = None
    ) -> Reply:
        body = {"ContentType": content_type, "Content": content, "ClientToken": client_token or str(uuid.uuid4())}
        return await self.participant("message", session.connection_token, body)

    async def transcript(self, session: Session, max_results: int = 100) -> list[dict[str, Any]]:
        reply = await self.participant(
            "transcript", session.connection_token, {"MaxResults": max_results, "SortOrder": "ASCENDING"}
        )
        assert reply.status == 200, reply.text
        return reply.body["Transcript"]

    async def set_faults(self, **spec: Any) -> dict[str, Any]:
        return await self.ok("PUT", "/emulator/faults", spec)


# websocket -----------------------------------------------------------------


async def open_socket(url: str, subscribe: bool = True, receive_buffer: int | None = None) -> ClientConnection:
    """`receive_buffer` shrinks the kernel's receive buffer, so a peer that stops reading backs up quickly."""
    sock = None
    if receive_buffer is not None:
        host, port = urlsplit(url).hostname, urlsplit(url).port
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (host, port))
    ws = await connect(url, open_timeout=TIMEOUT, close_timeout=TIMEOUT, ping_interval=None, sock=sock)
    if subscribe:
        await ws.send(SUBSCRIBE)
        assert await recv_json(ws) == {
            "topic": "aws/subscribe",
            "content": {"status": "success", "topics": ["aws/chat"]},
        }
    return ws


async def recv_json(ws: ClientConnection, timeout: float = TIMEOUT) -> Any:
    frame = await asyncio.wait_for(ws.recv(), timeout)
    assert isinstance(frame, str), f"binary frame from the server: {frame!r}"
    decoded = json.loads(frame)
    assert isinstance(decoded, dict), f"server frame is not a JSON object: {frame}"
    return decoded


async def next_item(
    ws: ClientConnection, predicate: Callable[[dict[str, Any]], bool] | None = None, timeout: float = TIMEOUT
) -> dict[str, Any]:
    """The next chat item (matching `predicate`), checking the frame's exact envelope on the way."""

    async def wanted() -> dict[str, Any]:
        while True:
            frame = await recv_json(ws, timeout)
            assert set(frame) == {"topic", "contentType", "content"}, frame
            assert frame["topic"] == "aws/chat" and frame["contentType"] == "application/json", frame
            assert isinstance(frame["content"], str), frame
            item = json.loads(frame["content"])
            assert isinstance(item, dict)
            if predicate is None or predicate(item):
                return item

    return await asyncio.wait_for(wanted(), timeout)


def of_type(content_type: str) -> Callable[[dict[str, Any]], bool]:
    return lambda item: item.get("ContentType") == content_type


def message(content: str) -> Callable[[dict[str, Any]], bool]:
    return lambda item: item.get("Type") == "MESSAGE" and item.get("Content") == content


async def heartbeat(ws: ClientConnection, timeout: float = TIMEOUT) -> None:
    """Round-trip a heartbeat: proves the socket works, and that nothing was queued before the answer."""
    await ws.send(HEARTBEAT)
    assert await recv_json(ws, timeout) == {"topic": "aws/heartbeat"}


async def wait_closed(ws: ClientConnection, timeout: float = TIMEOUT) -> None:
    """Wait for the server to close the socket, draining frames meanwhile."""

    async def drained() -> None:
        try:
            while True:
                await ws.recv()
        except ConnectionClosed:
            pass

    await asyncio.wait_for(drained(), timeout)


class running_api:
    """`async with running_api(base_url) as api:` an Api on a fresh aiohttp session."""

    def __init__(self, base_url: str) -> None:
        self._base_url = base_url
        self._http: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Api:
        self._http = aiohttp.ClientSession()
        return Api(self._http, self._base_url)

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._http is not None
        await self._http.close()


def assert_service_error(reply: Reply, status: int | None = None, error_type: str | None = None) -> str:
    """The service's error shape: x-amzn-ErrorType, x-amzn-RequestId, a JSON body with `message`; returns it."""
    if status is not None:
        assert reply.status == status, (reply.status, reply.text)
    assert 400 <= reply.status < 500, (reply.status, reply.text)
    assert reply.headers.get("x-amzn-ErrorType"), (reply.status, dict(reply.headers), reply.text)
    if error_type is not None:
        assert reply.headers["x-amzn-ErrorType"] == error_type, (reply.headers["x-amzn-ErrorType"], reply.text)
    assert reply.headers.get("x-amzn-RequestId"), dict(reply.headers)
    assert isinstance(reply.body, dict), reply.text
    assert isinstance(reply.body.get("message"), str) and reply.body["message"], reply.text
    return reply.body["message"]
