"""The Participant Service through boto3's own `connectparticipant` client: connections, messages, leaving, views."""

from __future__ import annotations

import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import botocore
import pytest
from botocore.config import Config

from botkit.emulator import EmulatorConfig
from tests.conftest import EmulatorThread
from tests.emulator.helpers import (
    CHAT_ENDED,
    INTERACTIVE,
    INTERACTIVE_RESPONSE,
    JOINED,
    LEFT,
    WIRE_TIME,
    Api,
    assert_request_id,
    clients,
    content_types,
    expect_error,
    listening,
    quoted,
)

ALL_SENDABLE = ["text/plain", "text/markdown", "application/json", INTERACTIVE_RESPONSE]


def wire_time(text: str) -> datetime:
    assert WIRE_TIME.match(text), text
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def access_denied(api: Api, call: Any, **params: Any) -> None:
    response = expect_error(api.participant.exceptions.AccessDeniedException, call, **params)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert response["Error"]["Message"] == "Access denied"


# CreateParticipantConnection ------------------------------------------------------


@pytest.mark.parametrize(
    "types, sections",
    [
        (["WEBSOCKET"], {"Websocket"}),
        (["CONNECTION_CREDENTIALS"], {"ConnectionCredentials"}),
        (["WEBSOCKET", "CONNECTION_CREDENTIALS"], {"Websocket", "ConnectionCredentials"}),
    ],
)
def test_connection_returns_only_the_sections_asked_for(api: Api, types: list[str], sections: set[str]) -> None:
    chat = api.start_chat(connect_customer=False)

    reply = api.participant.create_participant_connection(ParticipantToken=chat.customer.participant_token, Type=types)

    assert_request_id(reply)
    assert set(reply) - {"ResponseMetadata"} == sections


def test_connect_participant_alone_returns_an_empty_answer(api: Api) -> None:
    chat = api.start_chat(connect_customer=False)

    reply = api.participant.create_participant_connection(
        ParticipantToken=chat.customer.participant_token, ConnectParticipant=True
    )

    assert_request_id(reply)
    assert set(reply) == {"ResponseMetadata"}


def test_websocket_section_is_a_local_url_with_a_short_window(api: Api) -> None:
    chat = api.start_chat(connect_customer=False)
    now = datetime.now(UTC)

    websocket = api.participant.create_participant_connection(
        ParticipantToken=chat.customer.participant_token, Type=["WEBSOCKET"]
    )["Websocket"]

    assert websocket["Url"].startswith("ws://127.0.0.1:")
    expiry = wire_time(websocket["ConnectionExpiry"])
    assert now < expiry <= now + timedelta(seconds=101)


def test_connection_credentials_last_at_most_a_day(api: Api) -> None:
    chat = api.start_chat(connect_customer=False)
    now = datetime.now(UTC)

    credentials = api.participant.create_participant_connection(
        ParticipantToken=chat.customer.participant_token, Type=["CONNECTION_CREDENTIALS"]
    )["ConnectionCredentials"]

    expiry = wire_time(credentials["Expiry"])
    assert now + timedelta(hours=23) < expiry <= datetime.now(UTC) + timedelta(hours=24)
    assert credentials["ConnectionToken"]


def test_each_connection_has_a_new_token_and_earlier_ones_stay_valid(api: Api) -> None:
    chat = api.start_chat()
    second = api.connection_token(chat.customer.participant_token)

    assert second != chat.customer.connection_token
    for token in (chat.customer.connection_token, second):
        assert_request_id(api.participant.get_transcript(ConnectionToken=token))


@pytest.mark.parametrize("types", [["WEBRTC_CONNECTION"], ["CARRIER_PIGEON"]])
def test_unsupported_connection_types_are_refused(api: Api, types: list[str]) -> None:
    chat = api.start_chat(connect_customer=False)
    response = expect_error(
        api.participant.exceptions.ValidationException,
        api.participant.create_participant_connection,
        ParticipantToken=chat.customer.participant_token,
        Type=types,
    )
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_a_connection_token_is_not_a_participant_token(api: Api) -> None:
    chat = api.start_chat()
    access_denied(
        api,
        api.participant.create_participant_connection,
        ParticipantToken=chat.customer.connection_token,
        Type=["CONNECTION_CREDENTIALS"],
    )


def test_a_participant_token_is_not_a_connection_token(api: Api) -> None:
    chat = api.start_chat()
    access_denied(api, api.participant.get_transcript, ConnectionToken=chat.customer.participant_token)
    access_denied(
        api,
        api.participant.send_message,
        ConnectionToken=chat.customer.participant_token,
        ContentType="text/plain",
        Content="hello",
    )


def test_unknown_tokens_are_access_denied(api: Api) -> None:
    access_denied(
        api, api.participant.create_participant_connection, ParticipantToken="not-a-token", Type=["WEBSOCKET"]
    )
    access_denied(api, api.participant.get_transcript, ConnectionToken="not-a-token")


def _every_connection_call(api: Api) -> list[tuple[Any, dict[str, Any]]]:
    p = api.participant
    return [
        (p.send_message, {"ContentType": "text/plain", "Content": "hi"}),
        (p.send_event, {"ContentType": "application/vnd.amazonaws.connect.event.typing"}),
        (p.get_transcript, {}),
        (p.disconnect_participant, {}),
        (p.start_attachment_upload, {"ContentType": "text/plain", "AttachmentSizeInBytes": 3, "AttachmentName": "a.txt"}),
        (p.complete_attachment_upload, {"AttachmentIds": [str(uuid.uuid4())]}),
        (p.get_attachment, {"AttachmentId": str(uuid.uuid4())}),
        (p.describe_view, {"ViewToken": "some-view"}),
        (p.get_authentication_url, {"SessionId": str(uuid.uuid4()), "RedirectUri": "https://example.com/back"}),
        (p.cancel_participant_authentication, {"SessionId": str(uuid.uuid4())}),
    ]


def test_every_token_is_refused_after_the_chat_ended(api: Api) -> None:
    chat = api.start_chat()
    agent = api.join(chat, "AGENT")
    api.connect.stop_contact(ContactId=chat.contact_id, InstanceId=api.instance_id)

    for party in (chat.customer, agent):
        access_denied(
            api,
            api.participant.create_participant_connection,
            ParticipantToken=party.participant_token,
            Type=["WEBSOCKET", "CONNECTION_CREDENTIALS"],
        )
        for call, params in _every_connection_call(api):
            access_denied(api, call, ConnectionToken=party.connection_token, **params)


# SendMessage ---------------------------------------------------------------------------


def test_send_message_answers_id_and_time_and_keeps_the_message(api: Api) -> None:
    chat = api.start_chat()

    reply = api.say(chat.customer, "hello there")

    assert_request_id(reply)
    assert set(reply) - {"ResponseMetadata"} == {"Id", "AbsoluteTime"}
    assert WIRE_TIME.match(reply["AbsoluteTime"])
    message = api.transcript(chat.customer)[-1]
    assert message == {
        "AbsoluteTime": reply["AbsoluteTime"],
        "Content": "hello there",
        "ContentType": "text/plain",
        "Id": reply["Id"],
        "Type": "MESSAGE",
        "ParticipantId": chat.customer.participant_id,
        "DisplayName": "Customer",
        "ParticipantRole": "CUSTOMER",
        "ContactId": chat.contact_id,
    }


@pytest.mark.parametrize("content_type", ALL_SENDABLE)
def test_every_sendable_type_passes_when_the_contact_allows_it(api: Api, content_type: str) -> None:
    chat = api.start_chat(SupportedMessagingContentTypes=ALL_SENDABLE + [INTERACTIVE])
    content = '{"data": 1}' if content_type != "text/plain" else "plain"

    reply = api.say(chat.customer, content, content_type)

    assert api.transcript(chat.customer)[-1]["Id"] == reply["Id"]
    assert api.transcript(chat.customer)[-1]["ContentType"] == content_type


def test_interactive_messages_cannot_be_sent_by_a_participant(api: Api) -> None:
    """Interactive messages come from Lex or the flow; SendMessage takes only the four documented types."""
    chat = api.start_chat(SupportedMessagingContentTypes=ALL_SENDABLE + [INTERACTIVE])
    expect_error(
        api.participant.exceptions.ValidationException,
        api.say,
        party=chat.customer,
        text='{"templateType": "QuickReply"}',
        content_type=INTERACTIVE,
    )
    assert content_types(api.transcript(chat.customer)) == [JOINED]


@pytest.mark.parametrize("content_type", ["text/markdown", "application/json", INTERACTIVE_RESPONSE, "text/html"])
def test_without_supported_types_only_text_plain_passes(api: Api, content_type: str) -> None:
    chat = api.start_chat()
    api.say(chat.customer, "plain")
    response = expect_error(
        api.participant.exceptions.ValidationException, api.say, party=chat.customer, text="{}", content_type=content_type
    )
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert content_types(api.transcript(chat.customer)) == [JOINED, "text/plain"]


def test_types_outside_the_contacts_list_are_refused(api: Api) -> None:
    chat = api.start_chat(SupportedMessagingContentTypes=["text/plain", "text/markdown"])
    api.say(chat.customer, "**bold**", "text/markdown")
    expect_error(
        api.participant.exceptions.ValidationException,
        api.say,
        party=chat.customer,
        text="{}",
        content_type="application/json",
    )


def test_content_is_limited_to_16384_bytes(api: Api) -> None:
    chat = api.start_chat()
    api.say(chat.customer, "a" * 16_384)
    response = expect_error(
        api.participant.exceptions.ValidationException, api.say, party=chat.customer, text="a" * 16_385
    )
    assert "16384" in response["Error"]["Message"]
    assert [len(i["Content"]) for i in api.transcript(chat.customer) if i["Type"] == "MESSAGE"] == [16_384]


def test_content_length_counts_bytes_not_characters(api: Api) -> None:
    chat = api.start_chat()
    fits = "€" * 5_461 + "a"  # 16,384 bytes in UTF-8
    assert len(fits.encode()) == 16_384
    api.say(chat.customer, fits)
    expect_error(api.participant.exceptions.ValidationException, api.say, party=chat.customer, text="€" * 5_462)
    expect_error(api.participant.exceptions.ValidationException, api.say, party=chat.customer, text="😀" * 4_097)
    assert [i["Content"] for i in api.transcript(chat.customer) if i["Type"] == "MESSAGE"] == [fits]


def test_a_retry_with_the_same_token_and_body_delivers_once(api: Api) -> None:
    chat = api.start_chat()
    first = api.say(chat.customer, "only once", ClientToken="retry-token-1")
    second = api.say(chat.customer, "only once", ClientToken="retry-token-1")

    assert second["Id"] == first["Id"]
    assert second["AbsoluteTime"] == first["AbsoluteTime"]
    assert [i["Id"] for i in api.transcript(chat.customer) if i["Type"] == "MESSAGE"] == [first["Id"]]


def test_the_same_token_with_a_different_body_is_a_new_message(api: Api) -> None:
    chat = api.start_chat()
    first = api.say(chat.customer, "first", ClientToken="reused-token")
    second = api.say(chat.customer, "second", ClientToken="reused-token")

    assert second["Id"] != first["Id"]
    messages = [i for i in api.transcript(chat.customer) if i["Type"] == "MESSAGE"]
    assert [(m["Id"], m["Content"]) for m in messages] == [(first["Id"], "first"), (second["Id"], "second")]


def test_the_same_token_from_two_participants_is_two_messages(api: Api) -> None:
    chat = api.start_chat()
    agent = api.join(chat, "AGENT")
    first = api.say(chat.customer, "same words", ClientToken="shared-token")
    second = api.say(agent, "same words", ClientToken="shared-token")

    assert second["Id"] != first["Id"]
    assert len([i for i in api.transcript(chat.customer) if i["Type"] == "MESSAGE"]) == 2


def test_messages_without_a_client_token_are_never_merged(api: Api) -> None:
    chat = api.start_chat()
    first = api.say(chat.customer, "again")
    second = api.say(chat.customer, "again")
    assert first["Id"] != second["Id"]


# DisconnectParticipant -------------------------------------------------------------


def test_a_customer_leaving_ends_the_chat(api: Api) -> None:
    chat = api.start_chat()
    agent = api.join(chat, "AGENT")
    with listening(api, agent.participant_token) as agent_socket:
        reply = api.participant.disconnect_participant(ConnectionToken=chat.customer.connection_token)
        assert_request_id(reply)
        ended = agent_socket.wait_for(lambda item: item["ContentType"] == CHAT_ENDED)

    ordered = [(i["ContentType"], i.get("ParticipantId")) for i in agent_socket.items]
    assert ordered.index((LEFT, chat.customer.participant_id)) < ordered.index((CHAT_ENDED, None))
    assert ended["ContactId"] == chat.contact_id
    assert api.contact_state(chat.contact_id)["Ended"] is True
    access_denied(api, api.participant.get_transcript, ConnectionToken=chat.customer.connection_token)
    access_denied(api, api.participant.get_transcript, ConnectionToken=agent.connection_token)


def test_an_agent_leaving_leaves_the_chat_going(api: Api) -> None:
    chat = api.start_chat()
    agent = api.join(chat, "AGENT")

    api.participant.disconnect_participant(ConnectionToken=agent.connection_token)

    items = api.transcript(chat.customer)
    assert [(i["ContentType"], i["ParticipantId"]) for i in items[-1:]] == [(LEFT, agent.participant_id)]
    assert items[-1]["ParticipantRole"] == "AGENT"
    assert CHAT_ENDED not in content_types(items)
    api.say(chat.customer, "still here")
    assert api.contact_state(chat.contact_id)["Ended"] is False


def test_a_participant_that_left_is_refused_everywhere(api: Api) -> None:
    chat = api.start_chat()
    agent = api.join(chat, "AGENT")
    api.participant.disconnect_participant(ConnectionToken=agent.connection_token, ClientToken="leave-once")

    access_denied(api, api.participant.disconnect_participant, ConnectionToken=agent.connection_token)
    access_denied(
        api,
        api.participant.send_message,
        ConnectionToken=agent.connection_token,
        ContentType="text/plain",
        Content="hello?",
    )
    access_denied(
        api,
        api.participant.create_participant_connection,
        ParticipantToken=agent.participant_token,
        Type=["CONNECTION_CREDENTIALS"],
    )
    assert content_types(api.transcript(chat.customer)).count(LEFT) == 1


def test_a_retried_disconnect_gets_its_first_answer(api: Api) -> None:
    """An SDK retry (same ClientToken, same body) after a lost answer must not fail with 403."""
    chat = api.start_chat()
    agent = api.join(chat, "AGENT")
    api.participant.disconnect_participant(ConnectionToken=agent.connection_token, ClientToken="bye-1")

    again = api.participant.disconnect_participant(ConnectionToken=agent.connection_token, ClientToken="bye-1")

    assert_request_id(again)
    assert set(again) == {"ResponseMetadata"}
    assert content_types(api.transcript(chat.customer)).count(LEFT) == 1
    access_denied(api, api.participant.disconnect_participant, ConnectionToken=agent.connection_token, ClientToken="bye-2")

    api.participant.disconnect_participant(ConnectionToken=chat.customer.connection_token, ClientToken="bye-3")
    items_at_end = api.contact_state(chat.contact_id)["ItemCount"]
    assert set(
        api.participant.disconnect_participant(ConnectionToken=chat.customer.connection_token, ClientToken="bye-3")
    ) == {"ResponseMetadata"}
    assert api.contact_state(chat.contact_id)["ItemCount"] == items_at_end


@pytest.mark.parametrize("role", ["AGENT", "SUPERVISOR", "CUSTOM_BOT"])
def test_anyone_but_the_customer_leaving_leaves_the_chat_going(api: Api, role: str) -> None:
    chat = api.start_chat()
    other = api.add_bot(chat) if role == "CUSTOM_BOT" else api.join(chat, role)

    api.participant.disconnect_participant(ConnectionToken=other.connection_token)

    last = api.transcript(chat.customer)[-1]
    assert (last["ContentType"], last["ParticipantId"], last["ParticipantRole"]) == (LEFT, other.participant_id, role)
    assert api.contact_state(chat.contact_id)["Ended"] is False


def test_an_agent_joining_disconnects_the_custom_bot(api: Api) -> None:
    chat = api.start_chat()
    bot = api.add_bot(chat)
    api.say(bot, "How can I help?")

    agent = api.join(chat, "AGENT")

    events = [(i["ContentType"], i["ParticipantId"]) for i in api.transcript(chat.customer) if i["Type"] == "EVENT"]
    assert events[-2:] == [(JOINED, agent.participant_id), (LEFT, bot.participant_id)]
    access_denied(api, api.participant.send_message, ConnectionToken=bot.connection_token, ContentType="text/plain", Content="x")
    access_denied(
        api, api.participant.create_participant_connection, ParticipantToken=bot.participant_token, Type=["WEBSOCKET"]
    )
    state = api.contact_state(chat.contact_id)
    assert {p["ParticipantRole"]: p["Active"] for p in state["Participants"]} == {
        "CUSTOMER": True,
        "CUSTOM_BOT": False,
        "AGENT": True,
    }


# DescribeView ---------------------------------------------------------------------------

VIEW = {
    "Id": "view-1",
    "Arn": "arn:aws:connect:us-east-1:123456789012:instance/abc/view/view-1:1",
    "Name": "Confirm",
    "Version": 1,
    "Content": {"InputSchema": '{"type": "object"}', "Template": '{"Head": {}}', "Actions": ["Submit", "Cancel"]},
}


@pytest.mark.parametrize("token", ["plain-token", "with/slash/es", "with space+plus=="])
def test_describe_view_returns_the_configured_view(api: Api, token: str) -> None:
    chat = api.start_chat()
    status, _ = api.control("PUT", f"/emulator/views/{quoted(token)}", VIEW)
    assert status == 200

    reply = api.participant.describe_view(ViewToken=token, ConnectionToken=chat.customer.connection_token)

    assert_request_id(reply)
    assert reply["View"] == VIEW


def test_describe_view_of_an_unknown_token_is_resource_not_found(api: Api) -> None:
    chat = api.start_chat()
    response = expect_error(
        api.participant.exceptions.ResourceNotFoundException,
        api.participant.describe_view,
        ViewToken="no/such/view",
        ConnectionToken=chat.customer.connection_token,
    )
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert response["ResourceId"] == "no/such/view"
    assert response["ResourceType"]


# Authentication ---------------------------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any) -> None:
        return None


def test_get_authentication_url_leads_back_to_the_redirect_uri(api: Api) -> None:
    chat = api.start_chat()
    session_id = str(uuid.uuid4())
    redirect = "https://example.com/back?state=1&x=y"

    reply = api.participant.get_authentication_url(
        SessionId=session_id, RedirectUri=redirect, ConnectionToken=chat.customer.connection_token
    )

    assert_request_id(reply)
    url = reply["AuthenticationUrl"]
    assert url.startswith(api.base_url)
    assert session_id in url
    opener = urllib.request.build_opener(_NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as raised:
        opener.open(url, timeout=5)
    assert raised.value.code == 302
    assert raised.value.headers["Location"] == redirect


def test_cancel_participant_authentication_answers_empty(api: Api) -> None:
    chat = api.start_chat()
    reply = api.participant.cancel_participant_authentication(
        SessionId=str(uuid.uuid4()), ConnectionToken=chat.customer.connection_token
    )
    assert_request_id(reply)
    assert set(reply) == {"ResponseMetadata"}


@pytest.mark.parametrize("session_id", ["x" * 35, "x" * 37, ""])
def test_session_ids_must_be_36_characters(raw: Api, session_id: str) -> None:
    chat = raw.start_chat()
    for call, params in [
        (raw.participant.get_authentication_url, {"RedirectUri": "https://example.com/"}),
        (raw.participant.cancel_participant_authentication, {}),
    ]:
        response = expect_error(
            raw.participant.exceptions.ValidationException,
            call,
            SessionId=session_id,
            ConnectionToken=chat.customer.connection_token,
            **params,
        )
        assert "sessionId" in response["Error"]["Message"]


# Validation ---------------------------------------------------------------------------------

_VALIDATION_CASES = [
    ("send_message", {"Content": "no type"}, "contentType"),
    ("send_message", {"ContentType": "text/plain"}, "content"),
    ("send_message", {"ContentType": "text/plain", "Content": ""}, "content"),
    ("send_message", {"ContentType": "t" * 101, "Content": "x"}, "contentType"),
    ("send_message", {"ContentType": "text/plain", "Content": "x", "ClientToken": "c" * 501}, "clientToken"),
    ("send_event", {"Content": "{}"}, "contentType"),
    ("send_event", {"ContentType": "application/vnd.amazonaws.connect.event.typing", "Content": "x" * 16_385}, "content"),
    ("get_transcript", {"ScanDirection": "SIDEWAYS"}, "scanDirection"),
    ("get_transcript", {"SortOrder": "RANDOM"}, "sortOrder"),
    ("get_transcript", {"MaxResults": 101}, "maxResults"),
    ("get_transcript", {"MaxResults": -1}, "maxResults"),
    ("get_transcript", {"StartPosition": {"MostRecent": 101}}, "startPosition.mostRecent"),
    ("get_transcript", {"StartPosition": {"Id": "i" * 257}}, "startPosition.id"),
    ("get_transcript", {"NextToken": "n" * 1001}, "nextToken"),
    ("get_transcript", {"ContactId": "c" * 257}, "contactId"),
    ("start_attachment_upload", {"ContentType": "text/plain", "AttachmentName": "a.txt", "ClientToken": "t"}, "attachmentSizeInBytes"),
    (
        "start_attachment_upload",
        {"ContentType": "text/plain", "AttachmentSizeInBytes": 0, "AttachmentName": "a.txt", "ClientToken": "t"},
        "attachmentSizeInBytes",
    ),
    (
        "start_attachment_upload",
        {"ContentType": "text/plain", "AttachmentSizeInBytes": 1, "AttachmentName": "a" * 253 + ".txt", "ClientToken": "t"},
        "attachmentName",
    ),
    (
        "start_attachment_upload",
        {"ContentType": "text/plain", "AttachmentSizeInBytes": 1, "AttachmentName": "a.txt", "ClientToken": ""},
        "clientToken",
    ),
    ("complete_attachment_upload", {"AttachmentIds": [], "ClientToken": "t"}, "attachmentIds"),
    ("complete_attachment_upload", {"AttachmentIds": ["a", "b"], "ClientToken": "t"}, "attachmentIds"),
    ("get_attachment", {}, "attachmentId"),
    ("get_attachment", {"AttachmentId": "a", "UrlContentDisposition": "DOWNLOAD"}, "urlContentDisposition"),
    ("get_authentication_url", {"SessionId": str(uuid.uuid4())}, "redirectUri"),
    ("get_authentication_url", {"SessionId": str(uuid.uuid4()), "RedirectUri": "h" * 1025}, "redirectUri"),
]


@pytest.mark.parametrize(
    "operation, params, member", _VALIDATION_CASES, ids=[f"{op}-{member}-{n}" for n, (op, _, member) in enumerate(_VALIDATION_CASES)]
)
def test_invalid_requests_are_validation_exceptions(raw: Api, operation: str, params: dict[str, Any], member: str) -> None:
    chat = raw.start_chat()

    response = expect_error(
        raw.participant.exceptions.ValidationException,
        getattr(raw.participant, operation),
        ConnectionToken=chat.customer.connection_token,
        **params,
    )

    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert f"'{member}'" in response["Error"]["Message"]
    assert content_types(raw.transcript(chat.customer)) == [JOINED]


def test_invalid_connection_type_is_a_validation_exception(raw: Api) -> None:
    chat = raw.start_chat(connect_customer=False)
    expect_error(
        raw.participant.exceptions.ValidationException,
        raw.participant.create_participant_connection,
        ParticipantToken=chat.customer.participant_token,
        Type=[],
    )


# Signing -------------------------------------------------------------------------------------


def test_an_unsigned_client_works(api: Api) -> None:
    chat = api.start_chat(connect_customer=False)
    unsigned = boto3.client(
        "connectparticipant",
        endpoint_url=api.base_url,
        region_name="us-east-1",
        config=Config(signature_version=botocore.UNSIGNED),
    )

    connection = unsigned.create_participant_connection(
        ParticipantToken=chat.customer.participant_token, Type=["CONNECTION_CREDENTIALS"]
    )
    token = connection["ConnectionCredentials"]["ConnectionToken"]
    sent = unsigned.send_message(ConnectionToken=token, ContentType="text/plain", Content="unsigned hello")
    transcript = unsigned.get_transcript(ConnectionToken=token, SortOrder="ASCENDING")

    assert transcript["Transcript"][-1]["Id"] == sent["Id"]
    with pytest.raises(unsigned.exceptions.AccessDeniedException):
        unsigned.get_transcript(ConnectionToken="bogus")


# Service-side failures ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def faulty() -> Iterator[tuple[Api, Any, Any]]:
    """An emulator of its own for fault injection, and clients that never retry."""
    with EmulatorThread(EmulatorConfig(port=0)) as running:
        api = Api(running)
        yield (api, *clients(api.base_url, retries={"total_max_attempts": 1}))


def set_faults(api: Api, **spec: Any) -> None:
    status, body = api.control("PUT", "/emulator/faults", spec)
    assert status == 200, body


@pytest.mark.parametrize(
    "status, participant_error, connect_error",
    [(429, "ThrottlingException", "ThrottlingException"), (500, "InternalServerException", "InternalServiceException")],
)
def test_throttling_and_internal_errors_parse_into_their_classes(
    faulty: tuple[Api, Any, Any], status: int, participant_error: str, connect_error: str
) -> None:
    api, connect, participant = faulty
    chat = api.start_chat()
    set_faults(api, error_rate=1, error_statuses=[status], operations=["GetTranscript", "DescribeContact"])
    try:
        response = expect_error(
            getattr(participant.exceptions, participant_error),
            participant.get_transcript,
            ConnectionToken=chat.customer.connection_token,
        )
        assert response["ResponseMetadata"]["HTTPStatusCode"] == status
        response = expect_error(
            getattr(connect.exceptions, connect_error),
            connect.describe_contact,
            InstanceId=api.instance_id,
            ContactId=chat.contact_id,
        )
        assert response["ResponseMetadata"]["HTTPStatusCode"] == status
    finally:
        set_faults(api)
    assert_request_id(participant.get_transcript(ConnectionToken=chat.customer.connection_token))


def test_a_lost_answer_is_survived_by_retrying_with_the_same_token(faulty: tuple[Api, Any, Any]) -> None:
    api, _, participant = faulty
    chat = api.start_chat()
    set_faults(api, lost_response_rate=1, operations=["SendMessage"])
    try:
        expect_error(
            participant.exceptions.InternalServerException,
            participant.send_message,
            ConnectionToken=chat.customer.connection_token,
            ContentType="text/plain",
            Content="did it arrive?",
            ClientToken="lost-once",
        )
    finally:
        set_faults(api)

    retried = api.say(chat.customer, "did it arrive?", ClientToken="lost-once")

    messages = [item for item in api.transcript(chat.customer) if item["Type"] == "MESSAGE"]
    assert [(m["Id"], m["Content"]) for m in messages] == [(retried["Id"], "did it arrive?")]
