"""The strings Amazon Connect chat puts on the wire, shared by the client, runtime and emulator."""

from __future__ import annotations

from typing import Final

# Item.Type as clients dispatch on it (the model's longer enum is not what the service sends).
MESSAGE: Final = "MESSAGE"
EVENT: Final = "EVENT"
ATTACHMENT: Final = "ATTACHMENT"
MESSAGEMETADATA: Final = "MESSAGEMETADATA"

# Participant roles.
AGENT: Final = "AGENT"
CUSTOMER: Final = "CUSTOMER"
SYSTEM: Final = "SYSTEM"
CUSTOM_BOT: Final = "CUSTOM_BOT"
SUPERVISOR: Final = "SUPERVISOR"

# Message content types.
TEXT_PLAIN: Final = "text/plain"
TEXT_MARKDOWN: Final = "text/markdown"
APPLICATION_JSON: Final = "application/json"
INTERACTIVE: Final = "application/vnd.amazonaws.connect.message.interactive"
INTERACTIVE_RESPONSE: Final = "application/vnd.amazonaws.connect.message.interactive.response"

MESSAGE_CONTENT_TYPES: Final = frozenset(
    {TEXT_PLAIN, TEXT_MARKDOWN, APPLICATION_JSON, INTERACTIVE, INTERACTIVE_RESPONSE}
)
SENDABLE_MESSAGE_CONTENT_TYPES: Final = frozenset(
    {TEXT_PLAIN, TEXT_MARKDOWN, APPLICATION_JSON, INTERACTIVE_RESPONSE}
)

# Event content types.
_EVENT = "application/vnd.amazonaws.connect.event."
EVENT_TYPING: Final = _EVENT + "typing"
EVENT_CONNECTION_ACKNOWLEDGED: Final = _EVENT + "connection.acknowledged"
EVENT_PARTICIPANT_JOINED: Final = _EVENT + "participant.joined"
EVENT_PARTICIPANT_LEFT: Final = _EVENT + "participant.left"
EVENT_PARTICIPANT_INVITED: Final = _EVENT + "participant.invited"
EVENT_PARTICIPANT_IDLE: Final = _EVENT + "participant.idle"
EVENT_PARTICIPANT_RETURNED: Final = _EVENT + "participant.returned"
EVENT_PARTICIPANT_AUTODISCONNECTION: Final = _EVENT + "participant.autodisconnection"
EVENT_PARTICIPANT_DISPLAYNAME_UPDATED: Final = _EVENT + "participant.displayname.updated"
EVENT_PARTICIPANT_ACTIVE: Final = _EVENT + "participant.active"
EVENT_PARTICIPANT_INACTIVE: Final = _EVENT + "participant.inactive"
EVENT_CHAT_ENDED: Final = _EVENT + "chat.ended"
EVENT_CHAT_REHYDRATED: Final = _EVENT + "chat.rehydrated"
EVENT_TRANSFER_SUCCEEDED: Final = _EVENT + "transfer.succeeded"
EVENT_TRANSFER_FAILED: Final = _EVENT + "transfer.failed"
EVENT_AUTHENTICATION_INITIATED: Final = _EVENT + "authentication.initiated"
EVENT_AUTHENTICATION_SUCCEEDED: Final = _EVENT + "authentication.succeeded"
EVENT_AUTHENTICATION_FAILED: Final = _EVENT + "authentication.failed"
EVENT_AUTHENTICATION_TIMEOUT: Final = _EVENT + "authentication.timeout"
EVENT_AUTHENTICATION_EXPIRED: Final = _EVENT + "authentication.expired"
EVENT_AUTHENTICATION_CANCELLED: Final = _EVENT + "authentication.cancelled"
EVENT_WORKFLOW_CANCELLED: Final = _EVENT + "workflow.cancelled"
EVENT_MESSAGE_DELIVERED: Final = _EVENT + "message.delivered"
EVENT_MESSAGE_READ: Final = _EVENT + "message.read"
EVENT_MESSAGE_METADATA: Final = _EVENT + "message.metadata"

# What SendEvent accepts (connection.acknowledged is deprecated but still accepted).
SENDABLE_EVENT_CONTENT_TYPES: Final = frozenset(
    {EVENT_TYPING, EVENT_CONNECTION_ACKNOWLEDGED, EVENT_MESSAGE_DELIVERED, EVENT_MESSAGE_READ}
)

# CreateParticipantConnection Type values.
WEBSOCKET: Final = "WEBSOCKET"
CONNECTION_CREDENTIALS: Final = "CONNECTION_CREDENTIALS"
WEBRTC_CONNECTION: Final = "WEBRTC_CONNECTION"

# GetTranscript.
FORWARD: Final = "FORWARD"
BACKWARD: Final = "BACKWARD"
ASCENDING: Final = "ASCENDING"
DESCENDING: Final = "DESCENDING"

# Attachment status.
APPROVED: Final = "APPROVED"
REJECTED: Final = "REJECTED"
IN_PROGRESS: Final = "IN_PROGRESS"

# Shown live but never kept in the transcript, so never a gap-fill position.
EPHEMERAL_CONTENT_TYPES: Final = frozenset(
    {EVENT_TYPING, EVENT_MESSAGE_DELIVERED, EVENT_MESSAGE_READ, EVENT_CONNECTION_ACKNOWLEDGED, EVENT_MESSAGE_METADATA}
)
