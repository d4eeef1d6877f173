from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from botkit.connect import (
    Attachment,
    ConnectionDetails,
    Item,
    MessageMetadata,
    Receipt,
    Secret,
    StartPosition,
    TranscriptPage,
)
from botkit.connect import vocabulary as v

# The real capture of spec §2, verbatim (the spec shortens its Ids with "…").
CAPTURE = (
    '{"content":"{\\"AbsoluteTime\\":\\"2021-06-19T09:56:18.554Z\\",\\"Content\\":\\"Send message --15\\",'
    '\\"ContentType\\":\\"text/plain\\",\\"Id\\":\\"4fe10f82-…\\",\\"Type\\":\\"MESSAGE\\",'
    '\\"ParticipantId\\":\\"ced34411-…\\",\\"DisplayName\\":\\"Customer-LvXuan\\",'
    '\\"ParticipantRole\\":\\"CUSTOMER\\",\\"InitialContactId\\":\\"ee0ad51d-…\\",'
    '\\"ContactId\\":\\"ee0ad51d-…\\"}","contentType":"application/json","topic":"aws/chat"}'
)


def test_item_from_the_real_capture() -> None:
    frame = json.loads(CAPTURE)
    assert frame["topic"] == "aws/chat"
    item = Item.from_wire(json.loads(frame["content"]))
    assert item.type == v.MESSAGE
    assert item.content_type == v.TEXT_PLAIN
    assert item.content == "Send message --15"
    assert item.id == "4fe10f82-…"
    assert item.participant_id == "ced34411-…"
    assert item.display_name == "Customer-LvXuan"
    assert item.participant_role == v.CUSTOMER
    assert item.absolute_time == "2021-06-19T09:56:18.554Z"
    assert item.initial_contact_id == item.contact_id == "ee0ad51d-…"
    assert item.related_contact_id is None
    assert item.attachments == ()
    assert item.message_metadata is None


def test_item_with_attachments() -> None:
    item = Item.from_wire(
        {
            "Id": "i1",
            "Type": v.ATTACHMENT,
            "AbsoluteTime": "2024-01-01T00:00:00.000Z",
            "Attachments": [
                {
                    "ContentType": "application/pdf",
                    "AttachmentId": "a1",
                    "AttachmentName": "invoice.pdf",
                    "Status": v.APPROVED,
                }
            ],
        }
    )
    assert item.attachments == (Attachment("application/pdf", "a1", "invoice.pdf", v.APPROVED),)


def test_item_with_receipts() -> None:
    item = Item.from_wire(
        {
            "Id": "m2",
            "Type": v.MESSAGEMETADATA,
            "ContentType": v.EVENT_MESSAGE_METADATA,
            "MessageMetadata": {
                "MessageId": "m1",
                "Receipts": [
                    {
                        "DeliveredTimestamp": "2024-01-01T00:00:01.000Z",
                        "ReadTimestamp": "2024-01-01T00:00:02.000Z",
                        "RecipientParticipantId": "p2",
                    },
                    {
                        "DeliveredTimestamp": "2024-01-01T00:00:03.000Z",
                        "RecipientParticipantId": "p3",
                    },
                ],
            },
        }
    )
    assert item.message_metadata == MessageMetadata(
        message_id="m1",
        receipts=(
            Receipt("2024-01-01T00:00:01.000Z", "2024-01-01T00:00:02.000Z", "p2"),
            Receipt("2024-01-01T00:00:03.000Z", None, "p3"),
        ),
        message_processing_status=None,
    )


def test_unknown_keys_are_kept_in_raw_and_raw_is_read_only() -> None:
    wire = {
        "Id": "s1",
        "Type": v.MESSAGE,
        "ParticipantRole": v.SYSTEM,
        "MessageMetadata": {"MessageId": "s1", "MessageCompleted": False, "ChunkNumber": 2},
        "BrandNewKey": {"x": 1},
    }
    item = Item.from_wire(wire)
    assert item.raw["BrandNewKey"] == {"x": 1}
    assert item.raw["MessageMetadata"]["ChunkNumber"] == 2
    assert item.message_metadata is not None and item.message_metadata.message_id == "s1"
    with pytest.raises(TypeError):
        item.raw["Id"] = "other"  # type: ignore[index]
    wire["Id"] = "changed"
    assert item.raw["Id"] == "s1"


def test_item_is_frozen_slotted_and_hashable() -> None:
    item = Item.from_wire({"Id": "x", "Type": v.EVENT, "ContentType": v.EVENT_TYPING})
    with pytest.raises(dataclasses.FrozenInstanceError):
        item.id = "y"  # type: ignore[misc]
    assert not hasattr(item, "__dict__")
    assert hash(item) == hash(
        Item.from_wire({"Id": "x", "Type": v.EVENT, "ContentType": v.EVENT_TYPING})
    )
    assert "raw" not in repr(item)


def test_an_empty_dict_is_tolerated() -> None:
    item = Item.from_wire({})
    assert (item.id, item.type, item.content, item.attachments, item.message_metadata) == (
        "",
        "",
        None,
        (),
        None,
    )


_KEYS = st.sampled_from(
    [
        "Id",
        "Type",
        "Content",
        "ContentType",
        "ParticipantId",
        "DisplayName",
        "ParticipantRole",
        "AbsoluteTime",
        "InitialContactId",
        "ContactId",
        "RelatedContactId",
        "Attachments",
        "MessageMetadata",
        "Receipts",
        "AttachmentId",
        "MessageId",
    ]
)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.one_of(_KEYS, st.text()), inner, max_size=4)
    ),
    max_leaves=12,
)


@given(st.dictionaries(st.one_of(_KEYS, st.text()), _JSON, max_size=15))
def test_any_json_object_parses_and_round_trips_through_raw(wire: dict[str, Any]) -> None:
    item = Item.from_wire(wire)
    assert dict(item.raw) == wire
    assert item.content == wire.get("Content")
    assert all(isinstance(a, Attachment) for a in item.attachments)


def test_connection_details_parse_times_and_hide_the_token_and_url() -> None:
    details = ConnectionDetails.from_wire(
        {
            "Websocket": {
                "Url": "wss://x/?X-Amz-Security-Token=SIGNED",
                "ConnectionExpiry": "2024-01-01T00:01:40.000Z",
            },
            "ConnectionCredentials": {
                "ConnectionToken": "the-connection-token",
                "Expiry": "2024-01-02T00:00:00.000Z",
            },
        }
    )
    assert details.connection_token == Secret("the-connection-token")
    assert details.websocket_url == "wss://x/?X-Amz-Security-Token=SIGNED"
    assert details.websocket_expiry == datetime(2024, 1, 1, 0, 1, 40, tzinfo=UTC)
    assert details.connection_expiry == datetime(2024, 1, 2, tzinfo=UTC)
    for text in (repr(details), str(details)):
        assert "the-connection-token" not in text
        assert "SIGNED" not in text


def test_connection_details_with_only_credentials() -> None:
    details = ConnectionDetails.from_wire({"ConnectionCredentials": {"ConnectionToken": "t"}})
    assert details.websocket_url is None and details.websocket_expiry is None


def test_transcript_page() -> None:
    page = TranscriptPage.from_wire(
        {"InitialContactId": "c", "Transcript": [{"Id": "1"}, {"Id": "2"}]}
    )
    assert [i.id for i in page.items] == ["1", "2"]
    assert page.next_token is None


def test_start_position_omits_unset_members() -> None:
    assert StartPosition(id="i").to_wire() == {"Id": "i"}
    assert StartPosition().to_wire() == {}


def test_vocabulary_event_types_share_the_prefix() -> None:
    prefix = "application/vnd.amazonaws.connect.event."
    events = [value for name, value in vars(v).items() if name.startswith("EVENT_")]
    assert events and all(e.startswith(prefix) for e in events)
    assert v.EVENT_TYPING == prefix + "typing"
    assert v.EVENT_MESSAGE_METADATA == prefix + "message.metadata"
    assert (
        v.INTERACTIVE_RESPONSE == "application/vnd.amazonaws.connect.message.interactive.response"
    )
