"""Fixtures for the participant client: a mocked endpoint and a client with tiny retry delays."""

from __future__ import annotations

import inspect
import json
from collections.abc import AsyncIterator, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from aiohttp import ClientResponse
from aioresponses import aioresponses
from aioresponses import core as aioresponses_core

from botkit.connect import ParticipantClient, RetryPolicy, Secret

ENDPOINT = "http://participant.test"
CONNECTION_TOKEN_VALUE = "conn-TOKEN-value-0123456789"
PARTICIPANT_TOKEN_VALUE = "part-TOKEN-value-9876543210"


class _Aiohttp314Response(ClientResponse):
    """Supplies `stream_writer`, required since aiohttp 3.14 (pnuckowski/aioresponses#289)."""

    def __init__(self, method: str, url: Any, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", SimpleNamespace(output_size=0))
        super().__init__(method, url, **kwargs)


@pytest.fixture
def mocked(monkeypatch: pytest.MonkeyPatch) -> Iterator[aioresponses]:
    if "stream_writer" in inspect.signature(ClientResponse.__init__).parameters:
        monkeypatch.setattr(aioresponses_core, "ClientResponse", _Aiohttp314Response)
    with aioresponses() as m:
        yield m


@pytest.fixture
async def client() -> AsyncIterator[ParticipantClient]:
    policy = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.002)
    async with ParticipantClient(ENDPOINT, retry=policy) as c:
        yield c


@pytest.fixture
def connection_token() -> Secret:
    return Secret(CONNECTION_TOKEN_VALUE)


@pytest.fixture
def participant_token() -> Secret:
    return Secret(PARTICIPANT_TOKEN_VALUE)


def sent(m: aioresponses, method: str, path: str) -> list[dict[str, Any]]:
    """What the client sent to `path`: one dict per request, with headers and the decoded body."""
    calls = [
        call
        for (verb, url), calls in m.requests.items()
        if verb == method and url.raw_path == path
        for call in calls
    ]
    return [
        {
            "headers": call.kwargs["headers"],
            "body": json.loads(call.kwargs["data"]) if call.kwargs.get("data") else None,
        }
        for call in calls
    ]
