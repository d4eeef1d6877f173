"""Bad input never yields a 500 or a traceback: every refusal is a 4xx in the service's error shape.

The first half walks the known kinds of bad input one by one; the second half
lets hypothesis throw arbitrary JSON, bytes and websocket frames at one shared
emulator.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import aiohttp
import botocore.session
import pytest
from botocore.model import ListShape, Shape, StructureShape
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from websockets.sync.client import connect as sync_connect

from botkit.connect import vocabulary as v
from botkit.emulator import Emulator, EmulatorConfig
from tests.emulator.wsclient import (
    HEARTBEAT,
    SUBSCRIBE,
    Api,
    Session,
    assert_service_error,
    heartbeat,
    message,
    next_item,
    open_socket,
    recv_json,
    running_api,
)

MODEL = botocore.session.get_session().get_service_model("connectparticipant")
POST_OPERATIONS = {
    name: MODEL.operation_model(name).http["requestUri"][len("/participant/") :]
    for name in MODEL.operation_names
    if MODEL.operation_model(name).http["method"] == "POST"
}
ACCESS_DENIED = "Access denied"


@pytest.fixture
async def api(emulator):
    async with running_api(emulator.base_url) as api:
        yield api


def bearer_for(operation: str, session: Session) -> str:
    return session.participant_token if operation == "CreateParticipantConnection" else session.connection_token


# Request bodies ---------------------------------------------------------------


@pytest.mark.parametrize("operation", sorted(POST_OPERATIONS))
@pytest.mark.parametrize(
    "data, reason",
    [
        (b"{not json", "not valid JSON"),
        (b'{"ContentType": "text/plain",', "not valid JSON"),
        (b"\xff\xfe\x00", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (b'"a string"', "JSON object"),
        (b"42", "JSON object"),
        (b"null", "JSON object"),
        (b"[" * 100_000, "not valid JSON"),
    ],
    ids=["garbage", "truncated", "not-utf8", "array", "string", "number", "null", "deeply-nested"],
)
async def test_a_body_that_is_no_json_object_is_a_400(api, operation, data, reason) -> None:
    session = await api.customer()
    reply = await api.participant(POST_OPERATIONS[operation], bearer_for(operation, session), data=data)
    assert reason in assert_service_error(reply, 400, "ValidationException")


@pytest.mark.parametrize(
    "path, body, named",
    [
        ("message", {"ContentType": "text/plain", "Content": 5}, "content"),
        ("message", {"ContentType": ["text/plain"], "Content": "hi"}, "contentType"),
        ("message", {"ContentType": "text/plain", "Content": "hi", "ClientToken": {"a": 1}}, "clientToken"),
        ("message", {"ContentType": "text/plain", "Content": None}, "content"),
        ("event", {"ContentType": True}, "contentType"),
        ("transcript", {"MaxResults": "10"}, "maxResults"),
        ("transcript", {"MaxResults": 1.5}, "maxResults"),
        ("transcript", {"MaxResults": 101}, "maxResults"),
        ("transcript", {"MaxResults": 2**70}, "maxResults"),
        ("transcript", {"ScanDirection": "SIDEWAYS"}, "scanDirection"),
        ("transcript", {"StartPosition": "newest"}, "startPosition"),
        ("transcript", {"StartPosition": {"MostRecent": -1}}, "startPosition.mostRecent"),
        ("connection", {"Type": "WEBSOCKET"}, "type"),
        ("connection", {"Type": ["SMOKE_SIGNALS"]}, "type"),
        ("connection", {"ConnectParticipant": "yes"}, "connectParticipant"),
        (
            "start-attachment-upload",
            {"ContentType": "text/plain", "AttachmentSizeInBytes": "5", "AttachmentName": "a.txt", "ClientToken": "t"},
            "attachmentSizeInBytes",
        ),
        ("complete-attachment-upload", {"AttachmentIds": "id", "ClientToken": "t"}, "attachmentIds"),
        ("attachment", {"AttachmentId": "id", "UrlExpiryInSeconds": 1}, "urlExpiryInSeconds"),
    ],
)
async def test_wrong_types_and_ranges_are_a_400_naming_the_member(api, path, body, named) -> None:
    session = await api.customer()
    token = session.participant_token if path == "connection" else session.connection_token
    said = assert_service_error(await api.participant(path, token, body), 400, "ValidationException")
    assert f"'{named}'" in said or f"'{named}." in said, said


@pytest.mark.parametrize(
    "path, body, missing",
    [
        ("message", {}, ["contentType", "content"]),
        ("message", {"Content": "hi"}, ["contentType"]),
        ("event", {}, ["contentType"]),
        ("start-attachment-upload", {}, ["contentType", "attachmentSizeInBytes", "attachmentName", "clientToken"]),
        ("complete-attachment-upload", {}, ["attachmentIds", "clientToken"]),
        ("attachment", {}, ["attachmentId"]),
        ("authentication-url", {}, ["sessionId", "redirectUri"]),
        ("cancel-authentication", {}, ["sessionId"]),
    ],
)
async def test_missing_members_are_a_400_naming_them(api, path, body, missing) -> None:
    session = await api.customer()
    said = assert_service_error(await api.participant(path, session.connection_token, body), 400, "ValidationException")
    for name in missing:
        assert f"'{name}'" in said


async def test_an_empty_body_stands_for_an_empty_object(api) -> None:
    session = await api.customer()
    reply = await api.participant("transcript", session.connection_token, data=b"")
    assert reply.status == 200 and isinstance(reply.body["Transcript"], list)


@pytest.mark.parametrize(
    "content, ok",
    [("x" * 16_384, True), ("x" * 16_385, False), ("é" * 8_192, True), ("é" * 8_193, False), ("😀" * 4_097, False)],
    ids=["16384-ascii", "16385-ascii", "16384-bytes-of-two-byte-chars", "16386-bytes", "16388-bytes-of-emoji"],
)
async def test_message_content_is_limited_in_bytes(api, content, ok) -> None:
    session = await api.customer()
    reply = await api.send_message(session, content)
    if ok:
        assert reply.status == 200, reply.text
    else:
        assert "'content'" in assert_service_error(reply, 400, "ValidationException")


@pytest.mark.parametrize("content_type", ["text/html", "", "TEXT/PLAIN", "application/json", "text/markdown"])
async def test_content_types_the_contact_does_not_allow_are_a_400(api, content_type) -> None:
    session = await api.customer()  # allows text/plain only
    assert_service_error(await api.send_message(session, "hi", content_type), 400, "ValidationException")


async def test_content_types_the_contact_allows_are_accepted(api) -> None:
    session = await api.customer(SupportedMessagingContentTypes=["text/plain", "text/markdown", "application/json"])
    for content_type, content in [("text/markdown", "**hi**"), ("application/json", '{"a":1}')]:
        assert (await api.send_message(session, content, content_type)).status == 200


@pytest.mark.parametrize(
    "header", ["text/plain", "application/x-www-form-urlencoded", "application/x-amz-json-1.1", None]
)
async def test_the_http_content_type_header_is_not_what_the_body_is_judged_by(api, header) -> None:
    """The SDKs send application/json; a client that sends another header still gets an answer, never a 500."""
    session = await api.customer()
    body = json.dumps({"ContentType": "text/plain", "Content": "hi"}).encode()
    headers = {"X-Amz-Bearer": session.connection_token}
    if header is not None:
        headers["Content-Type"] = header
    reply = await api.call("POST", "/participant/message", data=body, headers=headers)
    if reply.status != 200:
        assert_service_error(reply)


async def test_a_receipt_with_absurdly_nested_content_is_a_400(api) -> None:
    session = await api.customer()
    body = {"ContentType": v.EVENT_MESSAGE_READ, "Content": "[" * 10_000}
    assert_service_error(await api.participant("event", session.connection_token, body), 400, "ValidationException")


async def test_a_body_beyond_the_size_limit_is_refused_in_the_service_shape(api) -> None:
    session = await api.customer()
    reply = await api.participant("message", session.connection_token, data=b" " * (2 * 1024 * 1024))
    assert 400 <= reply.status < 500
    assert_service_error(reply)


LONE_SURROGATE = "\\ud800"  # JSON may escape half a UTF-16 pair; such text can never be sent back as UTF-8


@pytest.mark.parametrize(
    "path, body",
    [
        ("message", '{"ContentType":"text/plain","Content":"hi \\ud800"}'),
        ("message", '{"ContentType":"text/plain","Content":"hi","ClientToken":"\\udc00"}'),
        ("event", '{"ContentType":"application/vnd.amazonaws.connect.event.typing","Content":"\\ud800"}'),
        (
            "event",
            '{"ContentType":"application/vnd.amazonaws.connect.event.message.read","Content":"{\\"messageId\\":\\"\\ud800\\"}"}',
        ),
        (
            "start-attachment-upload",
            '{"ContentType":"text/plain","AttachmentSizeInBytes":5,"AttachmentName":"\\ud800.txt","ClientToken":"t"}',
        ),
        ("transcript", '{"StartPosition":{"Id":"\\ud800"}}'),
        ("authentication-url", '{"SessionId":"' + "a" * 35 + '\\ud800","RedirectUri":"https://example.com/\\ud800"}'),
    ],
)
async def test_lone_surrogates_are_refused_not_a_500(api, path, body) -> None:
    session = await api.customer()
    async with await open_socket(session.websocket_url) as ws:
        reply = await api.participant(path, session.connection_token, data=body.encode())
        assert_service_error(reply, 400, "ValidationException")
        # nothing poisoned the chat: later items still travel and the transcript still reads
        assert (await api.send_message(session, "after the surrogate")).status == 200
        await next_item(ws, message("after the surrogate"))
    assert (await api.participant("transcript", session.connection_token, {})).status == 200


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("POST", "/emulator/contacts/{contact}/participants", '{"ParticipantRole":"AGENT","DisplayName":"\\ud800"}'),
        ("PUT", "/emulator/views/v1", '{"Id":"\\ud800","Name":"n"}'),
        ("POST", "/emulator/webhooks", '{"Url":"http://127.0.0.1:9/\\ud800"}'),
    ],
)
async def test_lone_surrogates_are_refused_by_the_control_api(api, method, path, body) -> None:
    session = await api.customer()
    reply = await api.call(method, path.format(contact=session.contact_id), data=body.encode())
    assert_service_error(reply, 400, "ValidationException")
    assert (await api.participant("transcript", session.connection_token, {})).status == 200
    view = await api.call("GET", "/participant/views/v1", headers={"X-Amz-Bearer": session.connection_token})
    assert view.status == 404


async def test_start_chat_with_bad_input_is_a_4xx(api) -> None:
    for data in (b"{", b"[]", b'{"InstanceId":5}', b'{"ParticipantDetails":{"DisplayName":"\\ud800"}}'):
        reply = await api.call("PUT", "/contact/chat", data=data, headers={"Content-Type": "application/json"})
        assert_service_error(reply, 400)
    started = await api.start_chat()  # and the next one is fine
    assert started["ContactId"]


# Tokens and state ---------------------------------------------------------------


@pytest.mark.parametrize("operation", sorted(POST_OPERATIONS))
@pytest.mark.parametrize("token", ["", "garbage", "wrong-kind"])
async def test_bad_tokens_are_access_denied(api, operation, token) -> None:
    session = await api.customer()
    if token == "wrong-kind":  # a ParticipantToken where a ConnectionToken belongs, and the other way round
        token = session.connection_token if operation == "CreateParticipantConnection" else session.participant_token
    headers = {"X-Amz-Bearer": token} if token else {}
    reply = await api.call("POST", f"/participant/{POST_OPERATIONS[operation]}", {}, headers=headers)
    assert assert_service_error(reply, 403, "AccessDeniedException") == ACCESS_DENIED


async def test_describe_view_with_bad_tokens_is_access_denied(api) -> None:
    await api.customer()
    for headers in ({}, {"X-Amz-Bearer": "garbage"}):
        reply = await api.call("GET", "/participant/views/anything", headers=headers)
        assert assert_service_error(reply, 403, "AccessDeniedException") == ACCESS_DENIED


async def test_expired_connection_token_is_access_denied() -> None:
    async with (
        Emulator(EmulatorConfig(port=0, connection_token_ttl=0)) as emulator,
        running_api(emulator.base_url) as api,
    ):
        session = await api.customer()
        reply = await api.send_message(session, "too late")
        assert assert_service_error(reply, 403, "AccessDeniedException") == ACCESS_DENIED


async def test_another_contacts_transcript_is_access_denied(api) -> None:
    mine = await api.customer()
    theirs = await api.customer()
    reply = await api.participant("transcript", mine.connection_token, {"ContactId": theirs.contact_id})
    assert assert_service_error(reply, 403, "AccessDeniedException") == ACCESS_DENIED


async def test_an_ended_chat_refuses_everything(api) -> None:
    session = await api.customer()
    await api.stop_contact(session.contact_id)
    for path, token, body in [
        ("message", session.connection_token, {"ContentType": "text/plain", "Content": "hello?"}),
        ("event", session.connection_token, {"ContentType": v.EVENT_TYPING}),
        ("disconnect", session.connection_token, {}),
        ("connection", session.participant_token, {"Type": ["WEBSOCKET"]}),
    ]:
        reply = await api.participant(path, token, body)
        assert assert_service_error(reply, 403, "AccessDeniedException") == ACCESS_DENIED
    instance_id = (await api.ok("GET", "/emulator/info"))["instanceId"]
    reply = await api.call("POST", "/contact/stop", {"InstanceId": instance_id, "ContactId": session.contact_id})
    assert_service_error(reply, 410, "ContactNotFoundException")


# Paths, methods, CORS ---------------------------------------------------------------


@pytest.mark.parametrize(
    "method, path",
    [("GET", "/"), ("GET", "/nope"), ("POST", "/participant/nope"), ("POST", "/contact/nope"), ("PUT", "/participant")],
)
async def test_unknown_paths_are_404_in_the_service_shape(api, method, path) -> None:
    assert_service_error(await api.call(method, path, {}), 404)


@pytest.mark.parametrize(
    "method, path", [("GET", "/participant/message"), ("DELETE", "/participant/transcript"), ("GET", "/contact/chat")]
)
async def test_wrong_methods_are_405_in_the_service_shape(api, method, path) -> None:
    assert_service_error(await api.call(method, path), 405)


@pytest.mark.parametrize(
    "path", ["/participant/message", "/participant/connection", "/contact/chat", "/nope"]  # not /emulator/*: no CORS
)
async def test_cors_preflight_is_answered(api, path) -> None:
    reply = await api.call(
        "OPTIONS",
        path,
        headers={
            "Origin": "http://127.0.0.1:3000",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-amz-bearer,x-amz-user-agent",
        },
    )
    assert reply.status == 200
    assert reply.headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in reply.headers["Access-Control-Allow-Methods"]
    assert reply.headers["Access-Control-Allow-Headers"] in ("*", "content-type,x-amz-bearer,x-amz-user-agent")
    assert reply.headers["x-amzn-RequestId"]


async def test_answers_and_errors_expose_the_request_id_to_browsers(api) -> None:
    session = await api.customer()
    for reply in (
        await api.participant("transcript", session.connection_token, {}),
        await api.participant("message", "garbage", {}),
    ):
        assert reply.headers["Access-Control-Allow-Origin"] == "*"
        exposed = {h.strip().lower() for h in reply.headers["Access-Control-Expose-Headers"].split(",")}
        assert {"x-amzn-requestid", "x-amzn-errortype"} <= exposed
        assert reply.headers["x-amzn-RequestId"]


async def test_request_ids_are_unique(api) -> None:
    replies = [await api.call("GET", "/nope") for _ in range(5)]
    assert len({r.headers["x-amzn-RequestId"] for r in replies}) == 5


async def test_the_websocket_path_without_an_upgrade_is_a_4xx(api) -> None:
    session = await api.customer()
    query = session.websocket_url.split("?", 1)[1]
    assert_service_error(await api.call("GET", f"/participant/websocket?{query}"))
    assert_service_error(await api.call("GET", "/participant/websocket?X-Amz-Security-Token=forged"), 403)


async def test_the_websocket_refusal_is_in_the_service_shape(api) -> None:
    await api.set_faults(refuse_websockets_seconds=30)
    session = await api.customer()
    headers = {
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    }
    reply = await api.call("GET", "/participant/websocket?" + session.websocket_url.split("?", 1)[1], headers=headers)
    assert reply.status == 503
    assert reply.headers.get("x-amzn-ErrorType") and reply.body["message"]


@pytest.mark.parametrize(
    "frame",
    [
        '{"topic":"\\ud800"}',
        '{"topic":"aws/subscribe","content":{"topics":["\\ud800"]}}',
        '{"topic":"aws/heartbeat","content":"\\udfff"}',
    ],
)
async def test_websocket_frames_with_lone_surrogates_get_an_error_frame(api, frame) -> None:
    session = await api.customer()
    async with await open_socket(session.websocket_url) as ws:
        await ws.send(frame)
        reply = await recv_json(ws)
        assert set(reply) == {"message", "connectionId", "requestId"} or reply == {"topic": "aws/heartbeat"}
        await heartbeat(ws)


# Fuzzing ---------------------------------------------------------------------------


class FuzzClient:
    """An aiohttp client on a private loop, for hypothesis's synchronous examples against the shared emulator."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.loop = asyncio.new_event_loop()
        self.http = self.run(self._open())
        self.api = Api(self.http, base_url)
        self._session: Session | None = None
        self._uses = 0

    async def _open(self) -> aiohttp.ClientSession:
        return aiohttp.ClientSession()

    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)

    def session(self) -> Session:
        """A live customer; renewed when the last one may be gone, and now and then to stay clear of quotas."""
        self._uses += 1
        if self._session is None or self._uses % 25 == 0:
            self._session = self.run(self.api.customer("Fuzz", SupportedMessagingContentTypes=MESSAGE_TYPES))
        return self._session

    def forget_session(self) -> None:
        self._session = None

    def close(self) -> None:
        self.run(self.http.close())
        self.loop.close()


@pytest.fixture(scope="module")
def fuzz(emulator_thread) -> Iterator[FuzzClient]:
    client = FuzzClient(emulator_thread.base_url)
    yield client
    client.close()


def check_reply(reply: Any) -> None:
    assert reply.status < 500, (reply.status, reply.text)
    if reply.status == 200:
        assert isinstance(reply.body, dict), reply.text
        assert reply.headers.get("x-amzn-RequestId")
    else:
        assert_service_error(reply)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
MESSAGE_TYPES = [
    v.TEXT_PLAIN,
    "text/markdown",
    "application/json",
    "application/vnd.amazonaws.connect.message.interactive",
    "application/vnd.amazonaws.connect.message.interactive.response",
]
CONTENT_TYPES = sorted(
    {
        v.TEXT_PLAIN,
        "text/markdown",
        "application/json",
        "application/vnd.amazonaws.connect.message.interactive.response",
        v.EVENT_TYPING,
        v.EVENT_CONNECTION_ACKNOWLEDGED,
        v.EVENT_MESSAGE_DELIVERED,
        v.EVENT_MESSAGE_READ,
        v.EVENT_CHAT_ENDED,
        "image/png",
        "text/plain; charset=utf-8",
    }
)
PLAUSIBLE: dict[str, st.SearchStrategy[Any]] = {
    "ContentType": st.sampled_from(CONTENT_TYPES),
    "Content": st.one_of(
        st.text(min_size=1, max_size=60),
        st.builds(lambda i: json.dumps({"messageId": i}), st.text(max_size=40)),
        st.builds(json.dumps, JSON_VALUES),
    ),
    "NextToken": st.builds(
        lambda index, forward: base64.urlsafe_b64encode(json.dumps([index, forward]).encode()).decode(),
        st.integers(),
        st.booleans(),
    ),
    "AttachmentName": st.sampled_from(["a.txt", "b.PNG", "c.exe", ".pdf", "no-extension", "x" * 300 + ".txt"]),
    "RedirectUri": st.sampled_from(["https://example.com/back", "http://127.0.0.1/", "javascript:alert(1)", ""]),
    "SessionId": st.uuids().map(str) | st.text(max_size=40),
    "AbsoluteTime": st.sampled_from(["2024-01-01T00:00:00.000Z", "2024-01-01T00:00:00Z", "yesterday"]),
}


def mostly(usual: st.SearchStrategy[Any], rare: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`usual` nine times in ten, `rare` otherwise; shrinks towards `usual`."""
    return st.integers(min_value=0, max_value=9).flatmap(lambda n: rare if n == 9 else usual)


def member_values(name: str, shape: Shape) -> st.SearchStrategy[Any]:
    """Values for one member: mostly of the modelled type (so the handlers run), sometimes anything at all."""
    if isinstance(shape, StructureShape):
        typed: st.SearchStrategy[Any] = shaped_body(shape)
    elif isinstance(shape, ListShape):
        typed = st.lists(member_values(name, shape.member), max_size=3)
    elif getattr(shape, "enum", None):
        typed = st.sampled_from(shape.enum)
    elif shape.type_name == "string":
        shortest = shape.metadata.get("min", 0)
        typed = st.text(min_size=shortest, max_size=max(shortest, 60))
    elif shape.type_name in ("integer", "long"):
        typed = st.integers(min_value=-5, max_value=400) | st.integers()
    elif shape.type_name == "boolean":
        typed = st.booleans()
    else:
        typed = JSON_VALUES
    if name in PLAUSIBLE:
        typed = mostly(PLAUSIBLE[name], typed)
    return mostly(typed, JSON_VALUES)


def shaped_body(shape: StructureShape) -> st.SearchStrategy[dict[str, Any]]:
    """A body of the operation's members: usually with the required ones, so that many calls get past validation."""
    in_body = {
        name: member_values(name, member)
        for name, member in shape.members.items()
        if member.serialization.get("location") is None
    }
    required = {name: value for name, value in in_body.items() if name in shape.required_members}
    optional = {name: value for name, value in in_body.items() if name not in required}
    return mostly(st.fixed_dictionaries(required, optional=optional), st.fixed_dictionaries({}, optional=in_body))


OPERATION_BODIES = st.one_of(
    [
        st.tuples(st.just(name), mostly(shaped_body(MODEL.operation_model(name).input_shape), JSON_VALUES))
        for name in sorted(POST_OPERATIONS)
    ]
)
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(case=OPERATION_BODIES)
def test_fuzz_operations_with_json_values(fuzz, case) -> None:
    operation, body = case
    session = fuzz.session()
    data = json.dumps(body).encode()
    reply = fuzz.run(fuzz.api.participant(POST_OPERATIONS[operation], bearer_for(operation, session), data=data))
    check_reply(reply)
    event(f"{operation}: {reply.status}")
    if operation == "DisconnectParticipant" or reply.status == 403:
        fuzz.forget_session()


@FUZZ
@given(operation=st.sampled_from(sorted(POST_OPERATIONS)), data=st.binary(max_size=300))
def test_fuzz_operations_with_arbitrary_bytes(fuzz, operation, data) -> None:
    session = fuzz.session()
    reply = fuzz.run(fuzz.api.participant(POST_OPERATIONS[operation], bearer_for(operation, session), data=data))
    check_reply(reply)
    event(f"{operation}: {reply.status}")
    if operation == "DisconnectParticipant" or reply.status == 403:
        fuzz.forget_session()


@settings(max_examples=100, deadline=None)
@given(token=st.text(min_size=1, max_size=80))
def test_fuzz_describe_view_tokens(fuzz, token) -> None:
    session = fuzz.session()
    reply = fuzz.run(
        fuzz.api.call(
            "GET", "/participant/views/" + quote(token, safe=""), headers={"X-Amz-Bearer": session.connection_token}
        )
    )
    check_reply(reply)


@pytest.fixture(scope="module")
def fuzz_socket(fuzz) -> Iterator[Any]:
    session = fuzz.run(fuzz.api.customer("Socket fuzz"))
    with sync_connect(session.websocket_url, open_timeout=5, close_timeout=5) as ws:
        ws.send(SUBSCRIBE)
        assert json.loads(ws.recv(timeout=5))["content"]["status"] == "success"
        yield ws


def sync_answer(ws: Any) -> dict[str, Any]:
    frame = ws.recv(timeout=5)
    assert isinstance(frame, str)
    decoded = json.loads(frame)
    assert isinstance(decoded, dict), frame
    return decoded


FRAMES = st.one_of(
    st.text(max_size=200),
    st.builds(json.dumps, JSON_VALUES),
    st.builds(
        lambda topic, content: json.dumps({"topic": topic, "content": content}),
        st.sampled_from(["aws/subscribe", "aws/unsubscribe", "aws/heartbeat", "aws/ping", "aws/chat", ""])
        | st.text(max_size=20),
        JSON_VALUES,
    ),
    st.builds(lambda text: text + ")", st.builds(json.dumps, JSON_VALUES)),
)


@settings(max_examples=200, deadline=None)
@given(frame=FRAMES | st.binary(max_size=100))
def test_fuzz_websocket_frames(fuzz_socket, frame) -> None:
    fuzz_socket.send(frame)
    answer = sync_answer(fuzz_socket)  # every frame gets exactly one answer, always a JSON object
    assert "topic" in answer or set(answer) == {"message", "connectionId", "requestId"}, answer
    fuzz_socket.send(SUBSCRIBE)  # the fuzz may have unsubscribed it
    assert sync_answer(fuzz_socket)["content"]["status"] == "success"
    fuzz_socket.send(HEARTBEAT)
    assert sync_answer(fuzz_socket) == {"topic": "aws/heartbeat"}
