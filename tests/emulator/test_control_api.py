"""`/emulator/`: the API that tests, local chat and benchmarks drive the emulator with."""

from __future__ import annotations

import asyncio

import pytest

from botkit.emulator import Emulator, EmulatorConfig
from botkit.emulator.config import DEFAULT_CONTACT_FLOW_ID, DEFAULT_INSTANCE_ID
from tests.emulator.wsclient import JOINED, next_item, of_type, open_socket, running_api


@pytest.fixture
async def api(emulator):
    async with running_api(emulator.base_url) as api:
        yield api


def assert_error(reply, status: int, error_type: str | None = None) -> str:
    assert reply.status == status, (reply.status, reply.text)
    assert reply.headers.get("x-amzn-RequestId")
    assert isinstance(reply.body, dict) and isinstance(reply.body.get("message"), str), reply.text
    assert reply.headers.get("x-amzn-ErrorType") == (error_type or reply.headers.get("x-amzn-ErrorType"))
    assert reply.headers.get("x-amzn-ErrorType")
    return reply.body["message"]


async def test_info_names_the_instance_flow_region_and_endpoint(api, emulator) -> None:
    info = await api.ok("GET", "/emulator/info")
    assert info == {
        "instanceId": DEFAULT_INSTANCE_ID,
        "contactFlowId": DEFAULT_CONTACT_FLOW_ID,
        "region": "us-east-1",
        "endpoint": emulator.base_url,
    }


async def test_info_endpoint_never_says_localhost(emulator) -> None:
    """chatjs refuses ws://localhost, so the endpoint handed out is 127.0.0.1 even when reached as localhost."""
    async with running_api(emulator.base_url.replace("127.0.0.1", "localhost")) as api:
        info = await api.ok("GET", "/emulator/info")
    assert info["endpoint"] == emulator.base_url


@pytest.mark.parametrize("role", ["AGENT", "SUPERVISOR", "CUSTOMER"])
async def test_join_adds_a_participant_that_others_see(api, role) -> None:
    customer = await api.customer()
    async with await open_socket(customer.websocket_url) as ws:
        joined = await api.ok(
            "POST",
            f"/emulator/contacts/{customer.contact_id}/participants",
            {"ParticipantRole": role, "DisplayName": "Pat"},
        )
        assert set(joined) == {"ParticipantId", "ParticipantToken"}
        item = await next_item(ws, of_type(JOINED))
        assert item["ParticipantId"] == joined["ParticipantId"]
        assert item["ParticipantRole"] == role
        assert item["DisplayName"] == "Pat"
    # the token it got is a working ParticipantToken
    session = await api.connection(customer.contact_id, joined["ParticipantId"], joined["ParticipantToken"])
    assert (await api.send_message(session, f"hello from the {role.lower()}")).status == 200


async def test_join_without_display_name_gets_one(api) -> None:
    customer = await api.customer()
    joined = await api.ok(
        "POST", f"/emulator/contacts/{customer.contact_id}/participants", {"ParticipantRole": "AGENT"}
    )
    described = await api.ok("GET", f"/emulator/contacts/{customer.contact_id}")
    agent = next(p for p in described["Participants"] if p["ParticipantId"] == joined["ParticipantId"])
    assert agent["DisplayName"]


@pytest.mark.parametrize(
    "body",
    [
        {"ParticipantRole": "CUSTOM_BOT"},
        {"ParticipantRole": "SYSTEM"},
        {"ParticipantRole": "agent"},
        {"ParticipantRole": ["AGENT"]},
        {"ParticipantRole": {"AGENT": 1}},
        {"ParticipantRole": None},
        {},
        {"ParticipantRole": "AGENT", "DisplayName": ""},
        {"ParticipantRole": "AGENT", "DisplayName": 7},
        {"ParticipantRole": "AGENT", "DisplayName": "x" * 257},
    ],
)
async def test_join_with_a_bad_body_is_a_4xx_with_a_reason(api, body) -> None:
    customer = await api.customer()
    reply = await api.call("POST", f"/emulator/contacts/{customer.contact_id}/participants", body)
    message = assert_error(reply, 400, "ValidationException")
    assert "ParticipantRole" in message or "DisplayName" in message


@pytest.mark.parametrize("data", [b"{not json", b"[]", b'"AGENT"', b"\xff\xfe"])
async def test_join_with_a_body_that_is_no_json_object_is_a_4xx(api, data) -> None:
    customer = await api.customer()
    reply = await api.call(
        "POST",
        f"/emulator/contacts/{customer.contact_id}/participants",
        data=data,
        headers={"Content-Type": "application/json"},
    )
    assert "JSON" in assert_error(reply, 400, "ValidationException")


async def test_join_unknown_contact_is_404(api) -> None:
    reply = await api.call("POST", "/emulator/contacts/no-such-contact/participants", {"ParticipantRole": "AGENT"})
    assert_error(reply, 404, "ResourceNotFoundException")


async def test_join_ended_contact_is_refused(api) -> None:
    customer = await api.customer()
    await api.stop_contact(customer.contact_id)
    reply = await api.call(
        "POST", f"/emulator/contacts/{customer.contact_id}/participants", {"ParticipantRole": "AGENT"}
    )
    assert 400 <= reply.status < 500
    assert_error(reply, reply.status)


async def test_join_beyond_the_participant_quota_is_refused(api, emulator) -> None:
    customer = await api.customer()
    path = f"/emulator/contacts/{customer.contact_id}/participants"
    for _ in range(emulator.config.max_participants - 1):
        await api.ok("POST", path, {"ParticipantRole": "SUPERVISOR"})
    reply = await api.call("POST", path, {"ParticipantRole": "SUPERVISOR"})
    assert 400 <= reply.status < 500
    assert_error(reply, reply.status, "ServiceQuotaExceededException")


async def test_contacts_list_and_describe(api) -> None:
    first = await api.customer("First")
    second = await api.customer("Second")
    await api.join(first.contact_id, "AGENT", "Agent Smith")
    await api.send_message(first, "one")
    await api.send_message(first, "two")
    await api.stop_contact(second.contact_id)

    listed = await api.ok("GET", "/emulator/contacts")
    ids = [c["ContactId"] for c in listed["Contacts"]]
    assert first.contact_id in ids and second.contact_id in ids
    active = await api.ok("GET", "/emulator/contacts?active=true")
    active_ids = [c["ContactId"] for c in active["Contacts"]]
    assert first.contact_id in active_ids and second.contact_id not in active_ids

    described = await api.ok("GET", f"/emulator/contacts/{first.contact_id}")
    assert described["ContactId"] == described["InitialContactId"] == first.contact_id
    assert described["Ended"] is False and described["EndedAt"] is None
    roles = {p["ParticipantRole"]: p for p in described["Participants"]}
    assert set(roles) == {"CUSTOMER", "AGENT"}
    assert roles["CUSTOMER"]["ParticipantId"] == first.participant_id
    assert roles["CUSTOMER"]["DisplayName"] == "First"
    assert roles["AGENT"]["DisplayName"] == "Agent Smith"
    assert all(p["Active"] and not p["Left"] for p in roles.values())
    # kept items: two participant.joined events and two messages
    assert described["ItemCount"] == 4 == len(await api.transcript(first))

    ended = await api.ok("GET", f"/emulator/contacts/{second.contact_id}")
    assert ended["Ended"] is True and ended["EndedAt"]


async def test_describe_contact_counts_open_sockets(api) -> None:
    customer = await api.customer()
    async with await open_socket(customer.websocket_url), await open_socket(customer.websocket_url):
        described = await api.ok("GET", f"/emulator/contacts/{customer.contact_id}")
        assert described["Participants"][0]["Sockets"] == 2


async def test_describe_unknown_contact_is_404(api) -> None:
    assert_error(await api.call("GET", "/emulator/contacts/nope"), 404, "ResourceNotFoundException")


async def test_webhooks_register_list_delete(api) -> None:
    assert await api.ok("GET", "/emulator/webhooks") == {"Webhooks": []}
    url = "http://127.0.0.1:9/flow"
    assert await api.ok("POST", "/emulator/webhooks", {"Url": url}) == {"Webhooks": [url]}
    assert await api.ok("POST", "/emulator/webhooks", {"Url": url}) == {"Webhooks": [url]}  # once only
    assert await api.ok("GET", "/emulator/webhooks") == {"Webhooks": [url]}
    assert await api.ok("DELETE", "/emulator/webhooks", {"Url": url}) == {"Webhooks": []}
    assert_error(await api.call("DELETE", "/emulator/webhooks", {"Url": url}), 404, "ResourceNotFoundException")


@pytest.mark.parametrize("url", [None, 5, "", "ftp://127.0.0.1/x", "not a url", "http://"])
async def test_webhook_with_a_bad_url_is_refused(api, url) -> None:
    body = {} if url is None else {"Url": url}
    assert "Url" in assert_error(await api.call("POST", "/emulator/webhooks", body), 400, "ValidationException")


async def test_put_view_makes_describe_view_answer(api) -> None:
    customer = await api.customer()
    view = {
        "Id": "view-1",
        "Arn": "arn:aws:connect:us-east-1:123456789012:instance/x/view/view-1",
        "Name": "Picker",
        "Version": 1,
        "Content": {"InputSchema": "{}", "Template": "{}", "Actions": ["Submit"]},
    }
    quoted = "token%2Fwith%20spaces"  # the token "token/with spaces", percent-encoded as SDKs send it
    assert await api.ok("PUT", f"/emulator/views/{quoted}", view) == {"View": view}
    reply = await api.call("GET", f"/participant/views/{quoted}", headers={"X-Amz-Bearer": customer.connection_token})
    assert reply.status == 200, reply.text
    assert reply.body == {"View": view}
    missing = await api.call("GET", "/participant/views/nope", headers={"X-Amz-Bearer": customer.connection_token})
    assert_error(missing, 404, "ResourceNotFoundException")


async def test_put_view_needs_a_json_object(api) -> None:
    reply = await api.call("PUT", "/emulator/views/v", data=b"[1]", headers={"Content-Type": "application/json"})
    assert_error(reply, 400, "ValidationException")


@pytest.mark.parametrize(
    "body",
    [
        {"StreamingEndpointArn": "not-an-arn", "Urls": ["http://127.0.0.1:1/"]},
        {"StreamingEndpointArn": "arn:aws:sns:us-east-1:123456789012:t", "Urls": []},
        {"StreamingEndpointArn": "arn:aws:sns:us-east-1:123456789012:t", "Urls": "http://127.0.0.1:1/"},
        {"StreamingEndpointArn": "arn:aws:sns:us-east-1:123456789012:t", "Urls": ["file:///etc/passwd"]},
        {"Urls": ["http://127.0.0.1:1/"]},
    ],
)
async def test_streaming_endpoint_with_a_bad_body_is_refused(api, body) -> None:
    assert_error(await api.call("PUT", "/emulator/streaming-endpoints", body), 400, "ValidationException")


async def test_unknown_control_path_is_404_in_the_service_shape(api) -> None:
    assert_error(await api.call("GET", "/emulator/nothing-here"), 404)


async def test_wrong_method_on_a_control_path_is_405_in_the_service_shape(api) -> None:
    assert_error(await api.call("DELETE", "/emulator/info"), 405)


async def test_an_ended_contact_is_forgotten_after_its_retention() -> None:
    """Ended chats stay visible for a while, then go, so a long-running emulator stays small."""
    async with Emulator(EmulatorConfig(port=0, ended_contact_retention=0.05)) as emulator:
        center = emulator.center
        forgotten = asyncio.Event()
        center.on_contact_forgotten(lambda contact: forgotten.set())
        started = await center.start_chat(
            {
                "InstanceId": emulator.config.instance_id,
                "ContactFlowId": emulator.config.contact_flow_id,
                "ParticipantDetails": {"DisplayName": "Ada"},
            }
        )
        contact = center.contact(started["ContactId"])
        await center.end_chat(contact)
        assert started["ContactId"] in center.contacts
        await asyncio.wait_for(forgotten.wait(), 5)
        assert started["ContactId"] not in center.contacts
