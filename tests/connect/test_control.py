"""The control-plane client against real local HTTP servers: bounded waits, and credentials frozen off the loop."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from botocore.credentials import Credentials, ReadOnlyCredentials, RefreshableCredentials

from botkit.connect.control import ControlPlaneClient
from botkit.connect.errors import ParticipantConnectionError

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
