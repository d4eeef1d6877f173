"""The control-plane client against real local HTTP servers: retries, bounded waits, and credentials frozen off the loop."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from botocore.credentials import Credentials, ReadOnlyCredentials, RefreshableCredentials

from botkit.connect.control import ControlPlaneClient
from botkit.connect.errors import ParticipantConnectionError, ParticipantServiceError
from botkit.connect.retry import RetryPolicy

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def serve(handler: Handler) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}"


@pytest.fixture
async def silent_server() -> AsyncIterator[str]:
    """Takes the request, then does not answer until the test is over."""
    test_over = asyncio.Event()

    async def hang(request: web.Request) -> web.StreamResponse:
        await test_over.wait()
        return web.Response(status=504)

    runner, url = await serve(hang)
    yield url
    test_over.set()
    await runner.cleanup()


class Recorder:
    """A CreateParticipant endpoint that records the headers of each request it answers."""

    def __init__(self) -> None:
        self.headers: list[dict[str, str]] = []

    async def answer(self, request: web.Request) -> web.StreamResponse:
        self.headers.append(dict(request.headers))
        return web.json_response({"ParticipantId": "p-1", "ParticipantCredentials": {"ParticipantToken": "t-1"}})


@pytest.fixture
async def recording_server() -> AsyncIterator[tuple[Recorder, str]]:
    recorder = Recorder()
    runner, url = await serve(recorder.answer)
    yield recorder, url
    await runner.cleanup()


async def test_a_silent_service_fails_the_call_within_the_client_bound(silent_server: str) -> None:
    client = ControlPlaneClient(silent_server, "us-east-1", total_timeout=0.5)
    started = time.monotonic()
    try:
        with pytest.raises(ParticipantConnectionError, match=r"CreateParticipant: .*no answer within 0\.5 s"):
            await asyncio.wait_for(client.create_participant("instance", "contact", "Bot"), 5)
    finally:
        await client.close()
    assert time.monotonic() - started < 2


async def test_a_callers_deadline_narrows_the_bound_of_one_call(silent_server: str) -> None:
    client = ControlPlaneClient(silent_server, "us-east-1")  # the default bound is seconds, the call's is smaller
    started = time.monotonic()
    try:
        with pytest.raises(ParticipantConnectionError, match=r"StartChatContact: .*no answer within 0\.3 s"):
            await asyncio.wait_for(client.start_chat_contact("instance", "flow", "Ada", timeout=0.3), 5)
        with pytest.raises(ParticipantConnectionError, match=r"StopContact: .*no answer within 0\.2 s"):
            await asyncio.wait_for(client.stop_contact("instance", "contact", timeout=0.2), 5)
    finally:
        await client.close()
    assert time.monotonic() - started < 2.5


class ThreadRecordingCredentials(Credentials):
    """Credentials that note which thread froze them."""

    def __init__(self) -> None:
        super().__init__("AKIDSTATIC", "static-secret")
        self.frozen_on: list[int] = []

    def get_frozen_credentials(self) -> ReadOnlyCredentials:
        self.frozen_on.append(threading.get_ident())
        return super().get_frozen_credentials()


async def test_credentials_are_frozen_off_the_event_loop_thread(recording_server: tuple[Recorder, str]) -> None:
    recorder, url = recording_server
    credentials = ThreadRecordingCredentials()
    client = ControlPlaneClient(url, "us-east-1", credentials)
    try:
        joined = await client.create_participant("instance", "contact", "Bot")
    finally:
        await client.close()
    assert joined.participant_id == "p-1"
    assert credentials.frozen_on and threading.get_ident() not in credentials.frozen_on
    assert "Credential=AKIDSTATIC/" in recorder.headers[0]["Authorization"]


async def test_refreshed_credentials_sign_the_call_and_the_refresh_runs_off_the_loop(
    recording_server: tuple[Recorder, str],
) -> None:
    recorder, url = recording_server
    refreshed_on: list[int] = []

    def refresh() -> dict[str, Any]:
        refreshed_on.append(threading.get_ident())
        return {
            "access_key": f"AKIDREFRESHED{len(refreshed_on)}",
            "secret_key": "refreshed-secret",
            "token": f"refreshed-session-token-{len(refreshed_on)}",
            "expiry_time": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
        }

    expiring = {  # inside botocore's mandatory refresh window: the next freeze must refresh first
        "access_key": "AKIDEXPIRING",
        "secret_key": "expiring-secret",
        "token": "expiring-session-token",
        "expiry_time": (datetime.now(UTC) + timedelta(minutes=1)).isoformat(),
    }
    credentials = RefreshableCredentials.create_from_metadata(expiring, refresh, "test")
    client = ControlPlaneClient(url, "us-east-1", credentials)
    try:
        await client.create_participant("instance", "contact-1", "Bot")
        await client.create_participant("instance", "contact-2", "Bot")
    finally:
        await client.close()
    assert len(refreshed_on) == 1 and refreshed_on[0] != threading.get_ident()
    for headers in recorder.headers:
        assert "Credential=AKIDREFRESHED1/" in headers["Authorization"]
        assert headers["X-Amz-Security-Token"] == "refreshed-session-token-1"


# Retries: the same ClientToken and bytes, fresh signatures, inside the deadline -----------------

FAST = RetryPolicy(max_attempts=5, base_delay=0.01, max_delay=0.02)
JOINED = {"ParticipantId": "p-1", "ParticipantCredentials": {"ParticipantToken": "t-1"}}


class Scripted:
    """Answers CreateParticipant from a script, one entry per request (the last one repeats); records each request."""

    def __init__(self, *script: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> None:
        self.script = list(script)
        self.bodies: list[bytes] = []
        self.signatures: list[str] = []

    async def answer(self, request: web.Request) -> web.StreamResponse:
        self.bodies.append(await request.read())
        self.signatures.append(request.headers["Authorization"])
        step = self.script[min(len(self.bodies), len(self.script)) - 1]
        return await step(request)

    def client_tokens(self) -> list[str]:
        return [json.loads(body)["ClientToken"] for body in self.bodies]


def status(code: int, error_type: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def answer(request: web.Request) -> web.StreamResponse:
        return web.json_response({"message": "scripted"}, status=code, headers={"x-amzn-ErrorType": error_type})

    return answer


async def joined(request: web.Request) -> web.StreamResponse:
    return web.json_response(JOINED)


async def hang_up(request: web.Request) -> web.StreamResponse:
    """The request is taken and the connection dropped with no answer: a lost response."""
    assert request.transport is not None
    request.transport.close()
    return web.Response()


class Slow:
    """Answers nothing until the test is over."""

    def __init__(self) -> None:
        self.over = asyncio.Event()

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        await self.over.wait()
        return web.json_response(JOINED)


class Heard:
    """A CallObserver that writes down what it hears."""

    def __init__(self) -> None:
        self.attempts: list[tuple[str, str, str]] = []
        self.calls: list[tuple[str, str, str, int]] = []

    def attempted(self, service: str, operation: str, outcome: str, seconds: float) -> None:
        self.attempts.append((service, operation, outcome))

    def completed(self, service: str, operation: str, outcome: str, seconds: float, attempts: int) -> None:
        self.calls.append((service, operation, outcome, attempts))


@asynccontextmanager
async def scripted_client(
    scripted: Scripted, **options: Any
) -> AsyncIterator[ControlPlaneClient]:
    runner, url = await serve(scripted.answer)
    client = ControlPlaneClient(url, "us-east-1", Credentials("AKIDSTATIC", "static-secret"), **options)
    try:
        yield client
    finally:
        await client.close()
        await runner.cleanup()


async def test_a_500_is_retried_with_the_same_client_token_and_bytes_signed_afresh() -> None:
    scripted = Scripted(status(500, "InternalServiceException"), joined)
    heard = Heard()
    async with scripted_client(scripted, retry=FAST, observer=heard) as client:
        joined_participant = await client.create_participant("instance", "contact", "Bot")
    assert joined_participant.participant_id == "p-1"
    assert len(scripted.bodies) == 2 and scripted.bodies[0] == scripted.bodies[1]
    first, second = scripted.client_tokens()
    assert first == second and first
    assert all("Credential=AKIDSTATIC/" in signature for signature in scripted.signatures)
    assert heard.attempts == [
        ("connect", "CreateParticipant", "server_error"),
        ("connect", "CreateParticipant", "ok"),
    ]
    assert heard.calls == [("connect", "CreateParticipant", "ok", 2)]


@pytest.mark.parametrize(
    ("code", "error_type"),
    [(429, "ThrottlingException"), (429, "TooManyRequestsException"), (400, "ThrottlingException"), (503, "")],
)
async def test_throttling_and_server_errors_are_retried(code: int, error_type: str) -> None:
    scripted = Scripted(status(code, error_type), joined)
    async with scripted_client(scripted, retry=FAST) as client:
        await client.create_participant("instance", "contact", "Bot")
    assert len(scripted.bodies) == 2 and len(set(scripted.client_tokens())) == 1


async def test_a_lost_response_is_retried_with_the_same_client_token() -> None:
    scripted = Scripted(hang_up, joined)
    async with scripted_client(scripted, retry=FAST) as client:
        joined_participant = await client.create_participant("instance", "contact", "Bot")
    assert joined_participant.participant_id == "p-1"
    assert len(scripted.bodies) == 2 and len(set(scripted.client_tokens())) == 1


async def test_a_400_is_not_retried() -> None:
    scripted = Scripted(status(400, "InvalidRequestException"), joined)
    heard = Heard()
    async with scripted_client(scripted, retry=FAST, observer=heard) as client:
        with pytest.raises(ParticipantServiceError) as raised:
            await client.create_participant("instance", "contact", "Bot")
    assert (raised.value.status, raised.value.code) == (400, "InvalidRequestException")
    assert len(scripted.bodies) == 1
    assert heard.calls == [("connect", "CreateParticipant", "client_error", 1)]


async def test_retries_stop_at_the_policys_attempts_with_the_last_error() -> None:
    scripted = Scripted(status(500, "InternalServiceException"))
    async with scripted_client(scripted, retry=RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.02)) as client:
        with pytest.raises(ParticipantServiceError) as raised:
            await client.stop_contact("instance", "contact")
    assert raised.value.status == 500
    assert len(scripted.bodies) == 3


async def test_a_server_slower_than_the_deadline_is_tried_again_and_given_up_on_within_it() -> None:
    slow = Slow()
    scripted = Scripted(slow)
    async with scripted_client(scripted, retry=FAST, attempt_timeout=0.2) as client:
        started = time.monotonic()
        try:
            with pytest.raises(ParticipantConnectionError, match=r"no answer within 0\.7 s"):
                await asyncio.wait_for(client.create_participant("instance", "contact", "Bot", timeout=0.7), 5)
            elapsed = time.monotonic() - started
        finally:
            slow.over.set()  # before the server's cleanup, which waits for its handlers
    assert elapsed < 0.7 + 0.15
    assert len(scripted.bodies) >= 2, "an attempt that timed out was not tried again"
    assert len(set(scripted.client_tokens())) == 1


async def test_no_pause_starts_that_would_end_past_the_deadline() -> None:
    scripted = Scripted(status(500, "InternalServiceException"))
    patient = RetryPolicy(max_attempts=5, base_delay=30.0, max_delay=30.0)  # every pause ~ U(0, 30 s)
    async with scripted_client(scripted, retry=patient) as client:
        started = time.monotonic()
        with pytest.raises(ParticipantServiceError):
            await asyncio.wait_for(client.create_participant("instance", "contact", "Bot", timeout=0.5), 5)
    assert time.monotonic() - started < 0.5 + 0.15
