"""Fault injection: errors, lost responses, latency, dropped and refused websockets, on demand."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from types import SimpleNamespace

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from websockets.exceptions import InvalidStatus

from botkit.emulator import Emulator, EmulatorConfig, FaultSpec
from botkit.emulator import faults as faults_module
from botkit.emulator.config import DEFAULT_CONTACT_FLOW_ID, DEFAULT_INSTANCE_ID
from tests.emulator.wsclient import heartbeat, message, next_item, open_socket, running_api, wait_closed

NO_RETRIES = Config(retries={"max_attempts": 1})
DEFAULTS = {
    "error_rate": 0.0,
    "error_statuses": [429, 500],
    "lost_response_rate": 0.0,
    "latency_ms": [0.0, 0.0],
    "answer_latency_ms": [0.0, 0.0],
    "operations": [],
    "drop_websocket_rate": 0.0,
    "refuse_websockets_seconds": 0.0,
    "streaming": {
        "duplicate_rate": 0.0,
        "reorder_rate": 0.0,
        "reorder_hold_seconds": 1.0,
        "delay_rate": 0.0,
        "delay_seconds": 1.0,
    },
    "seed": None,
}


@pytest.fixture
async def api(emulator):
    async with running_api(emulator.base_url) as api:
        yield api


def clients(base_url: str, config: Config = NO_RETRIES):
    options = {
        "endpoint_url": base_url,
        "region_name": "us-east-1",
        "aws_access_key_id": "AKIDEXAMPLE",
        "aws_secret_access_key": "placeholder-secret",
        "config": config,
    }
    return boto3.client("connect", **options), boto3.client("connectparticipant", **options)


def error_code(raised: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response = raised.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def start_chat_contact(connect, **extra):
    return connect.start_chat_contact(
        InstanceId=DEFAULT_INSTANCE_ID,
        ContactFlowId=DEFAULT_CONTACT_FLOW_ID,
        ParticipantDetails={"DisplayName": "Customer"},
        **extra,
    )


@pytest.mark.parametrize(
    "status, participant_code, connect_code",
    [(429, "ThrottlingException", "ThrottlingException"), (500, "InternalServerException", "InternalServiceException")],
)
async def test_injected_errors_reach_boto3_as_the_services_exceptions(
    api, emulator, status, participant_code, connect_code
) -> None:
    customer = await api.customer()
    connect, participant = clients(emulator.base_url)
    assert await api.set_faults(error_rate=1.0, error_statuses=[status]) == {
        **DEFAULTS,
        "error_rate": 1.0,
        "error_statuses": [status],
    }
    with pytest.raises(ClientError) as raised:
        await asyncio.to_thread(
            participant.send_message, ConnectionToken=customer.connection_token, ContentType="text/plain", Content="hi"
        )
    assert error_code(raised) == (participant_code, status)
    assert isinstance(raised.value, getattr(participant.exceptions, participant_code))
    with pytest.raises(ClientError) as raised:
        await asyncio.to_thread(start_chat_contact, connect)
    assert error_code(raised) == (connect_code, status)
    # the control API is never faulted, so a test can always switch faults off again
    await api.set_faults()
    await asyncio.to_thread(
        participant.send_message, ConnectionToken=customer.connection_token, ContentType="text/plain", Content="hi"
    )


async def test_injected_error_happens_before_the_work(api) -> None:
    customer = await api.customer()
    before = len(await api.transcript(customer))
    await api.set_faults(error_rate=1, operations=["SendMessage"])
    reply = await api.send_message(customer, "never sent")
    assert reply.status in (429, 500)
    assert reply.headers["x-amzn-ErrorType"] in ("ThrottlingException", "InternalServerException")
    assert len(await api.transcript(customer)) == before


async def test_lost_response_does_the_work_and_an_idempotent_retry_delivers_nothing_twice(api, emulator) -> None:
    customer = await api.customer()
    _connect, participant = clients(emulator.base_url)
    token = str(uuid.uuid4())
    send = dict(
        ConnectionToken=customer.connection_token, ContentType="text/plain", Content="exactly once", ClientToken=token
    )
    async with await open_socket(customer.websocket_url) as ws:
        await api.set_faults(lost_response_rate=1, operations=["SendMessage"])
        with pytest.raises(ClientError) as raised:
            await asyncio.to_thread(participant.send_message, **send)
        assert error_code(raised) == ("InternalServerException", 500)
        delivered = await next_item(ws, message("exactly once"))
        kept = [item for item in await api.transcript(customer) if item.get("Content") == "exactly once"]
        assert [item["Id"] for item in kept] == [delivered["Id"]]

        # the response is lost again: still only one message
        with pytest.raises(ClientError):
            await asyncio.to_thread(participant.send_message, **send)
        await api.set_faults()
        retried = await asyncio.to_thread(participant.send_message, **send)
        assert retried["Id"] == delivered["Id"]
        assert retried["AbsoluteTime"] == delivered["AbsoluteTime"]
        await heartbeat(ws)  # nothing was delivered a second time
        kept = [item for item in await api.transcript(customer) if item.get("Content") == "exactly once"]
        assert len(kept) == 1


async def test_boto3_retries_survive_lost_responses(api, emulator) -> None:
    """boto3 fills ClientToken once per call, so its own retries are the idempotent retry."""
    customer = await api.customer()
    _, participant = clients(emulator.base_url, Config(retries={"max_attempts": 10, "mode": "standard"}))
    await api.set_faults(lost_response_rate=0.5, operations=["SendMessage"], seed=3)
    ids = set()
    for n in range(5):
        try:
            sent = await asyncio.to_thread(
                participant.send_message,
                ConnectionToken=customer.connection_token,
                ContentType="text/plain",
                Content=f"retried {n}",
            )
            ids.add(sent["Id"])
        except ClientError:  # ten lost responses in a row: possible, and still delivered once
            pass
    await api.set_faults()
    contents = [item["Content"] for item in await api.transcript(customer) if item["Type"] == "MESSAGE"]
    assert contents == [f"retried {n}" for n in range(5)]


async def test_latency_delays_calls(api) -> None:
    customer = await api.customer()
    await api.set_faults(latency_ms=[150, 200])
    started = time.monotonic()
    assert (await api.send_message(customer, "slow")).status == 200
    assert time.monotonic() - started >= 0.15


async def test_answer_latency_holds_the_answer_of_a_call_already_done(api, emulator) -> None:
    """The message is in the chat while its SendMessage answer is still on its way: a client that dies then
    has done the call without knowing it."""
    customer = await api.customer()
    await api.set_faults(answer_latency_ms=[60_000, 60_000], operations=["SendMessage"])
    sending = asyncio.create_task(api.send_message(customer, "done, answer held"))
    contact = emulator.center.contacts[customer.contact_id]
    async with asyncio.timeout(5):
        while not any(item.get("Content") == "done, answer held" for item in contact.transcript):
            await asyncio.sleep(0.01)
    assert not sending.done()
    sending.cancel()
    await asyncio.gather(sending, return_exceptions=True)
    await api.set_faults()
    assert (await api.send_message(customer, "answered")).status == 200


async def test_operations_narrow_the_faults(api) -> None:
    customer = await api.customer()
    await api.set_faults(error_rate=1, error_statuses=[429], operations=["SendMessage"])
    assert (await api.send_message(customer, "refused")).status == 429
    event = await api.participant(
        "event", customer.connection_token, {"ContentType": "application/vnd.amazonaws.connect.event.typing"}
    )
    assert event.status == 200
    assert await api.transcript(customer)
    assert (await api.start_chat())["ContactId"]


async def test_drop_websocket_rate_closes_subscribed_sockets_instead_of_delivering(api) -> None:
    customer = await api.customer()
    async with (
        await open_socket(customer.websocket_url) as subscribed,
        await open_socket(customer.websocket_url, subscribe=False) as unsubscribed,
    ):
        await api.set_faults(drop_websocket_rate=1)
        assert (await api.send_message(customer, "dropped")).status == 200
        await asyncio.wait_for(subscribed.wait_closed(), 5)
        assert subscribed.close_code == 1011
        await heartbeat(unsubscribed)
        # the item was kept: a client fills the gap from the transcript after it reconnects
        assert any(item.get("Content") == "dropped" for item in await api.transcript(customer))
        await api.set_faults()
        async with await open_socket(customer.websocket_url) as again:
            await api.send_message(customer, "delivered")
            await next_item(again, message("delivered"))


async def test_drop_websockets_now_narrowed_by_role_participant_and_contact(api) -> None:
    first = await api.customer()
    agent = await api.join(first.contact_id, "AGENT")
    second = await api.customer()
    sockets = {
        "first": await open_socket(first.websocket_url),
        "agent": await open_socket(agent.websocket_url),
        "second": await open_socket(second.websocket_url),
        "second-unsubscribed": await open_socket(second.websocket_url, subscribe=False),
    }
    try:
        drop = "/emulator/faults/drop-websockets"
        assert await api.ok("POST", drop, {"ParticipantRole": "AGENT"}) == {"Dropped": 1}
        await wait_closed(sockets["agent"])
        assert sockets["agent"].close_code == 1011
        await heartbeat(sockets["first"])

        assert await api.ok("POST", drop, {"ContactId": second.contact_id}) == {"Dropped": 2}
        await wait_closed(sockets["second"])
        await wait_closed(sockets["second-unsubscribed"])

        assert await api.ok("POST", drop, {"ParticipantId": "nobody"}) == {"Dropped": 0}
        await heartbeat(sockets["first"])
        assert await api.ok("POST", drop, {"ParticipantId": first.participant_id}) == {"Dropped": 1}
        await wait_closed(sockets["first"])

        # no body: every socket
        sockets["again"] = await open_socket(first.websocket_url)
        sockets["again-agent"] = await open_socket(agent.websocket_url)
        assert await api.ok("POST", drop) == {"Dropped": 2}
        await wait_closed(sockets["again"])
        await wait_closed(sockets["again-agent"])
    finally:
        for ws in sockets.values():
            await ws.close()


async def test_drop_websockets_with_a_bad_body_is_a_400(api) -> None:
    reply = await api.call(
        "POST", "/emulator/faults/drop-websockets", data=b"[", headers={"Content-Type": "application/json"}
    )
    assert reply.status == 400 and reply.headers["x-amzn-ErrorType"] == "ValidationException"


async def test_refused_websockets_for_a_while(api, monkeypatch) -> None:
    customer = await api.customer()
    await api.set_faults(refuse_websockets_seconds=30)
    with pytest.raises(InvalidStatus) as refused:
        await open_socket(customer.websocket_url, subscribe=False)
    assert refused.value.response.status_code == 503
    # REST is not affected
    assert (await api.send_message(customer, "still talking")).status == 200
    # 31 seconds later the upgrades work again
    later = time.monotonic() + 31
    monkeypatch.setattr(faults_module, "time", SimpleNamespace(monotonic=lambda: later))
    async with await open_socket(customer.websocket_url) as ws:
        await heartbeat(ws)


async def test_new_faults_lift_the_refusal(api) -> None:
    customer = await api.customer()
    await api.set_faults(refuse_websockets_seconds=30)
    with pytest.raises(InvalidStatus):
        await open_socket(customer.websocket_url, subscribe=False)
    await api.set_faults()
    async with await open_socket(customer.websocket_url) as ws:
        await heartbeat(ws)


async def test_a_forbidden_url_is_403_even_while_refusing(api) -> None:
    customer = await api.customer()
    await api.set_faults(refuse_websockets_seconds=30)
    with pytest.raises(InvalidStatus) as refused:
        await open_socket(customer.websocket_url.split("?")[0] + "?X-Amz-Security-Token=forged", subscribe=False)
    assert refused.value.response.status_code == 403


INVALID = [
    ({"error_rate": 2}, "error_rate"),
    ({"error_rate": -0.5}, "error_rate"),
    ({"error_rate": "high"}, "error_rate"),
    ({"error_rate": True}, "error_rate"),
    ({"error_rate": None}, "error_rate"),
    ({"lost_response_rate": 1.5}, "lost_response_rate"),
    ({"drop_websocket_rate": [1]}, "drop_websocket_rate"),
    ({"error_statuses": [404]}, "error_statuses"),
    ({"error_statuses": []}, "error_statuses"),
    ({"error_statuses": 429}, "error_statuses"),
    ({"error_statuses": "429"}, "error_statuses"),
    ({"error_statuses": None}, "error_statuses"),
    ({"latency_ms": [10, 5]}, "latency_ms"),
    ({"latency_ms": [-1, 5]}, "latency_ms"),
    ({"latency_ms": [5]}, "latency_ms"),
    ({"latency_ms": 5}, "latency_ms"),
    ({"latency_ms": "ab"}, "latency_ms"),
    ({"latency_ms": [0, "x"]}, "latency_ms"),
    ({"latency_ms": None}, "latency_ms"),
    ({"answer_latency_ms": [10, 5]}, "answer_latency_ms"),
    ({"operations": "SendMessage"}, "operations"),
    ({"operations": [1]}, "operations"),
    ({"operations": ["SendMesage"]}, "operations"),
    ({"operations": None}, "operations"),
    ({"refuse_websockets_seconds": -1}, "refuse_websockets_seconds"),
    ({"refuse_websockets_seconds": "1"}, "refuse_websockets_seconds"),
    ({"seed": [1]}, "seed"),
    ({"seed": {"a": 1}}, "seed"),
    ({"seed": 1.5}, "seed"),
    ({"bogus_knob": 1}, "bogus_knob"),
    ({"streaming": [0.5]}, "streaming"),
    ({"streaming": {"duplicate_rate": 1.5}}, "streaming.duplicate_rate"),
    ({"streaming": {"reorder_rate": "0.1"}}, "streaming.reorder_rate"),
    ({"streaming": {"delay_rate": True}}, "streaming.delay_rate"),
    ({"streaming": {"delay_seconds": -1}}, "streaming.delay_seconds"),
    ({"streaming": {"reorder_hold_seconds": None}}, "streaming.reorder_hold_seconds"),
    ({"streaming": {"lose_rate": 0.1}}, "lose_rate"),
]


@pytest.mark.parametrize("body, knob", INVALID, ids=[json.dumps(body) for body, _ in INVALID])
async def test_invalid_faults_are_a_400_naming_the_knob(api, body, knob) -> None:
    await api.set_faults(error_rate=0.25, seed=1)
    reply = await api.call("PUT", "/emulator/faults", body)
    assert reply.status == 400, reply.text
    assert reply.headers["x-amzn-ErrorType"] == "ValidationException"
    assert knob in reply.body["message"]
    # nothing of the refused spec was applied
    assert await api.ok("GET", "/emulator/faults") == {**DEFAULTS, "error_rate": 0.25, "seed": 1}


@pytest.mark.parametrize(
    "data",
    [
        b'{"latency_ms": [0, Infinity]}',
        b'{"latency_ms": [NaN, 1]}',
        b'{"error_rate": NaN}',
        b'{"refuse_websockets_seconds": Infinity}',
    ],
)
async def test_non_finite_numbers_are_refused(api, data) -> None:
    reply = await api.call("PUT", "/emulator/faults", data=data, headers={"Content-Type": "application/json"})
    assert reply.status == 400, reply.text
    assert reply.headers["x-amzn-ErrorType"] == "ValidationException"


@pytest.mark.parametrize("data", [b"not json", b"[]", b"7"])
async def test_faults_body_must_be_a_json_object(api, data) -> None:
    reply = await api.call("PUT", "/emulator/faults", data=data, headers={"Content-Type": "application/json"})
    assert reply.status == 400 and reply.headers["x-amzn-ErrorType"] == "ValidationException"
    assert reply.body["message"]


async def test_get_faults_returns_the_current_spec(api) -> None:
    assert await api.ok("GET", "/emulator/faults") == DEFAULTS
    spec = {"error_rate": 0.1, "latency_ms": [1, 2], "operations": ["SendMessage", "StartChatContact"], "seed": 42}
    applied = await api.set_faults(**spec)
    assert applied == {**DEFAULTS, **spec}
    assert await api.ok("GET", "/emulator/faults") == applied
    await api.set_faults()
    assert await api.ok("GET", "/emulator/faults") == DEFAULTS


async def test_seed_makes_the_injected_sequence_repeatable(api) -> None:
    customer = await api.customer()
    spec = {"error_rate": 0.5, "error_statuses": [429, 500], "operations": ["SendMessage"], "seed": 1234}

    async def run() -> list[int]:
        await api.set_faults(**spec)
        return [(await api.send_message(customer, f"m{n}")).status for n in range(24)]

    first = await run()
    assert set(first) == {200, 429, 500}
    assert await run() == first
    spec["seed"] = 4321
    assert await run() != first


async def test_faults_given_at_start() -> None:
    spec = FaultSpec.from_dict({"error_rate": 1, "error_statuses": [429], "operations": ["SendMessage"]})
    async with Emulator(EmulatorConfig(port=0), spec) as emulator, running_api(emulator.base_url) as api:
        assert await api.ok("GET", "/emulator/faults") == {
            **DEFAULTS,
            "error_rate": 1,
            "error_statuses": [429],
            "operations": ["SendMessage"],
        }
        customer = await api.customer()
        assert (await api.send_message(customer, "throttled")).status == 429
