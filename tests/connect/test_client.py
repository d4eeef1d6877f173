from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import unquote

import aiohttp
import pytest
from aioresponses import aioresponses

from botkit.connect import (
    AccessDeniedException,
    ConflictException,
    InternalServerException,
    MalformedResponseError,
    ParticipantClient,
    ParticipantConnectionError,
    ParticipantServiceError,
    ResourceNotFoundException,
    RetryPolicy,
    Secret,
    ServiceQuotaExceededException,
    StartPosition,
    ThrottlingException,
    UnknownServiceError,
    ValidationException,
)
from botkit.connect import vocabulary as v

from .conftest import CONNECTION_TOKEN_VALUE, ENDPOINT, PARTICIPANT_TOKEN_VALUE, sent

MESSAGE = "/participant/message"
SEND_OK: dict[str, Any] = {"Id": "m1", "AbsoluteTime": "2024-01-01T00:00:00.000Z"}


def error(
    m: aioresponses, path: str, status: int, code: str, message: str, *, repeat: bool = False
) -> None:
    m.post(
        ENDPOINT + path,
        status=status,
        payload={"message": message},
        headers={"x-amzn-ErrorType": code, "x-amzn-RequestId": f"rid-{status}"},
        repeat=repeat,
    )


@pytest.mark.parametrize(
    "status, code, cls",
    [
        (400, "ValidationException", ValidationException),
        (402, "ServiceQuotaExceededException", ServiceQuotaExceededException),
        (403, "AccessDeniedException", AccessDeniedException),
        (404, "ResourceNotFoundException", ResourceNotFoundException),
        (409, "ConflictException", ConflictException),
        (429, "ThrottlingException", ThrottlingException),
        (500, "InternalServerException", InternalServerException),
        (418, "SomethingNewException", UnknownServiceError),
    ],
)
async def test_each_error_code_raises_its_class(
    client: ParticipantClient,
    mocked: aioresponses,
    connection_token: Secret,
    status: int,
    code: str,
    cls: type,
) -> None:
    error(mocked, MESSAGE, status, code, "the reason", repeat=True)
    with pytest.raises(cls) as caught:
        await client.send_message(connection_token, "hi")
    assert isinstance(caught.value, ParticipantServiceError)
    assert (
        caught.value.status,
        caught.value.code,
        caught.value.message,
        caught.value.request_id,
    ) == (
        status,
        code,
        "the reason",
        f"rid-{status}",
    )
    assert caught.value.operation == "SendMessage"


@pytest.mark.parametrize(
    "raw", ["com.amazonaws.connect#ConflictException", "ConflictException:http://x/"]
)
async def test_code_from_body_type(
    client: ParticipantClient, mocked: aioresponses, connection_token: Secret, raw: str
) -> None:
    mocked.post(
        ENDPOINT + "/participant/event", status=409, payload={"__type": raw, "Message": "busy"}
    )
    with pytest.raises(ConflictException) as caught:
        await client.send_event(connection_token, v.EVENT_MESSAGE_READ, '{"messageId":"m"}')
    assert (caught.value.code, caught.value.message, caught.value.request_id) == (
        "ConflictException",
        "busy",
        None,
    )


async def test_retries_429_then_succeeds(
    client: ParticipantClient, mocked: aioresponses, connection_token: Secret
) -> None:
    error(mocked, MESSAGE, 429, "ThrottlingException", "Rate exceeded")
    mocked.post(ENDPOINT + MESSAGE, payload=SEND_OK)
    result = await client.send_message(connection_token, "hi")
    assert (result.id, result.absolute_time) == ("m1", "2024-01-01T00:00:00.000Z")
    assert len(sent(mocked, "POST", MESSAGE)) == 2


async def test_retries_500_then_succeeds(
    client: ParticipantClient, mocked: aioresponses, connection_token: Secret
) -> None:
    error(mocked, MESSAGE, 500, "InternalServerException", "oops")
    mocked.post(ENDPOINT + MESSAGE, status=503, body=b"")
    mocked.post(ENDPOINT + MESSAGE, payload=SEND_OK)
    assert (await client.send_message(connection_token, "hi")).id == "m1"
    assert len(sent(mocked, "POST", MESSAGE)) == 3


async def test_retries_connection_errors_then_succeeds(
    client: ParticipantClient, mocked: aioresponses, connection_token: Secret
) -> None:
    mocked.post(ENDPOINT + MESSAGE, exception=aiohttp.ClientConnectionError("reset by peer"))
    mocked.post(ENDPOINT + MESSAGE, exception=TimeoutError())
    mocked.post(ENDPOINT + MESSAGE, payload=SEND_OK)
    assert (await client.send_message(connection_token, "hi")).id == "m1"
    assert len(sent(mocked, "POST", MESSAGE)) == 3


@pytest.mark.parametrize(
    "status, code, cls",
    [
        (400, "ValidationException", ValidationException),
        (403, "AccessDeniedException", AccessDeniedException),
        (409, "ConflictException", ConflictException),
    ],
)
async def test_no_retry_on_client_errors(
    client: ParticipantClient,
    mocked: aioresponses,
    connection_token: Secret,
    status: int,
    code: str,
    cls: type,
) -> None:
    error(mocked, MESSAGE, status, code, "no", repeat=True)
    with pytest.raises(cls):
        await client.send_message(connection_token, "hi")
    assert len(sent(mocked, "POST", MESSAGE)) == 1


async def test_exhausted_retries_raise_the_last_error(
    client: ParticipantClient, mocked: aioresponses, connection_token: Secret
) -> None:
    error(mocked, MESSAGE, 500, "InternalServerException", "first")
    error(mocked, MESSAGE, 503, "InternalServerException", "second")
    error(mocked, MESSAGE, 429, "ThrottlingException", "last")
    with pytest.raises(ThrottlingException) as caught:
        await client.send_message(connection_token, "hi")
    assert caught.value.message == "last"
    assert len(sent(mocked, "POST", MESSAGE)) == client.retry.max_attempts == 3


async def test_exhausted_network_retries_raise_connection_error(
    client: ParticipantClient, mocked: aioresponses, connection_token: Secret
) -> None:
    mocked.post(ENDPOINT + MESSAGE, exception=aiohttp.ServerDisconnectedError(), repeat=True)
    with pytest.raises(ParticipantConnectionError) as caught:
        await client.send_message(connection_token, "hi")
    assert (caught.value.operation, caught.value.attempts) == ("SendMessage", 3)
    assert isinstance(caught.value.__cause__, aiohttp.ServerDisconnectedError)


async def test_a_single_attempt_policy_never_retries(
    mocked: aioresponses, connection_token: Secret
) -> None:
    error(mocked, MESSAGE, 500, "InternalServerException", "x", repeat=True)
    async with ParticipantClient(ENDPOINT, retry=RetryPolicy(max_attempts=1)) as c:
        with pytest.raises(InternalServerException):
            await c.send_message(connection_token, "hi")
    assert len(sent(mocked, "POST", MESSAGE)) == 1


@pytest.mark.parametrize(
    "call, path",
    [
        (lambda c, t: c.send_message(t, "hi"), MESSAGE),
        (lambda c, t: c.send_event(t, v.EVENT_TYPING), "/participant/event"),
        (lambda c, t: c.disconnect_participant(t), "/participant/disconnect"),
        (
            lambda c, t: c.start_attachment_upload(t, "text/plain", 3, "a.txt"),
            "/participant/start-attachment-upload",
        ),
        (
            lambda c, t: c.complete_attachment_upload(t, "att-1"),
            "/participant/complete-attachment-upload",
        ),
    ],
)
async def test_generated_client_token_is_reused_on_every_retry(
    client: ParticipantClient, mocked: aioresponses, connection_token: Secret, call: Any, path: str
) -> None:
    mocked.post(ENDPOINT + path, exception=aiohttp.ClientConnectionError())
    error(mocked, path, 429, "ThrottlingException", "slow")
    error(mocked, path, 500, "InternalServerException", "oops", repeat=True)
    with pytest.raises(InternalServerException):
        await call(client, connection_token)
    bodies = [request["body"] for request in sent(mocked, "POST", path)]
    assert len(bodies) == 3
    tokens = {body["ClientToken"] for body in bodies}
    assert len(tokens) == 1
    assert re.fullmatch(r"[0-9a-f-]{36}", tokens.pop())
    assert all(body == bodies[0] for body in bodies)


async def test_each_logical_call_gets_its_own_client_token(
    client: ParticipantClient, mocked: aioresponses, connection_token: Secret
) -> None:
    mocked.post(ENDPOINT + MESSAGE, payload=SEND_OK, repeat=True)
    await client.send_message(connection_token, "one")
    await client.send_message(connection_token, "two")
    await client.send_message(connection_token, "three", client_token="mine")
    tokens = [request["body"]["ClientToken"] for request in sent(mocked, "POST", MESSAGE)]
    assert tokens[0] != tokens[1] and tokens[2] == "mine"


async def test_requests_carry_the_bearer_and_only_set_members(
    client: ParticipantClient,
    mocked: aioresponses,
    connection_token: Secret,
    participant_token: Secret,
) -> None:
    mocked.post(
        ENDPOINT + "/participant/connection",
        payload={
            "ConnectionCredentials": {
                "ConnectionToken": "fresh",
                "Expiry": "2024-01-02T00:00:00.000Z",
            }
        },
        repeat=True,
    )
    await client.create_participant_connection(participant_token)
    await client.create_participant_connection(
        participant_token, types=None, connect_participant=True
    )
    first, second = sent(mocked, "POST", "/participant/connection")
    assert first["headers"]["X-Amz-Bearer"] == PARTICIPANT_TOKEN_VALUE
    assert first["headers"]["Content-Type"] == "application/json"
    assert first["body"] == {"Type": ["WEBSOCKET", "CONNECTION_CREDENTIALS"]}
    assert second["body"] == {"ConnectParticipant": True}

    mocked.post(
        ENDPOINT + "/participant/transcript", payload={"InitialContactId": "c", "Transcript": []}
    )
    await client.get_transcript(
        connection_token, max_results=15, scan_direction=v.BACKWARD, sort_order=v.ASCENDING
    )
    (transcript,) = sent(mocked, "POST", "/participant/transcript")
    assert transcript["headers"]["X-Amz-Bearer"] == CONNECTION_TOKEN_VALUE
    assert transcript["body"] == {
        "MaxResults": 15,
        "ScanDirection": "BACKWARD",
        "SortOrder": "ASCENDING",
    }


async def test_every_operation_round_trips(
    client: ParticipantClient,
    mocked: aioresponses,
    connection_token: Secret,
    participant_token: Secret,
) -> None:
    base = ENDPOINT + "/participant"
    mocked.post(
        base + "/connection",
        payload={
            "Websocket": {
                "Url": "ws://127.0.0.1:1/ws",
                "ConnectionExpiry": "2024-01-01T00:01:40.000Z",
            },
            "ConnectionCredentials": {
                "ConnectionToken": "fresh-token",
                "Expiry": "2024-01-02T00:00:00.000Z",
            },
        },
    )
    mocked.post(
        base + "/message",
        payload={**SEND_OK, "MessageMetadata": {"MessageProcessingStatus": "PROCESSING"}},
    )
    mocked.post(base + "/event", payload={"Id": "e1", "AbsoluteTime": "t"})
    mocked.post(base + "/disconnect", payload={})
    mocked.post(
        base + "/start-attachment-upload",
        payload={
            "AttachmentId": "att-1",
            "UploadMetadata": {
                "Url": "https://s3/put",
                "UrlExpiry": "2024-01-01T00:05:00.000Z",
                "HeadersToInclude": {"a": "b"},
            },
        },
    )
    mocked.post(base + "/complete-attachment-upload", body=b"")
    mocked.post(
        base + "/attachment",
        payload={
            "Url": "https://s3/get",
            "UrlExpiry": "2024-01-01T00:05:00.000Z",
            "AttachmentSizeInBytes": 3,
        },
    )
    mocked.post(base + "/authentication-url", payload={"AuthenticationUrl": "https://auth"})
    mocked.post(base + "/cancel-authentication", payload={})

    details = await client.create_participant_connection(participant_token)
    assert details.websocket_url == "ws://127.0.0.1:1/ws"
    assert details.connection_token == Secret("fresh-token")
    assert (
        await client.send_message(connection_token, "hi")
    ).message_processing_status == "PROCESSING"
    assert (await client.send_event(connection_token, v.EVENT_TYPING)).id == "e1"
    assert await client.disconnect_participant(connection_token, client_token="bye") is None
    target = await client.start_attachment_upload(
        connection_token, "text/plain", 3, "a.txt", client_token="up"
    )
    assert (target.attachment_id, target.url, dict(target.headers_to_include)) == (
        "att-1",
        "https://s3/put",
        {"a": "b"},
    )
    assert (
        await client.complete_attachment_upload(connection_token, "att-1", client_token="done")
        is None
    )
    url = await client.get_attachment(connection_token, "att-1", url_expiry_in_seconds=60)
    assert (url.url, url.attachment_size_in_bytes) == ("https://s3/get", 3)
    assert (
        await client.get_authentication_url(connection_token, "s" * 36, "https://back")
        == "https://auth"
    )
    assert await client.cancel_participant_authentication(connection_token, "s" * 36) is None

    assert sent(mocked, "POST", "/participant/start-attachment-upload")[0]["body"] == {
        "ContentType": "text/plain",
        "AttachmentSizeInBytes": 3,
        "AttachmentName": "a.txt",
        "ClientToken": "up",
    }
    assert sent(mocked, "POST", "/participant/complete-attachment-upload")[0]["body"] == {
        "AttachmentIds": ["att-1"],
        "ClientToken": "done",
    }
    assert sent(mocked, "POST", "/participant/attachment")[0]["body"] == {
        "AttachmentId": "att-1",
        "UrlExpiryInSeconds": 60,
    }
    assert sent(mocked, "POST", "/participant/event")[0]["body"]["ContentType"] == v.EVENT_TYPING
    assert "Content" not in sent(mocked, "POST", "/participant/event")[0]["body"]


async def test_describe_view_percent_encodes_slashes(
    client: ParticipantClient, mocked: aioresponses, connection_token: Secret
) -> None:
    mocked.get(
        re.compile(re.escape(ENDPOINT) + r"/participant/views/.*"),
        payload={
            "View": {
                "Id": "v1",
                "Name": "Form",
                "Version": 2,
                "Content": {"Template": "{}", "Actions": ["Submit"]},
            }
        },
    )
    view_token = "arn:aws:connect:view/abc def+x"
    view = await client.describe_view(connection_token, view_token)
    assert (view.id, view.name, view.version, view.template, view.actions) == (
        "v1",
        "Form",
        2,
        "{}",
        ("Submit",),
    )
    ((method, url),) = mocked.requests
    assert method == "GET"
    prefix, segment = url.raw_path.rsplit("/", 1)
    assert prefix == "/participant/views"
    assert "%2F" in segment and "%20" in segment and "%2B" in segment
    assert unquote(segment) == view_token
    (call,) = mocked.requests[(method, url)]
    assert call.kwargs["data"] is None


async def test_iter_transcript_follows_next_token(
    client: ParticipantClient, mocked: aioresponses, connection_token: Secret
) -> None:
    path = "/participant/transcript"
    mocked.post(
        ENDPOINT + path,
        payload={
            "InitialContactId": "c",
            "Transcript": [{"Id": "1"}, {"Id": "2"}],
            "NextToken": "n1",
        },
    )
    mocked.post(
        ENDPOINT + path,
        payload={"InitialContactId": "c", "Transcript": [{"Id": "3"}], "NextToken": "n2"},
    )
    mocked.post(ENDPOINT + path, payload={"InitialContactId": "c", "Transcript": [{"Id": "4"}]})
    ids = [
        item.id
        async for item in client.iter_transcript(
            connection_token,
            scan_direction=v.FORWARD,
            sort_order=v.ASCENDING,
            start_position=StartPosition(id="0"),
        )
    ]
    assert ids == ["1", "2", "3", "4"]
    bodies = [request["body"] for request in sent(mocked, "POST", path)]
    assert [body.get("NextToken") for body in bodies] == [None, "n1", "n2"]
    assert all(body["StartPosition"] == {"Id": "0"} for body in bodies)


async def test_empty_start_position_is_omitted(
    client: ParticipantClient, mocked: aioresponses, connection_token: Secret
) -> None:
    mocked.post(ENDPOINT + "/participant/transcript", payload={"Transcript": []})
    await client.get_transcript(connection_token, start_position=StartPosition())
    assert sent(mocked, "POST", "/participant/transcript")[0]["body"] == {}


async def test_malformed_success_body(
    client: ParticipantClient, mocked: aioresponses, connection_token: Secret
) -> None:
    mocked.post(ENDPOINT + MESSAGE, body=b"<html>proxy</html>", headers={"x-amzn-RequestId": "rid"})
    with pytest.raises(MalformedResponseError) as caught:
        await client.send_message(connection_token, "hi")
    assert (caught.value.status, caught.value.request_id, caught.value.operation) == (
        200,
        "rid",
        "SendMessage",
    )
    assert len(sent(mocked, "POST", MESSAGE)) == 1


async def test_tokens_never_reach_errors_or_logs(
    client: ParticipantClient,
    mocked: aioresponses,
    connection_token: Secret,
    participant_token: Secret,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    raised: list[BaseException] = []
    error(
        mocked,
        MESSAGE,
        429,
        "ThrottlingException",
        f"slow down {CONNECTION_TOKEN_VALUE}",
        repeat=True,
    )
    mocked.post(
        ENDPOINT + "/participant/connection",
        exception=aiohttp.ClientConnectionError(f"refused for {PARTICIPANT_TOKEN_VALUE}"),
        repeat=True,
    )
    mocked.post(
        ENDPOINT + "/participant/event",
        status=403,
        payload={"message": PARTICIPANT_TOKEN_VALUE},
        headers={"x-amzn-ErrorType": "AccessDeniedException"},
    )
    for call in (
        client.send_message(connection_token, "hi"),
        client.create_participant_connection(participant_token),
        client.send_event(participant_token, v.EVENT_TYPING),
    ):
        with pytest.raises(Exception) as caught:
            await call
        raised.append(caught.value)

    assert [type(e) for e in raised] == [
        ThrottlingException,
        ParticipantConnectionError,
        AccessDeniedException,
    ]
    texts = [str(e) for e in raised] + [repr(e) for e in raised] + [str(e.args) for e in raised]
    texts += [record.getMessage() for record in caplog.records]
    texts += [repr(connection_token), str(participant_token)]
    assert any("ThrottlingException" in record.getMessage() for record in caplog.records)
    assert any(record.levelno == logging.WARNING for record in caplog.records)
    for text in texts:
        assert CONNECTION_TOKEN_VALUE not in text
        assert PARTICIPANT_TOKEN_VALUE not in text


async def test_retry_log_names_operation_status_code_and_attempt(
    client: ParticipantClient,
    mocked: aioresponses,
    connection_token: Secret,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="botkit.connect.client")
    error(mocked, MESSAGE, 429, "ThrottlingException", "slow")
    mocked.post(ENDPOINT + MESSAGE, payload=SEND_OK)
    await client.send_message(connection_token, "hi")
    (retry,) = [r for r in caplog.records if "retrying" in r.getMessage()]
    assert retry.levelno == logging.DEBUG
    assert "SendMessage attempt 1/3 failed (429 ThrottlingException)" in retry.getMessage()


async def test_a_passed_in_session_is_used_and_left_open(
    mocked: aioresponses, connection_token: Secret
) -> None:
    mocked.post(ENDPOINT + MESSAGE, payload=SEND_OK)
    async with aiohttp.ClientSession() as session:
        async with ParticipantClient(ENDPOINT + "/", session=session) as c:
            await c.send_message(connection_token, "hi")
        assert not session.closed
    assert len(sent(mocked, "POST", MESSAGE)) == 1


async def test_owned_session_is_shared_and_closed(
    mocked: aioresponses, connection_token: Secret
) -> None:
    mocked.post(ENDPOINT + MESSAGE, payload=SEND_OK, repeat=True)
    c = ParticipantClient(ENDPOINT)
    await c.send_message(connection_token, "a")
    session = c._http()
    await c.send_message(connection_token, "b")
    assert c._http() is session
    await c.close()
    assert session.closed
