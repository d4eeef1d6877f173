"""`POST /emulator/contacts/{ContactId}/flow-messages`: a message as the contact flow sends it, role SYSTEM."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.emulator.helpers import INTERACTIVE, INTERACTIVE_RESPONSE, Api, listening

ALL_TYPES = ["text/plain", "text/markdown", "application/json", INTERACTIVE, INTERACTIVE_RESPONSE]


def template(kind: str, content: dict[str, Any]) -> str:
    return json.dumps({"templateType": kind, "version": "1.0", "data": {"content": content}})


LIST_PICKER = {"title": "Pick one", "elements": [{"title": "Billing"}, {"title": "Delivery"}]}
VALID_TEMPLATES = [
    template("ListPicker", LIST_PICKER),
    template("Panel", {"title": "How can we help?", "elements": [{"title": "Orders"}]}),
    template("QuickReply", {"title": "Helpful?", "elements": [{"title": "Yes"}, {"title": "No"}]}),
    template("TimePicker", {"title": "When?", "timeslots": [{"date": "2026-01-05T10:00+00:00", "duration": 30}]}),
    template(
        "Carousel",
        {
            "title": "Our hotels",
            "elements": [
                {"templateType": "Panel", "version": "1.0", "data": {"content": {"title": "A", "elements": [{"title": "Book"}]}}},
                {"templateType": "ListPicker", "version": "1.0", "data": {"content": LIST_PICKER}},
            ],
        },
    ),
]


def post(api: Api, contact_id: str, content_type: Any, content: Any) -> tuple[int, dict[str, Any]]:
    return api.control(
        "POST", f"/emulator/contacts/{contact_id}/flow-messages", {"ContentType": content_type, "Content": content}
    )


def test_a_flow_message_is_a_system_message_in_the_transcript_and_on_sockets(api: Api) -> None:
    chat = api.start_chat(SupportedMessagingContentTypes=ALL_TYPES)
    with listening(api, chat.customer.participant_token) as socket:
        status, body = post(api, chat.contact_id, INTERACTIVE, VALID_TEMPLATES[0])
        assert status == 200, body
        live = socket.wait_for(lambda item: item.get("Type") == "MESSAGE")
    kept = [item for item in api.transcript(chat.customer) if item["Type"] == "MESSAGE"]
    assert [item["Id"] for item in kept] == [body["Id"]] == [live["Id"]]
    for item in (kept[0], live):
        assert item["ParticipantRole"] == "SYSTEM"
        assert item["DisplayName"] == "SYSTEM_MESSAGE"
        assert item["ContentType"] == INTERACTIVE and item["Content"] == VALID_TEMPLATES[0]
        assert item["ParticipantId"] and item["ParticipantId"] != chat.customer.participant_id


@pytest.mark.parametrize("content", VALID_TEMPLATES, ids=["ListPicker", "Panel", "QuickReply", "TimePicker", "Carousel"])
def test_each_interactive_template_is_accepted(api: Api, content: str) -> None:
    chat = api.start_chat(SupportedMessagingContentTypes=ALL_TYPES)
    status, body = post(api, chat.contact_id, INTERACTIVE, content)
    assert status == 200, body


@pytest.mark.parametrize(
    ("content_type", "content", "complaint"),
    [
        (INTERACTIVE_RESPONSE, "{}", "ContentType must be one of"),
        ("text/html", "<p>hi</p>", "ContentType must be one of"),
        (None, "hi", "ContentType must be one of"),
        ("text/plain", "", "Content must be a non-empty string"),
        ("text/plain", 42, "Content must be a non-empty string"),
        ("text/plain", "é" * 513, "at most 1024 UTF-8 bytes; this holds 1026"),
        ("application/json", "{not json", "Content must be JSON"),
        (INTERACTIVE, "x" * (20 * 1024 + 1), "at most 20480 UTF-8 bytes"),
        (INTERACTIVE, template("Webform", {"title": "t"}), "templateType must be one of"),
        (INTERACTIVE, json.dumps({"templateType": "ListPicker", "version": "2", "data": {}}), 'version must be "1.0"'),
        (INTERACTIVE, template("ListPicker", {"elements": [{"title": "a"}]}), "data.content.title must be"),
        (INTERACTIVE, template("QuickReply", {"title": "t", "elements": []}), "data.content.elements must be"),
        (INTERACTIVE, template("Panel", {"title": "t", "elements": [{}]}), "data.content.elements[0].title must"),
        (INTERACTIVE, template("TimePicker", {"title": "t", "timeslots": [{"date": "soon", "duration": 30}]}), "date"),
        (INTERACTIVE, template("TimePicker", {"title": "t", "timeslots": [{"date": "2026-01-05T10:00", "duration": 0}]}), "duration"),
        (
            INTERACTIVE,
            template("Carousel", {"title": "t", "elements": [json.loads(template("QuickReply", {"title": "q", "elements": [{"title": "y"}]}))]}),
            "data.content.elements[0].templateType must be one of ListPicker, Panel",
        ),
    ],
)
def test_a_malformed_flow_message_is_refused_with_the_reason(api: Api, content_type: Any, content: Any, complaint: str) -> None:
    chat = api.start_chat(SupportedMessagingContentTypes=ALL_TYPES)
    status, body = post(api, chat.contact_id, content_type, content)
    assert status == 400, body
    assert complaint in body["message"]
    assert not [item for item in api.transcript(chat.customer) if item["Type"] == "MESSAGE"]


def test_a_content_type_the_chat_does_not_support_is_refused(api: Api) -> None:
    chat = api.start_chat()  # text/plain only
    status, body = post(api, chat.contact_id, INTERACTIVE, VALID_TEMPLATES[0])
    assert status == 400 and "not supported for this contact" in body["message"], body


def test_an_ended_or_unknown_contact_takes_no_flow_message(api: Api) -> None:
    chat = api.start_chat()
    api.participant.disconnect_participant(ConnectionToken=chat.customer.connection_token)
    status, body = post(api, chat.contact_id, "text/plain", "hello?")
    assert status == 400 and body["message"] == "Contact is not active", body
    status, body = post(api, "no-such-contact", "text/plain", "hello?")
    assert status == 404, body
