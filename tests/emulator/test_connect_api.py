"""The `connect` subset through boto3's own `connect` client: start, join, stream, describe and stop chats."""

from __future__ import annotations

import json
import queue
import threading
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from botkit.emulator import EmulatorConfig
from tests.conftest import EmulatorThread
from tests.emulator.helpers import (
    CHAT_ENDED,
    JOINED,
    WIRE_TIME,
    Api,
    Party,
    assert_request_id,
    content_types,
    expect_error,
    listening,
)


def start_params(api: Api, **overrides: Any) -> dict[str, Any]:
    return {
        "InstanceId": api.instance_id,
        "ContactFlowId": api.contact_flow_id,
        "ParticipantDetails": {"DisplayName": "Customer"},
        **overrides,
    }


# StartChatContact -------------------------------------------------------------


def test_start_chat_contact_returns_the_customer_and_joins_it(api: Api) -> None:
    reply = api.connect.start_chat_contact(**start_params(api))

    assert_request_id(reply)
    assert set(reply) - {"ResponseMetadata"} == {"ContactId", "ParticipantId", "ParticipantToken"}
    chat_token = api.connection_token(reply["ParticipantToken"])
    items = api.transcript(Party(reply["ParticipantId"], reply["ParticipantToken"], chat_token))
    assert [(i["ContentType"], i["ParticipantId"], i["ParticipantRole"]) for i in items] == [
        (JOINED, reply["ParticipantId"], "CUSTOMER")
    ]
    assert items[0]["DisplayName"] == "Customer"
    assert items[0]["ContactId"] == reply["ContactId"]


def test_initial_message_is_the_customers_first_message(api: Api) -> None:
    chat = api.start_chat(InitialMessage={"ContentType": "text/plain", "Content": "I need help"})

    items = api.transcript(chat.customer)

    assert content_types(items) == [JOINED, "text/plain"]
    message = items[1]
    assert message["Type"] == "MESSAGE"
    assert message["Content"] == "I need help"
    assert message["ParticipantId"] == chat.customer.participant_id
    assert message["ParticipantRole"] == "CUSTOMER"
    assert WIRE_TIME.match(message["AbsoluteTime"])


def test_same_client_token_returns_the_same_contact(api: Api) -> None:
    _, before = api.control("GET", "/emulator/contacts")
    first = api.connect.start_chat_contact(**start_params(api, ClientToken="start-once-1234"))
    second = api.connect.start_chat_contact(**start_params(api, ClientToken="start-once-1234"))
    _, after = api.control("GET", "/emulator/contacts")

    assert second["ContactId"] == first["ContactId"]
    assert second["ParticipantId"] == first["ParticipantId"]
    assert second["ParticipantToken"] == first["ParticipantToken"]
    assert len(after["Contacts"]) == len(before["Contacts"]) + 1


def test_different_client_tokens_start_different_contacts(api: Api) -> None:
    first = api.connect.start_chat_contact(**start_params(api, ClientToken="token-a"))
    second = api.connect.start_chat_contact(**start_params(api, ClientToken="token-b"))

    assert first["ContactId"] != second["ContactId"]


def test_unknown_instance_is_resource_not_found(api: Api) -> None:
    response = expect_error(
        api.connect.exceptions.ResourceNotFoundException,
        api.connect.start_chat_contact,
        **start_params(api, InstanceId="00000000-0000-0000-0000-000000000000"),
    )
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_unknown_contact_flow_is_resource_not_found(api: Api) -> None:
    response = expect_error(
        api.connect.exceptions.ResourceNotFoundException,
        api.connect.start_chat_contact,
        **start_params(api, ContactFlowId="00000000-0000-0000-0000-000000000000"),
    )
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_supported_content_types_must_include_text_plain(api: Api) -> None:
    response = expect_error(
        api.connect.exceptions.InvalidRequestException,
        api.connect.start_chat_contact,
        **start_params(api, SupportedMessagingContentTypes=["text/markdown"]),
    )
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"ChatDurationInMinutes": 10081}, id="duration-above-max"),
        pytest.param({"ParticipantDetails": {"DisplayName": "x" * 257}}, id="display-name-too-long"),
        pytest.param({"ParticipantConfiguration": {"ResponseMode": "STREAMING"}}, id="response-mode-enum"),
        pytest.param({"InitialMessage": {"ContentType": "text/plain", "Content": "x" * 16385}}, id="initial-message-too-long"),
        pytest.param({"InstanceId": "i" * 101}, id="instance-id-too-long"),
    ],
)
def test_invalid_start_chat_is_invalid_parameter(api: Api, overrides: dict[str, Any]) -> None:
    response = expect_error(
        api.connect.exceptions.InvalidParameterException,
        api.connect.start_chat_contact,
        **start_params(api, **overrides),
    )
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "validation error" in response["Error"]["Message"]


@pytest.mark.parametrize(
    "overrides, missing",
    [
        pytest.param({"ChatDurationInMinutes": 59}, None, id="duration-below-min"),
        pytest.param({"ParticipantDetails": {}}, None, id="display-name-missing"),
        pytest.param({}, "InstanceId", id="instance-id-missing"),
        pytest.param({}, "ContactFlowId", id="contact-flow-id-missing"),
        pytest.param({}, "ParticipantDetails", id="participant-details-missing"),
    ],
)
def test_what_botocore_would_refuse_is_invalid_parameter_on_the_wire(
    raw: Api, overrides: dict[str, Any], missing: str | None
) -> None:
    params = start_params(raw, **overrides)
    if missing:
        del params[missing]
    expect_error(raw.connect.exceptions.InvalidParameterException, raw.connect.start_chat_contact, **params)


# CreateParticipant --------------------------------------------------------------


def test_create_participant_adds_a_custom_bot_that_joins_on_connect(api: Api) -> None:
    chat = api.start_chat()
    created = api.connect.create_participant(
        InstanceId=api.instance_id,
        ContactId=chat.contact_id,
        ParticipantDetails={"ParticipantRole": "CUSTOM_BOT", "DisplayName": "Helper"},
    )

    assert_request_id(created)
    credentials = created["ParticipantCredentials"]
    assert WIRE_TIME.match(credentials["Expiry"])
    expiry = datetime.strptime(credentials["Expiry"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert datetime.now(UTC) < expiry <= datetime.now(UTC) + timedelta(seconds=16)
    assert JOINED not in [
        i["ContentType"] for i in api.transcript(chat.customer) if i.get("ParticipantId") == created["ParticipantId"]
    ]

    api.connection_token(credentials["ParticipantToken"], connect_participant=True)

    joined = [i for i in api.transcript(chat.customer) if i["ContentType"] == JOINED]
    assert [(i["ParticipantId"], i["ParticipantRole"], i["DisplayName"]) for i in joined] == [
        (chat.customer.participant_id, "CUSTOMER", "Customer"),
        (created["ParticipantId"], "CUSTOM_BOT", "Helper"),
    ]
    assert api.contact_state(chat.contact_id)["Participants"][1]["Active"] is True


def test_create_participant_with_the_same_client_token_adds_one_bot(api: Api) -> None:
    """ClientToken is the model's idempotency token: an SDK retry must not add a second bot."""
    chat = api.start_chat()
    params = {
        "InstanceId": api.instance_id,
        "ContactId": chat.contact_id,
        "ParticipantDetails": {"ParticipantRole": "CUSTOM_BOT", "DisplayName": "Bot"},
        "ClientToken": "create-bot-once",
    }
    first = api.connect.create_participant(**params)
    second = api.connect.create_participant(**params)

    assert second["ParticipantId"] == first["ParticipantId"]
    assert second["ParticipantCredentials"] == first["ParticipantCredentials"]
    assert len(api.contact_state(chat.contact_id)["Participants"]) == 2
    other = api.connect.create_participant(**{**params, "ClientToken": "create-bot-twice"})
    assert other["ParticipantId"] != first["ParticipantId"]


def test_a_client_token_used_again_for_another_request_is_refused(api: Api) -> None:
    """The token is the caller's, not the contact's: the same one with another contact, or other details, is not
    a retry. CreateParticipant's model lists no IdempotencyException, so the answer is InvalidRequestException."""
    chat, other_chat = api.start_chat(), api.start_chat()
    params = {
        "InstanceId": api.instance_id,
        "ContactId": chat.contact_id,
        "ParticipantDetails": {"ParticipantRole": "CUSTOM_BOT", "DisplayName": "Bot"},
        "ClientToken": "create-bot-for-one-request",
    }
    first = api.connect.create_participant(**params)
    for changed in (
        {"ContactId": other_chat.contact_id},
        {"ParticipantDetails": {"ParticipantRole": "CUSTOM_BOT", "DisplayName": "Another bot"}},
    ):
        response = expect_error(
            api.connect.exceptions.InvalidRequestException, api.connect.create_participant, **{**params, **changed}
        )
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert api.connect.create_participant(**params)["ParticipantId"] == first["ParticipantId"]
    assert len(api.contact_state(other_chat.contact_id)["Participants"]) == 1


def test_a_client_token_is_forgotten_with_its_contact() -> None:
    """Remembered while the emulator keeps the contact (here no time after its end), then free for a new request."""
    with EmulatorThread(EmulatorConfig(port=0, ended_contact_retention=0.0)) as running:
        api = Api(running)
        params = {
            "InstanceId": api.instance_id,
            "ParticipantDetails": {"ParticipantRole": "CUSTOM_BOT", "DisplayName": "Bot"},
            "ClientToken": "create-bot-then-forget",
        }
        chat = api.start_chat()
        api.connect.create_participant(ContactId=chat.contact_id, **params)
        api.connect.stop_contact(InstanceId=api.instance_id, ContactId=chat.contact_id)
        deadline = time.monotonic() + 5
        while api.control("GET", f"/emulator/contacts/{chat.contact_id}")[0] != 404:
            assert time.monotonic() < deadline, "the ended contact was never forgotten"
        later = api.start_chat()
        created = api.connect.create_participant(ContactId=later.contact_id, **params)
        assert created["ParticipantId"] in {p["ParticipantId"] for p in api.contact_state(later.contact_id)["Participants"]}


@pytest.fixture(scope="module")
def short_window() -> Iterator[Api]:
    """An emulator of its own whose custom bots must connect within 0.2 s."""
    with EmulatorThread(EmulatorConfig(port=0, custom_participant_connect_window=0.2)) as running:
        yield Api(running)


def test_a_custom_bot_that_does_not_connect_in_time_is_dropped(short_window: Api) -> None:
    api = short_window
    chat = api.start_chat()
    punctual = api.add_bot(chat, "Punctual")
    late = api.add_bot(chat, "Late", connect=False)

    state = api.wait_for_state(chat.contact_id, lambda state: len(state["Participants"]) == 2)

    assert {p["ParticipantId"]: p["Active"] for p in state["Participants"]} == {
        chat.customer.participant_id: True,
        punctual.participant_id: True,
    }
    expect_error(
        api.participant.exceptions.AccessDeniedException,
        api.participant.create_participant_connection,
        ParticipantToken=late.participant_token,
        ConnectParticipant=True,
    )
    assert late.participant_id not in {item.get("ParticipantId") for item in api.transcript(chat.customer)}
    api.say(punctual, "still here")


def test_create_participant_refuses_roles_other_than_custom_bot(api: Api) -> None:
    chat = api.start_chat()
    expect_error(
        api.connect.exceptions.InvalidRequestException,
        api.connect.create_participant,
        InstanceId=api.instance_id,
        ContactId=chat.contact_id,
        ParticipantDetails={"ParticipantRole": "AGENT", "DisplayName": "Agent"},
    )


def test_create_participant_on_an_unknown_contact_is_resource_not_found(api: Api) -> None:
    expect_error(
        api.connect.exceptions.ResourceNotFoundException,
        api.connect.create_participant,
        InstanceId=api.instance_id,
        ContactId="00000000-0000-0000-0000-000000000000",
        ParticipantDetails={"ParticipantRole": "CUSTOM_BOT", "DisplayName": "Bot"},
    )


def test_create_participant_on_an_unknown_instance_is_resource_not_found(api: Api) -> None:
    chat = api.start_chat()
    expect_error(
        api.connect.exceptions.ResourceNotFoundException,
        api.connect.create_participant,
        InstanceId="00000000-0000-0000-0000-000000000000",
        ContactId=chat.contact_id,
        ParticipantDetails={"ParticipantRole": "CUSTOM_BOT", "DisplayName": "Bot"},
    )


def test_create_participant_conflicts_while_an_agent_is_active(api: Api) -> None:
    chat = api.start_chat()
    api.join(chat, "AGENT")

    response = expect_error(
        api.connect.exceptions.ConflictException,
        api.connect.create_participant,
        InstanceId=api.instance_id,
        ContactId=chat.contact_id,
        ParticipantDetails={"ParticipantRole": "CUSTOM_BOT", "DisplayName": "Bot"},
    )
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 409


def test_a_chat_holds_at_most_six_participants(api: Api) -> None:
    chat = api.start_chat()
    for number in range(5):
        api.add_bot(chat, f"Bot {number}")
    assert len([p for p in api.contact_state(chat.contact_id)["Participants"] if p["Active"]]) == 6

    response = expect_error(
        api.connect.exceptions.ServiceQuotaExceededException,
        api.connect.create_participant,
        InstanceId=api.instance_id,
        ContactId=chat.contact_id,
        ParticipantDetails={"ParticipantRole": "CUSTOM_BOT", "DisplayName": "Seventh"},
    )
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 402


def test_bots_waiting_to_connect_count_towards_the_six(api: Api) -> None:
    chat = api.start_chat()
    waiting = [api.add_bot(chat, f"Bot {number}", connect=False) for number in range(5)]

    expect_error(
        api.connect.exceptions.ServiceQuotaExceededException,
        api.connect.create_participant,
        InstanceId=api.instance_id,
        ContactId=chat.contact_id,
        ParticipantDetails={"ParticipantRole": "CUSTOM_BOT", "DisplayName": "Seventh"},
    )
    for bot in waiting:
        api.connection_token(bot.participant_token, connect_participant=True)
    assert len([p for p in api.contact_state(chat.contact_id)["Participants"] if p["Active"]]) == 6


def test_create_participant_validation_is_invalid_parameter(api: Api) -> None:
    chat = api.start_chat()
    expect_error(
        api.connect.exceptions.InvalidParameterException,
        api.connect.create_participant,
        InstanceId=api.instance_id,
        ContactId=chat.contact_id,
        ParticipantDetails={"ParticipantRole": "ROBOT", "DisplayName": "Bot"},
    )


# StopContact and DescribeContact ---------------------------------------------------


def test_stop_contact_ends_the_chat(api: Api) -> None:
    chat = api.start_chat()
    with listening(api, chat.customer.participant_token) as customer_socket:
        reply = api.connect.stop_contact(ContactId=chat.contact_id, InstanceId=api.instance_id)
        assert_request_id(reply)
        ended = customer_socket.wait_for(lambda item: item["ContentType"] == CHAT_ENDED)

    assert ended["Type"] == "EVENT"
    assert ended["ContactId"] == chat.contact_id
    assert api.contact_state(chat.contact_id)["Ended"] is True
    expect_error(
        api.participant.exceptions.AccessDeniedException,
        api.participant.get_transcript,
        ConnectionToken=chat.customer.connection_token,
    )


def test_stop_contact_on_an_unknown_or_ended_contact_is_contact_not_found(api: Api) -> None:
    response = expect_error(
        api.connect.exceptions.ContactNotFoundException,
        api.connect.stop_contact,
        ContactId="00000000-0000-0000-0000-000000000000",
        InstanceId=api.instance_id,
    )
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 410

    chat = api.start_chat()
    api.connect.stop_contact(ContactId=chat.contact_id, InstanceId=api.instance_id)
    expect_error(
        api.connect.exceptions.ContactNotFoundException,
        api.connect.stop_contact,
        ContactId=chat.contact_id,
        InstanceId=api.instance_id,
    )


def test_stop_contact_on_an_unknown_instance_is_resource_not_found(api: Api) -> None:
    chat = api.start_chat()
    expect_error(
        api.connect.exceptions.ResourceNotFoundException,
        api.connect.stop_contact,
        ContactId=chat.contact_id,
        InstanceId="00000000-0000-0000-0000-000000000000",
    )


def test_describe_contact_parses_timestamps_into_datetimes(api: Api) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    chat = api.start_chat(Attributes={"customerTier": "gold"})

    described = api.connect.describe_contact(InstanceId=api.instance_id, ContactId=chat.contact_id)
    assert_request_id(described)
    contact = described["Contact"]
    assert contact["Id"] == contact["InitialContactId"] == chat.contact_id
    assert contact["Channel"] == "CHAT"
    assert contact["InitiationMethod"] == "API"
    assert contact["Arn"].endswith(f"/contact/{chat.contact_id}")
    assert contact["Attributes"] == {"customerTier": "gold"}
    assert isinstance(contact["InitiationTimestamp"], datetime)
    assert before <= contact["InitiationTimestamp"] <= datetime.now(UTC)
    assert "DisconnectTimestamp" not in contact

    api.connect.stop_contact(ContactId=chat.contact_id, InstanceId=api.instance_id)
    ended = api.connect.describe_contact(InstanceId=api.instance_id, ContactId=chat.contact_id)["Contact"]
    assert isinstance(ended["DisconnectTimestamp"], datetime)
    assert ended["DisconnectTimestamp"] >= ended["InitiationTimestamp"]
    assert isinstance(ended["LastUpdateTimestamp"], datetime)


def test_describe_contact_of_an_unknown_contact_is_resource_not_found(api: Api) -> None:
    expect_error(
        api.connect.exceptions.ResourceNotFoundException,
        api.connect.describe_contact,
        InstanceId=api.instance_id,
        ContactId="00000000-0000-0000-0000-000000000000",
    )
    chat = api.start_chat()
    expect_error(
        api.connect.exceptions.ResourceNotFoundException,
        api.connect.describe_contact,
        InstanceId="00000000-0000-0000-0000-000000000000",
        ContactId=chat.contact_id,
    )


# StartContactStreaming / StopContactStreaming ---------------------------------------


@pytest.fixture
def sns_endpoint() -> Iterator[tuple[str, queue.Queue[dict[str, Any]]]]:
    """A local HTTP endpoint standing in for an SNS subscription."""
    received: queue.Queue[dict[str, Any]] = queue.Queue()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.put(json.loads(body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/sns", received
    finally:
        server.shutdown()
        server.server_close()


def test_contact_streaming_posts_items_to_the_topics_endpoint(
    api: Api, sns_endpoint: tuple[str, queue.Queue[dict[str, Any]]]
) -> None:
    url, received = sns_endpoint
    arn = "arn:aws:sns:us-east-1:123456789012:botkit-streaming-test"
    status, _ = api.control("PUT", "/emulator/streaming-endpoints", {"StreamingEndpointArn": arn, "Urls": [url]})
    assert status == 200
    confirmation = received.get(timeout=5)  # the SNS handshake: nothing else comes until SubscribeURL is fetched
    assert confirmation["Type"] == "SubscriptionConfirmation" and confirmation["TopicArn"] == arn
    with urllib.request.urlopen(confirmation["SubscribeURL"], timeout=5) as answer:
        assert answer.status == 200
    chat = api.start_chat()

    started = api.connect.start_contact_streaming(
        InstanceId=api.instance_id,
        ContactId=chat.contact_id,
        ChatStreamingConfiguration={"StreamingEndpointArn": arn},
        ClientToken="stream-once",
    )
    assert_request_id(started)
    again = api.connect.start_contact_streaming(
        InstanceId=api.instance_id,
        ContactId=chat.contact_id,
        ChatStreamingConfiguration={"StreamingEndpointArn": arn},
        ClientToken="stream-once",
    )
    assert again["StreamingId"] == started["StreamingId"]
    assert [s["StreamingId"] for s in api.contact_state(chat.contact_id)["Streams"]] == [started["StreamingId"]]
    other_chat = api.start_chat()
    expect_error(
        api.connect.exceptions.InvalidRequestException,
        api.connect.start_contact_streaming,
        InstanceId=api.instance_id,
        ContactId=other_chat.contact_id,
        ChatStreamingConfiguration={"StreamingEndpointArn": arn},
        ClientToken="stream-once",
    )
    assert api.contact_state(other_chat.contact_id)["Streams"] == []

    sent = api.say(chat.customer, "streamed")
    notification = received.get(timeout=5)
    assert notification["Type"] == "Notification"
    assert notification["TopicArn"] == arn
    item = json.loads(notification["Message"])
    assert item["Id"] == sent["Id"]
    assert item["Content"] == "streamed"

    stopped = api.connect.stop_contact_streaming(
        InstanceId=api.instance_id, ContactId=chat.contact_id, StreamingId=started["StreamingId"]
    )
    assert_request_id(stopped)
    expect_error(
        api.connect.exceptions.InvalidParameterException,
        api.connect.stop_contact_streaming,
        InstanceId=api.instance_id,
        ContactId=chat.contact_id,
        StreamingId=started["StreamingId"],
    )


def test_contact_streaming_to_an_unknown_topic_is_invalid_parameter(api: Api) -> None:
    chat = api.start_chat()
    expect_error(
        api.connect.exceptions.InvalidParameterException,
        api.connect.start_contact_streaming,
        InstanceId=api.instance_id,
        ContactId=chat.contact_id,
        ChatStreamingConfiguration={"StreamingEndpointArn": "arn:aws:sns:us-east-1:123456789012:nowhere"},
        ClientToken="stream-nowhere",
    )
