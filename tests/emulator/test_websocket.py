"""The participant websocket, frame by frame, as API Gateway's chat endpoint speaks it (spec section 2)."""

from __future__ import annotations

import asyncio
import json
import re
import time
from datetime import timedelta

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from botkit.emulator import Emulator, EmulatorConfig
from botkit.emulator import contacts as contacts_module
from tests.emulator.wsclient import (
    CHAT_ENDED,
    HEARTBEAT,
    JOINED,
    LEFT,
    PING,
    SUBSCRIBE,
    heartbeat,
    message,
    next_item,
    of_type,
    open_socket,
    recv_json,
    running_api,
    wait_closed,
)

TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
SUBSCRIBED = {"topic": "aws/subscribe", "content": {"status": "success", "topics": ["aws/chat"]}}


@pytest.fixture
async def api(emulator):
    async with running_api(emulator.base_url) as api:
        yield api


async def test_control_frames_are_answered_exactly(api) -> None:
    customer = await api.customer()
    async with await open_socket(customer.websocket_url, subscribe=False) as ws:
        await ws.send(SUBSCRIBE)
        assert await recv_json(ws) == SUBSCRIBED
        await ws.send(HEARTBEAT)
        assert await recv_json(ws) == {"topic": "aws/heartbeat"}
        await ws.send(PING)
        assert await recv_json(ws) == {"topic": "aws/ping", "statusCode": 200, "statusContent": "OK"}


async def test_frames_are_compact_json_objects_as_api_gateway_sends_them(api) -> None:
    customer = await api.customer()
    async with await open_socket(customer.websocket_url, subscribe=False) as ws:
        await ws.send(SUBSCRIBE)
        raw = await asyncio.wait_for(ws.recv(), 5)
        assert raw == '{"topic":"aws/subscribe","content":{"status":"success","topics":["aws/chat"]}}'


async def test_subscribe_with_a_trailing_parenthesis_is_accepted(api) -> None:
    """The iOS SDK's malformed subscribe."""
    customer = await api.customer()
    async with await open_socket(customer.websocket_url, subscribe=False) as ws:
        await ws.send(SUBSCRIBE + ")")
        assert await recv_json(ws) == SUBSCRIBED
        assert (await api.send_message(customer, "after a sloppy subscribe")).status == 200
        await next_item(ws, message("after a sloppy subscribe"))


async def test_chat_frame_carries_the_item_as_a_json_string(api) -> None:
    customer = await api.customer("Customer-LvXuan")
    async with await open_socket(customer.websocket_url) as ws:
        sent = await api.send_message(customer, "Send message --15")
        frame = await recv_json(ws)
        assert set(frame) == {"topic", "contentType", "content"}
        assert frame["topic"] == "aws/chat"
        assert frame["contentType"] == "application/json"
        assert isinstance(frame["content"], str)
        item = json.loads(frame["content"])
        assert item == {
            "AbsoluteTime": sent.body["AbsoluteTime"],
            "Content": "Send message --15",
            "ContentType": "text/plain",
            "Id": sent.body["Id"],
            "Type": "MESSAGE",
            "ParticipantId": customer.participant_id,
            "DisplayName": "Customer-LvXuan",
            "ParticipantRole": "CUSTOMER",
            "InitialContactId": customer.contact_id,
            "ContactId": customer.contact_id,
        }
        assert TIME.match(item["AbsoluteTime"])


async def test_every_item_carries_initial_contact_id_and_contact_id(api) -> None:
    customer = await api.customer()
    async with await open_socket(customer.websocket_url) as ws:
        agent = await api.join(customer.contact_id, "AGENT")
        joined = await next_item(ws, of_type(JOINED))
        await api.participant(
            "event", agent.connection_token, {"ContentType": "application/vnd.amazonaws.connect.event.typing"}
        )
        typing = await next_item(ws, of_type("application/vnd.amazonaws.connect.event.typing"))
        for item in (joined, typing):
            assert item["InitialContactId"] == customer.contact_id
            assert item["ContactId"] == customer.contact_id
            assert item["Type"] == "EVENT"
        assert joined["ParticipantRole"] == "AGENT" and joined["ParticipantId"] == agent.participant_id


async def test_items_fan_out_to_every_subscribed_socket_including_the_senders(api) -> None:
    customer = await api.customer()
    agent = await api.join(customer.contact_id, "AGENT")
    supervisor = await api.join(customer.contact_id, "SUPERVISOR")
    second_agent_url = (
        await api.connection(customer.contact_id, agent.participant_id, agent.participant_token)
    ).websocket_url
    sockets = [
        await open_socket(customer.websocket_url),
        await open_socket(agent.websocket_url),
        await open_socket(second_agent_url),  # a client rotating its socket holds two
        await open_socket(supervisor.websocket_url),
    ]
    try:
        sent = await api.send_message(agent, "hello everyone")
        assert sent.status == 200
        items = [await next_item(ws, message("hello everyone")) for ws in sockets]
        assert {item["Id"] for item in items} == {sent.body["Id"]}
        assert all(item["ParticipantId"] == agent.participant_id for item in items)
    finally:
        for ws in sockets:
            await ws.close()


async def test_two_sockets_on_one_url_both_receive(api) -> None:
    """A URL may be used again within its window, as chatjs does while it retries."""
    customer = await api.customer()
    async with await open_socket(customer.websocket_url) as first, await open_socket(customer.websocket_url) as second:
        await api.send_message(customer, "twice")
        await next_item(first, message("twice"))
        await next_item(second, message("twice"))


async def test_unsubscribed_socket_gets_no_chat_frames(api) -> None:
    customer = await api.customer()
    async with (
        await open_socket(customer.websocket_url, subscribe=False) as quiet,
        await open_socket(customer.websocket_url) as listening,
    ):
        await api.send_message(customer, "not for the quiet one")
        await next_item(listening, message("not for the quiet one"))
        # Delivery is done before SendMessage answers, so anything queued would precede this answer.
        await heartbeat(quiet)


async def test_unsubscribe_stops_chat_frames(api) -> None:
    customer = await api.customer()
    async with await open_socket(customer.websocket_url) as ws:
        await ws.send(json.dumps({"topic": "aws/unsubscribe", "content": {"topics": ["aws/chat"]}}))
        assert await recv_json(ws) == {
            "topic": "aws/unsubscribe",
            "content": {"status": "success", "topics": ["aws/chat"]},
        }
        await api.send_message(customer, "after unsubscribing")
        await heartbeat(ws)


async def test_url_is_refused_after_its_window(api, monkeypatch) -> None:
    customer = await api.customer()
    async with await open_socket(customer.websocket_url):
        pass
    async with await open_socket(customer.websocket_url):  # reused within the window
        pass
    later = contacts_module.utcnow() + timedelta(seconds=101)
    monkeypatch.setattr(contacts_module, "utcnow", lambda: later)
    with pytest.raises(InvalidStatus) as refused:
        await open_socket(customer.websocket_url, subscribe=False)
    assert refused.value.response.status_code == 403


async def test_tiny_connect_window_refuses_the_url() -> None:
    async with (
        Emulator(EmulatorConfig(port=0, websocket_connect_window=0)) as emulator,
        running_api(emulator.base_url) as api,
    ):
        customer = await api.customer()
        with pytest.raises(InvalidStatus) as refused:
            await open_socket(customer.websocket_url, subscribe=False)
        assert refused.value.response.status_code == 403
        # A fresh URL is issued on every CreateParticipantConnection; the refusal is not the end of the chat.
        assert (await api.send_message(customer, "still here")).status == 200


@pytest.mark.parametrize("token", ["", "not-a-ticket"])
async def test_unknown_ticket_is_refused(api, token) -> None:
    customer = await api.customer()
    url = customer.websocket_url.split("?")[0] + (f"?X-Amz-Security-Token={token}" if token else "")
    with pytest.raises(InvalidStatus) as refused:
        await open_socket(url, subscribe=False)
    assert refused.value.response.status_code == 403


MALFORMED = [
    pytest.param("this is not json", id="not-json"),
    pytest.param("[1, 2, 3]", id="json-array"),
    pytest.param('"aws/subscribe"', id="json-string"),
    pytest.param("null", id="json-null"),
    pytest.param("{}", id="no-topic"),
    pytest.param('{"topic":"aws/nothing-like-this"}', id="unknown-topic"),
    pytest.param('{"topic":42}', id="numeric-topic"),
    pytest.param('{"topic":["aws/heartbeat"]}', id="list-topic"),
    pytest.param("", id="empty"),
    pytest.param("[" * 50_000, id="deeply-nested"),
    pytest.param(b"\x00\x01binary", id="binary"),
]


@pytest.mark.parametrize("frame", MALFORMED)
async def test_malformed_frame_gets_an_error_frame_and_the_socket_keeps_working(api, frame) -> None:
    customer = await api.customer()
    async with await open_socket(customer.websocket_url) as ws:
        await ws.send(frame)
        error = await recv_json(ws)
        assert set(error) == {"message", "connectionId", "requestId"}
        assert all(isinstance(value, str) and value for value in error.values())
        await heartbeat(ws)
        await ws.send(frame)
        again = await recv_json(ws)
        assert again["connectionId"] == error["connectionId"]
        assert again["requestId"] != error["requestId"]
        await api.send_message(customer, "still delivered")
        await next_item(ws, message("still delivered"))
    # and the emulator serves new sockets as before
    async with await open_socket(customer.websocket_url) as ws:
        await heartbeat(ws)


async def test_sockets_get_distinct_connection_ids(api) -> None:
    customer = await api.customer()
    async with await open_socket(customer.websocket_url) as one, await open_socket(customer.websocket_url) as two:
        await one.send("?")
        await two.send("?")
        assert (await recv_json(one))["connectionId"] != (await recv_json(two))["connectionId"]


async def test_idle_sockets_are_closed_and_heartbeating_ones_stay_open() -> None:
    idle_timeout = 0.3
    async with (
        Emulator(EmulatorConfig(port=0, websocket_idle_timeout=idle_timeout)) as emulator,
        running_api(emulator.base_url) as api,
    ):
        customer = await api.customer()
        async with await open_socket(customer.websocket_url) as busy:
            for _ in range(2):  # two idle sockets in a row: the busy one outlives both
                opened = time.monotonic()
                idle = await open_socket(customer.websocket_url)
                deadline = opened + 5
                while True:
                    await heartbeat(busy)
                    try:
                        await asyncio.wait_for(idle.wait_closed(), 0.1)
                        break
                    except TimeoutError:
                        assert time.monotonic() < deadline, "the idle socket was never closed"
                assert time.monotonic() - opened >= idle_timeout
                assert idle.close_code == 1001
            await heartbeat(busy)
            await api.send_message(customer, "the busy socket still gets items")
            await next_item(busy, message("the busy socket still gets items"))


async def test_sockets_are_closed_at_their_maximum_lifetime_even_when_busy() -> None:
    async with (
        Emulator(EmulatorConfig(port=0, websocket_max_lifetime=0.3)) as emulator,
        running_api(emulator.base_url) as api,
    ):
        customer = await api.customer()
        async with await open_socket(customer.websocket_url) as ws:

            async def keep_beating() -> None:
                try:
                    while True:
                        await ws.send(HEARTBEAT)
                        await asyncio.wait_for(ws.recv(), 5)
                except ConnectionClosed:
                    pass

            await asyncio.wait_for(keep_beating(), 5)
            assert ws.close_code == 1001


async def test_stop_contact_ends_the_chat_then_closes_every_socket(api) -> None:
    customer = await api.customer()
    agent = await api.join(customer.contact_id, "AGENT")
    async with (
        await open_socket(customer.websocket_url) as customer_ws,
        await open_socket(agent.websocket_url) as agent_ws,
    ):
        await api.stop_contact(customer.contact_id)
        for ws in (customer_ws, agent_ws):
            ended = await next_item(ws, of_type(CHAT_ENDED))
            assert ended["Type"] == "EVENT" and ended["ContactId"] == customer.contact_id
            await wait_closed(ws)
    with pytest.raises(InvalidStatus) as refused:
        await open_socket(agent.websocket_url, subscribe=False)
    assert refused.value.response.status_code == 403


async def test_customer_leaving_ends_the_chat_for_everyone(api) -> None:
    customer = await api.customer()
    agent = await api.join(customer.contact_id, "AGENT")
    async with (
        await open_socket(customer.websocket_url) as customer_ws,
        await open_socket(agent.websocket_url) as agent_ws,
    ):
        assert (await api.participant("disconnect", customer.connection_token, {})).status == 200
        for ws in (agent_ws, customer_ws):
            left = await next_item(ws, of_type(LEFT))
            assert left["ParticipantId"] == customer.participant_id
            await next_item(ws, of_type(CHAT_ENDED))
            await wait_closed(ws)


async def test_agent_leaving_closes_only_the_agents_sockets(api) -> None:
    customer = await api.customer()
    agent = await api.join(customer.contact_id, "AGENT")
    async with (
        await open_socket(customer.websocket_url) as customer_ws,
        await open_socket(agent.websocket_url) as agent_ws,
    ):
        assert (await api.participant("disconnect", agent.connection_token, {})).status == 200
        left = await next_item(agent_ws, of_type(LEFT))
        assert left["ParticipantId"] == agent.participant_id
        await wait_closed(agent_ws)
        assert (await next_item(customer_ws, of_type(LEFT)))["ParticipantId"] == agent.participant_id
        await heartbeat(customer_ws)
        await api.send_message(customer, "anyone there?")
        await next_item(customer_ws, message("anyone there?"))
    with pytest.raises(InvalidStatus) as refused:  # a participant who left cannot come back on its old URL
        await open_socket(agent.websocket_url, subscribe=False)
    assert refused.value.response.status_code == 403


async def test_a_frame_over_the_size_limit_closes_only_that_socket(api) -> None:
    """API Gateway's limit is 128 KB a message; the socket is closed with 1009, the emulator carries on."""
    customer = await api.customer()
    async with await open_socket(customer.websocket_url) as ws:
        await ws.send(json.dumps({"topic": "aws/heartbeat", "pad": "x" * (128 * 1024)}))
        await wait_closed(ws)
        assert ws.close_code == 1009
    async with await open_socket(customer.websocket_url) as ws:
        await heartbeat(ws)


async def test_a_socket_whose_peer_stops_reading_is_cut_off_without_holding_up_the_others() -> None:
    """A stalled agent socket must not delay the customer's SendMessage or the items the customer's socket gets."""
    async with (
        Emulator(EmulatorConfig(port=0, websocket_send_buffer=64 * 1024)) as emulator,
        running_api(emulator.base_url) as api,
    ):
        customer = await api.customer()
        agent = await api.join(customer.contact_id, "AGENT")
        stalled = await open_socket(agent.websocket_url, receive_buffer=4096)
        async with await open_socket(customer.websocket_url) as reader:
            agent_party = emulator.center.contact(customer.contact_id).participants[agent.participant_id]
            assert len(agent_party.sockets) == 1
            text = "x" * 16_000
            for number in range(400):
                began = time.monotonic()
                reply = await api.send_message(customer, f"{number} {text}")
                assert reply.status == 200 and time.monotonic() - began < 2
                assert (await next_item(reader, message(f"{number} {text}")))["Type"] == "MESSAGE"
                if not agent_party.sockets:
                    break
            assert not agent_party.sockets, "the stalled socket was never cut off"
            await wait_closed(stalled)
            await api.send_message(customer, "after the cut-off")
            await next_item(reader, message("after the cut-off"))
