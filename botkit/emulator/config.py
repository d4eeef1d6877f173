"""Everything about the emulator that a test, a benchmark or a user may want to change."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from botkit.emulator.sigv4 import SigV4Key

_NAMESPACE = uuid.UUID("6f0e7b0a-5b1e-4c47-9d2c-b07c1e0e0001")

DEFAULT_INSTANCE_ID = str(uuid.uuid5(_NAMESPACE, "instance"))
DEFAULT_CONTACT_FLOW_ID = str(uuid.uuid5(_NAMESPACE, "contact-flow"))

ATTACHMENT_EXTENSIONS = frozenset(
    ".csv .doc .docx .heic .jfif .jpeg .jpg .mov .mp4 .pdf .png .ppt .pptx .rtf .txt .wav .xls .xlsx".split()
)


@dataclass(slots=True)
class EmulatorConfig:
    """Defaults follow the real service's published limits; ids are stable across runs."""

    host: str = "127.0.0.1"
    port: int = 8765
    region: str = "us-east-1"
    account_id: str = "123456789012"
    instance_id: str = DEFAULT_INSTANCE_ID
    contact_flow_id: str = DEFAULT_CONTACT_FLOW_ID
    connection_token_ttl: float = 24 * 3600
    websocket_connect_window: float = 100.0
    websocket_idle_timeout: float = 600.0
    websocket_max_lifetime: float = 7200.0
    websocket_send_buffer: int = 1024 * 1024
    """Bytes a socket may hold unsent before its peer counts as gone and the socket is cut off."""
    custom_participant_connect_window: float = 15.0
    max_participants: int = 6
    ended_contact_retention: float = 3600.0
    attachment_max_bytes: int = 20 * 1024 * 1024
    attachments_per_contact: int = 100
    webhooks: list[str] = field(default_factory=list)
    webhook_attempts: int = 5
    views: dict[str, dict[str, Any]] = field(default_factory=dict)
    streaming_endpoints: dict[str, list[str]] = field(default_factory=dict)
    """SNS topic ARN to the URLs subscribed to it at start; each gets a SubscriptionConfirmation first."""
    sns_signature_version: str = "1"
    """"1" (SHA1withRSA, SNS's default) or "2" (SHA256withRSA), as a topic's SignatureVersion attribute sets it."""
    sns_key_size: int = 2048
    """Bits of the RSA key that signs SNS messages: signing is the emulator's heaviest work under load."""
    sns_retry_delay_factor: float = 1.0
    """Multiplies SNS's 20 s between delivery retries; tests set it small."""
    sns_delivery_timeout: float = 15.0
    """Seconds a delivery waits to connect, or for the subscriber's answer, before the attempt counts as a time-out."""
    sigv4: SigV4Key | None = None
    """When set, every `connect` call must carry a valid SigV4 signature by this key; otherwise any is accepted."""
    default_queue: str = "BasicQueue"
    """Where the contact flow queues a contact its bot left, unless the contact's `queue` attribute names one."""

    @property
    def instance_arn(self) -> str:
        return f"arn:aws:connect:{self.region}:{self.account_id}:instance/{self.instance_id}"
