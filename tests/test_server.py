"""The intake server: bad requests get a 400 with a reason, contacts wait for readiness, failures stay 4xx/5xx JSON."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import REGISTRY

from botkit import hookimpl
from botkit.config import IntakeConfig
from botkit.server import JOIN_DEADLINE, build_intake_app
from tests.runtime.harness import Customer, running_bot


def flow_event(contact_id: Any = "c-1", channel: Any = "CHAT") -> dict[str, Any]:
    return {"Name": "ContactFlowEvent", "Details": {"ContactData": {"ContactId": contact_id, "Channel": channel}}}


class StubSession:
    def __init__(self, participant_id: str | None) -> None:
        self.participant_id = participant_id

    async def until_live(self, timeout: float) -> bool:
        return True


class StubManager:
    """Stands in for the SessionManager where a test needs a join to fail in a given way."""

    def __init__(self, failure: BaseException | None = None) -> None:
        self.sessions: dict[str, Any] = {}
        self.failure = failure
        self.joined: list[str] = []
        self.handed_in: list[tuple[str, str, str]] = []
        self.initial_contact_ids: list[str] = []
        self.attributes: list[dict[str, str]] = []
        self.deadlines: list[float | None] = []

    async def join(
        self, contact_id: str, initial_contact_id: str, *, timeout: float | None = None, attributes: Any = None
    ) -> Any:
        self.joined.append(contact_id)
        self.initial_contact_ids.append(initial_contact_id)
        self.attributes.append(attributes)
        self.deadlines.append(timeout)
        if self.failure is not None:
            raise self.failure
        return StubSession("bot-1")

    async def hand_in(self, contact_id: str, token: Any, participant_id: str) -> Any:
        self.joined.append(contact_id)
        self.handed_in.append((contact_id, token.reveal(), participant_id))
        if self.failure is not None:
            raise self.failure
        return StubSession(participant_id)


@asynccontextmanager
async def intake(
    manager: Any, ready: dict[str, bool] | None = None, config: IntakeConfig | None = None, **timeouts: float
) -> AsyncIterator[TestClient]:
    state = {"ready": True} if ready is None else ready
    options = (config,) if config is not None else ()  # the defaults are the plain call
    app = build_intake_app(manager, lambda: state["ready"], *options, **timeouts)
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


BAD_FLOW_EVENTS = [
    pytest.param(b"not json", "body must be JSON", id="not-json"),
    pytest.param(b"\xff\xfe\x00", "body must be JSON", id="not-utf8"),
    pytest.param(b"[" * 30_000 + b"]" * 30_000, "body must be JSON nested at most 64 deep", id="nested-too-deep"),
    pytest.param(b'{"a":' * 65 + b"[]" + b"}" * 65, "body must be JSON nested at most 64 deep", id="nested-65-not-closed"),
    pytest.param(b'{"a":' * 65 + b"1" + b"}" * 65, "body must be JSON nested at most 64 deep", id="nested-65"),
    pytest.param(b"[1, 2]", "body must be a JSON object", id="a-list"),
    pytest.param(b'"a string"', "body must be a JSON object", id="a-string"),
    pytest.param(b"{}", "Details.ContactData is missing", id="no-details"),
    pytest.param(json.dumps({"Details": "x"}).encode(), "Details.ContactData is missing", id="details-not-object"),
    pytest.param(json.dumps({"Details": {"ContactData": []}}).encode(), "Details.ContactData is missing", id="contact-data-list"),
    pytest.param(json.dumps({"Details": {"ContactData": {}}}).encode(), "ContactId must be a non-empty string", id="no-contact-id"),
    pytest.param(json.dumps(flow_event(contact_id=42)).encode(), "ContactId must be a non-empty string", id="contact-id-number"),
    pytest.param(json.dumps(flow_event(contact_id="")).encode(), "ContactId must be a non-empty string", id="contact-id-empty"),
    pytest.param(json.dumps(flow_event(contact_id="c" * 257)).encode(), "at most 256 characters", id="contact-id-257"),
    pytest.param(
        json.dumps(flow_event(contact_id="c-1\n2026-01-01 INFO forged")).encode(), "ContactId must be printable", id="contact-id-newline"
    ),
    pytest.param(json.dumps(flow_event(contact_id="c-1\x1b[31m")).encode(), "ContactId must be printable", id="contact-id-escape"),
    pytest.param(json.dumps(flow_event(channel="VOICE")).encode(), "only CHAT contacts can be joined, not VOICE", id="voice"),
    pytest.param(json.dumps(flow_event(channel="TASK")).encode(), "only CHAT contacts can be joined, not TASK", id="task"),
]


@pytest.mark.parametrize(("body", "reason"), BAD_FLOW_EVENTS)
async def test_a_bad_contact_flow_event_is_a_400_with_a_reason(body: bytes, reason: str) -> None:
    manager = StubManager()
    async with intake(manager) as client:
        answer = await client.post("/contact-flow", data=body, headers={"Content-Type": "application/json"})
        assert answer.status == 400
        assert reason in (await answer.json())["message"]
    assert manager.joined == []


BAD_CONTACTS = [
    pytest.param({"ParticipantToken": "t" * 40}, "ContactId must be a non-empty string", id="no-contact-id"),
    pytest.param({"ContactId": "c-1"}, "ParticipantToken must be a non-empty string", id="no-token"),
    pytest.param({"ContactId": "c-1", "ParticipantToken": 12345}, "ParticipantToken must be a non-empty string", id="token-number"),
    pytest.param({"ContactId": "c-1", "ParticipantToken": ["t"]}, "ParticipantToken must be a non-empty string", id="token-list"),
    pytest.param({"ContactId": "c-1", "ParticipantToken": ""}, "ParticipantToken must be a non-empty string", id="token-empty"),
    pytest.param(
        {"ContactId": "c-1", "ParticipantToken": "secret-token-value", "ParticipantId": 7},
        "ParticipantId must be a non-empty string",
        id="participant-id-number",
    ),
    pytest.param(
        {"ContactId": "c-1", "ParticipantToken": "secret-token-value"},
        "ParticipantId must be a non-empty string",
        id="participant-id-missing",
    ),
    pytest.param(
        {"ContactId": "c\r\n1", "ParticipantToken": "secret-token-value", "ParticipantId": "p-1"},
        "ContactId must be printable",
        id="contact-id-crlf",
    ),
]


@pytest.mark.parametrize(("body", "reason"), BAD_CONTACTS)
async def test_a_bad_participant_token_request_is_a_400_with_a_reason(body: dict[str, Any], reason: str) -> None:
    manager = StubManager()
    async with intake(manager) as client:
        answer = await client.post("/contacts", json=body)
        assert answer.status == 400
        text = await answer.text()
        assert reason in json.loads(text)["message"]
        assert "secret-token-value" not in text
    assert manager.joined == []


async def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    event = flow_event("c-1")
    event["Details"]["ContactData"]["Attributes"] = {"menu": "[" * 5000 + '\\"{' * 100, "deep": [[[[1]]]]}
    manager = StubManager()
    async with intake(manager) as client:
        answer = await client.post("/contact-flow", json=event)
        assert answer.status == 200, await answer.text()
    assert manager.joined == ["c-1"]


async def test_contacts_are_503_until_ready() -> None:
    ready = {"ready": False}
    manager = StubManager()
    async with intake(manager, ready) as client:
        answer = await client.post("/contact-flow", json=flow_event())
        assert answer.status == 503 and answer.headers["Retry-After"]
        answer = await client.post("/contacts", json={"ContactId": "c-1", "ParticipantToken": "t", "ParticipantId": "p"})
        assert answer.status == 503
        assert manager.joined == []

        ready["ready"] = True
        answer = await client.post("/contact-flow", json=flow_event("c-7"))
        assert answer.status == 200 and (await answer.json()) == {"ContactId": "c-7", "ParticipantId": "bot-1"}
        assert manager.joined == ["c-7"]


@pytest.mark.parametrize(
    "failure",
    [
        pytest.param(aiohttp.ClientConnectionError("connection refused"), id="connect-unreachable"),
        pytest.param(asyncio.TimeoutError(), id="connect-timeout"),
        pytest.param(KeyError("ParticipantCredentials"), id="unexpected"),
    ],
)
async def test_a_join_failing_unexpectedly_is_a_json_5xx_and_the_server_goes_on(failure: BaseException) -> None:
    manager = StubManager(failure)
    async with intake(manager) as client:
        answer = await client.post("/contact-flow", json=flow_event("c-1"))
        assert 500 <= answer.status < 600
        assert answer.content_type == "application/json"
        assert "could not" in (await answer.json())["message"]
        manager.failure = None
        answer = await client.post("/contact-flow", json=flow_event("c-2"))
        assert answer.status == 200


# Against a running bot and its emulator ------------------------------------------------------------------


class Echo:
    def __init__(self) -> None:
        self.ending = asyncio.Event()
        self.release = asyncio.Event()

    @hookimpl
    async def on_message(self, session: Any, message: Any) -> None:
        await session.send_message(f"echo: {message.content}")

    @hookimpl
    async def on_session_end(self) -> None:
        self.ending.set()
        await self.release.wait()


async def test_a_webhook_for_an_unknown_contact_is_a_4xx_json_and_the_bot_keeps_working() -> None:
    echo = Echo()
    echo.release.set()
    async with running_bot([echo]) as bot:
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{bot.server_url}/contact-flow", json=flow_event("no-such-contact")) as answer:
                assert 400 <= answer.status < 500
                assert "ResourceNotFoundException" in (await answer.json())["message"]
            async with http.post(
                f"{bot.server_url}/contact-flow", data=b"{", headers={"Content-Type": "application/json"}
            ) as answer:
                assert answer.status == 400

        customer = Customer(bot.emulator.base_url)
        await customer.start()
        await customer.send("still there?")
        await customer.wait_for(lambda items: "echo: still there?" in customer.bot_messages())
        await customer.close()


async def test_contacts_turn_503_as_soon_as_the_bot_stops() -> None:
    echo = Echo()
    async with running_bot([echo]) as bot:
        customer = Customer(bot.emulator.base_url)
        await customer.start()
        await customer.send("hi")
        await customer.wait_for(lambda items: "echo: hi" in customer.bot_messages())
        url = f"{bot.server_url}/contact-flow"
        stopping = asyncio.create_task(bot.stop())  # sessions end first; on_session_end holds that open
        try:
            await asyncio.wait_for(echo.ending.wait(), 10)
            async with aiohttp.ClientSession() as http:
                async with http.post(url, json=flow_event(customer.contact_id)) as answer:
                    assert answer.status == 503
        finally:
            echo.release.set()
            await asyncio.wait_for(stopping, 10)
        await customer.close()


async def test_a_refused_participant_token_is_a_409_with_a_reason() -> None:
    """A token the service refuses is answered as such, not accepted and dropped later."""
    async with running_bot([]) as bot:
        intake = f"{bot.server_url}/contacts"
        async with aiohttp.ClientSession() as http:
            body = {"ContactId": "c-1", "ParticipantToken": "not-a-token", "ParticipantId": "p-1"}
            async with http.post(intake, json=body) as answer:
                assert answer.status == 409
                assert "AccessDenied" in (message := (await answer.json())["message"])
                assert "not-a-token" not in message
            async with http.get(f"{bot.server_url}/healthz") as answer:
                assert answer.status == 200


async def test_the_initial_contact_id_reaches_the_join_for_hand_off_attributes() -> None:
    """UpdateContactAttributes is keyed on the InitialContactId; a chat never transferred uses its own id."""
    manager = StubManager()
    transferred = flow_event("c-2")
    transferred["Details"]["ContactData"]["InitialContactId"] = "c-1"
    forged = flow_event("c-3")
    forged["Details"]["ContactData"]["InitialContactId"] = "c-1\nFAKE"
    async with intake(manager) as client:
        assert (await client.post("/contact-flow", json=flow_event("c-1"))).status == 200
        assert (await client.post("/contact-flow", json=transferred)).status == 200
        answer = await client.post("/contact-flow", json=forged)
        assert answer.status == 400 and "InitialContactId" in (await answer.json())["message"]
    assert manager.initial_contact_ids == ["c-1", "c-1"]


async def test_the_contacts_string_attributes_reach_the_join() -> None:
    """`session.attributes` is what the flow event carried; none, or values that are not strings, never refuse a contact."""
    manager = StubManager()
    with_language = flow_event("c-1")
    with_language["Details"]["ContactData"]["Attributes"] = {"language": "fr", "count": 7, "nested": {"a": "b"}}
    not_a_mapping = flow_event("c-3")
    not_a_mapping["Details"]["ContactData"]["Attributes"] = ["language"]
    async with intake(manager) as client:
        for event in (with_language, flow_event("c-2"), not_a_mapping):
            assert (await client.post("/contact-flow", json=event)).status == 200
    assert manager.attributes == [{"language": "fr"}, {}, {}]


async def test_the_join_is_bounded_by_the_intakes_deadline_and_every_answer_is_counted() -> None:
    """CreateParticipant's retries must end before the contact flow's Lambda gives up (8 s)."""
    manager = StubManager()

    def counted(outcome: str) -> float:
        return REGISTRY.get_sample_value(
            "botkit_intake_requests_total", {"route": "/contact-flow", "outcome": outcome}
        ) or 0.0

    before = (counted("accepted"), counted("bad_request"))
    async with intake(manager) as client:
        assert (await client.post("/contact-flow", json=flow_event("c-1"))).status == 200
        assert (await client.post("/contact-flow", json={"Details": {}})).status == 400
        assert (await client.get("/contact-flow/anything")).status in (404, 405)
    assert manager.deadlines == [JOIN_DEADLINE] and JOIN_DEADLINE < 8
    assert (counted("accepted"), counted("bad_request")) == (before[0] + 1, before[1] + 1)
