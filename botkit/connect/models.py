"""Frozen shapes of what the participant service sends, each parsed once from its wire dict."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

from botkit.connect.secrets import Secret


def parse_time(value: str | None) -> datetime | None:
    """An ISO 8601 time of the service (`2019-11-08T02:41:28.172Z`) as an aware datetime."""
    return datetime.fromisoformat(value) if value else None


def _frozen(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping or {}))


def _mappings(value: Any) -> tuple[Mapping[str, Any], ...]:
    """The objects of a list member, skipping anything else."""
    if not isinstance(value, list | tuple):
        return ()
    return tuple(entry for entry in value if isinstance(entry, Mapping))


@dataclass(frozen=True, slots=True)
class Attachment:
    """One entry of an item's `Attachments`."""

    content_type: str | None
    attachment_id: str | None
    attachment_name: str | None
    status: str | None

    @classmethod
    def from_wire(cls, d: Mapping[str, Any]) -> Attachment:
        return cls(
            content_type=d.get("ContentType"),
            attachment_id=d.get("AttachmentId"),
            attachment_name=d.get("AttachmentName"),
            status=d.get("Status"),
        )


@dataclass(frozen=True, slots=True)
class Receipt:
    """Who has received or read a message, and when."""

    delivered_timestamp: str | None
    read_timestamp: str | None
    recipient_participant_id: str | None

    @classmethod
    def from_wire(cls, d: Mapping[str, Any]) -> Receipt:
        return cls(
            delivered_timestamp=d.get("DeliveredTimestamp"),
            read_timestamp=d.get("ReadTimestamp"),
            recipient_participant_id=d.get("RecipientParticipantId"),
        )


@dataclass(frozen=True, slots=True)
class MessageMetadata:
    """Receipts and processing status of a message; streaming fields stay in `Item.raw`."""

    message_id: str | None
    receipts: tuple[Receipt, ...]
    message_processing_status: str | None

    @classmethod
    def from_wire(cls, d: Mapping[str, Any]) -> MessageMetadata:
        return cls(
            message_id=d.get("MessageId"),
            receipts=tuple(Receipt.from_wire(r) for r in _mappings(d.get("Receipts"))),
            message_processing_status=d.get("MessageProcessingStatus"),
        )


@dataclass(frozen=True, slots=True)
class Item:
    """A transcript item or a websocket `aws/chat` item; `raw` keeps keys botkit does not know."""

    id: str
    type: str
    content_type: str | None
    content: str | None
    participant_id: str | None
    display_name: str | None
    participant_role: str | None
    absolute_time: str | None
    initial_contact_id: str | None
    contact_id: str | None
    related_contact_id: str | None
    attachments: tuple[Attachment, ...]
    message_metadata: MessageMetadata | None
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_wire(cls, d: Mapping[str, Any]) -> Item:
        """Built for every frame, so the absent sections (most items have neither) cost nothing."""
        get = d.get
        attachments = get("Attachments")
        metadata = get("MessageMetadata")
        return cls(
            id=get("Id", ""),
            type=get("Type", ""),
            content_type=get("ContentType"),
            content=get("Content"),
            participant_id=get("ParticipantId"),
            display_name=get("DisplayName"),
            participant_role=get("ParticipantRole"),
            absolute_time=get("AbsoluteTime"),
            initial_contact_id=get("InitialContactId"),
            contact_id=get("ContactId"),
            related_contact_id=get("RelatedContactId"),
            attachments=tuple(Attachment.from_wire(a) for a in _mappings(attachments)) if attachments else (),
            message_metadata=MessageMetadata.from_wire(metadata) if metadata and isinstance(metadata, Mapping) else None,
            raw=_frozen(d),
        )


@dataclass(frozen=True, slots=True)
class ConnectionDetails:
    """CreateParticipantConnection's answer; only the sections asked for are set.

    The websocket URL is pre-signed (it carries credentials on AWS), so it stays out of `repr`.
    """

    websocket_url: str | None = field(default=None, repr=False)
    websocket_expiry: datetime | None = None
    connection_token: Secret | None = None
    connection_expiry: datetime | None = None

    @classmethod
    def from_wire(cls, d: Mapping[str, Any]) -> ConnectionDetails:
        websocket = d.get("Websocket") or {}
        credentials = d.get("ConnectionCredentials") or {}
        token = credentials.get("ConnectionToken")
        return cls(
            websocket_url=websocket.get("Url"),
            websocket_expiry=parse_time(websocket.get("ConnectionExpiry")),
            connection_token=Secret(token) if token is not None else None,
            connection_expiry=parse_time(credentials.get("Expiry")),
        )


@dataclass(frozen=True, slots=True)
class SendResult:
    """The Id and time the service gave a sent message or event."""

    id: str
    absolute_time: str
    message_processing_status: str | None = None

    @classmethod
    def from_wire(cls, d: Mapping[str, Any]) -> SendResult:
        metadata = d.get("MessageMetadata") or {}
        return cls(
            id=d["Id"],
            absolute_time=d["AbsoluteTime"],
            message_processing_status=metadata.get("MessageProcessingStatus"),
        )


@dataclass(frozen=True, slots=True)
class TranscriptPage:
    """One page of GetTranscript; `next_token` is None on the last page."""

    initial_contact_id: str | None
    items: tuple[Item, ...]
    next_token: str | None

    @classmethod
    def from_wire(cls, d: Mapping[str, Any]) -> TranscriptPage:
        return cls(
            initial_contact_id=d.get("InitialContactId"),
            items=tuple(Item.from_wire(i) for i in d.get("Transcript") or ()),
            next_token=d.get("NextToken"),
        )


@dataclass(frozen=True, slots=True)
class StartPosition:
    """Where GetTranscript starts: one of an item Id, a time, or the N most recent items."""

    id: str | None = None
    absolute_time: str | None = None
    most_recent: int | None = None

    def to_wire(self) -> dict[str, Any]:
        wire = {"Id": self.id, "AbsoluteTime": self.absolute_time, "MostRecent": self.most_recent}
        return {key: value for key, value in wire.items() if value is not None}


@dataclass(frozen=True, slots=True)
class UploadTarget:
    """Where to PUT an attachment's bytes; the URL is pre-signed, so it stays out of `repr`."""

    attachment_id: str
    url: str = field(repr=False)
    url_expiry: datetime | None
    headers_to_include: Mapping[str, str] = field(hash=False)

    @classmethod
    def from_wire(cls, d: Mapping[str, Any]) -> UploadTarget:
        upload = d.get("UploadMetadata") or {}
        return cls(
            attachment_id=d["AttachmentId"],
            url=upload["Url"],
            url_expiry=parse_time(upload.get("UrlExpiry")),
            headers_to_include=_frozen(upload.get("HeadersToInclude")),
        )


@dataclass(frozen=True, slots=True)
class AttachmentUrl:
    """A pre-signed download URL of an attachment, kept out of `repr`."""

    url: str = field(repr=False)
    url_expiry: datetime | None
    attachment_size_in_bytes: int | None

    @classmethod
    def from_wire(cls, d: Mapping[str, Any]) -> AttachmentUrl:
        return cls(
            url=d["Url"],
            url_expiry=parse_time(d.get("UrlExpiry")),
            attachment_size_in_bytes=d.get("AttachmentSizeInBytes"),
        )


@dataclass(frozen=True, slots=True)
class View:
    """A view (DescribeView), flattened: its Content's schema, template and actions."""

    id: str | None
    arn: str | None
    name: str | None
    version: int | None
    input_schema: str | None
    template: str | None
    actions: tuple[str, ...]

    @classmethod
    def from_wire(cls, d: Mapping[str, Any]) -> View:
        view = d.get("View") or {}
        content = view.get("Content") or {}
        return cls(
            id=view.get("Id"),
            arn=view.get("Arn"),
            name=view.get("Name"),
            version=view.get("Version"),
            input_schema=content.get("InputSchema"),
            template=content.get("Template"),
            actions=tuple(content.get("Actions") or ()),
        )
