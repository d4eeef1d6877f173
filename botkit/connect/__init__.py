"""The wire to Amazon Connect: item models, service errors, the participant client, the websocket transport."""

from botkit.connect.client import ParticipantClient
from botkit.connect.errors import (
    AccessDeniedException,
    ConflictException,
    InternalServerException,
    MalformedResponseError,
    ParticipantConnectionError,
    ParticipantServiceError,
    ResourceNotFoundException,
    ServiceQuotaExceededException,
    ThrottlingException,
    UnknownServiceError,
    ValidationException,
)
from botkit.connect.models import (
    Attachment,
    AttachmentUrl,
    ConnectionDetails,
    Item,
    MessageMetadata,
    Receipt,
    SendResult,
    StartPosition,
    TranscriptPage,
    UploadTarget,
    View,
)
from botkit.connect.retry import RetryPolicy
from botkit.connect.secrets import Secret

__all__ = [
    "AccessDeniedException",
    "Attachment",
    "AttachmentUrl",
    "ConflictException",
    "ConnectionDetails",
    "InternalServerException",
    "Item",
    "MalformedResponseError",
    "MessageMetadata",
    "ParticipantClient",
    "ParticipantConnectionError",
    "ParticipantServiceError",
    "Receipt",
    "ResourceNotFoundException",
    "RetryPolicy",
    "Secret",
    "SendResult",
    "ServiceQuotaExceededException",
    "StartPosition",
    "ThrottlingException",
    "TranscriptPage",
    "UnknownServiceError",
    "UploadTarget",
    "ValidationException",
    "View",
]
