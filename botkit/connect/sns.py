"""Amazon SNS messages, verified as AWS's "Verifying the signatures of Amazon SNS messages" prescribes.

An SNS HTTP(S) subscriber is a public URL: anyone can POST a body that looks like SNS's. What proves SNS sent it is
the RSA signature over the message's canonical string, checked with the certificate at `SigningCertURL`, and that
proof is only as good as the certificate's origin: it is fetched over HTTPS from SNS's own regional host (plain HTTP
only from hosts named for it, the local emulator), never from a host the message merely names. Every check that
needs no network runs first, so a message for an unknown topic or from an untrusted certificate host costs no
request at all. Nothing of a message is returned until its signature holds.

Reasons for refusing are short fixed phrases, safe to log and to answer: never a field of the body.
"""

from __future__ import annotations

import base64
import binascii
import json
import types
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from yarl import URL

from botkit.connect.endpoints import service_hosts
from botkit.connect.sns_certificates import CertificateRefused, CertificateStore, CertificateUnavailable
from botkit.jsondepth import nested_deeper_than

NOTIFICATION = "Notification"
SUBSCRIPTION_CONFIRMATION = "SubscriptionConfirmation"
UNSUBSCRIBE_CONFIRMATION = "UnsubscribeConfirmation"

_CONFIRMATION_FIELDS = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")
SIGNED_FIELDS: Mapping[str, tuple[str, ...]] = types.MappingProxyType({
    NOTIFICATION: ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    SUBSCRIPTION_CONFIRMATION: _CONFIRMATION_FIELDS,
    UNSUBSCRIBE_CONFIRMATION: _CONFIRMATION_FIELDS,
})
"""Per Type, the fields of the string to sign, in SNS's (byte-sorted) order."""
_OPTIONAL_FIELDS = frozenset({"Subject"})
_ENVELOPE_FIELDS = ("SignatureVersion", "Signature", "SigningCertURL")

SIGNATURE_HASHES: Mapping[str, Callable[[], hashes.HashAlgorithm]] = types.MappingProxyType(
    {"1": hashes.SHA1, "2": hashes.SHA256}
)
"""SignatureVersion to the hash of its RSA PKCS#1 v1.5 signature."""

MAX_CLOCK_SKEW = timedelta(minutes=5)
"""How far ahead of our clock a Timestamp may be: SNS's clock and ours disagree a little, never by hours."""
MAX_NESTING = 8
"""The envelope nests 3 deep (body, MessageAttributes, one attribute); the chat item is a string inside it."""


class SnsRejected(Exception):
    """Why a body is not a genuine, fresh SNS message for our topic. `.reason` is safe to log and answer (403)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SnsUnavailable(Exception):
    """The signing certificate could not be fetched just now. Answer 5xx, so that SNS delivers the message again.

    Not an SnsRejected: a 4xx answer would make SNS drop a message that may well be genuine.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class SnsMessage:
    """A message whose signature held.

    `message_attributes` are NOT covered by SNS's signature (nor is UnsubscribeURL): act on `message` and the
    other fields, and treat the attributes as hints only.
    """

    type: str
    message_id: str
    topic_arn: str
    message: str
    timestamp: datetime
    subject: str | None
    subscribe_url: str | None
    token: str | None
    message_attributes: Mapping[str, Any]


def string_to_sign(fields: Mapping[str, Any]) -> bytes:
    """SNS's canonical form of a message: `Name\\nvalue\\n` for each signed field of its Type, in order.

    Subject counts only when present. Values are the decoded JSON strings (escapes already turned into the
    characters they stand for). Raises SnsRejected for an unknown Type or a missing or non-string field.
    """
    kind = fields.get("Type")
    names = SIGNED_FIELDS.get(kind) if isinstance(kind, str) else None
    if names is None:
        raise SnsRejected("unknown message type")
    lines: list[str] = []
    for name in names:
        value = fields.get(name)
        if value is None and name in _OPTIONAL_FIELDS:
            continue
        if not isinstance(value, str):
            raise SnsRejected("malformed message")
        lines.append(f"{name}\n{value}\n")
    try:
        return "".join(lines).encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from a \ud800 escape: SNS sends none
        raise SnsRejected("malformed message") from None


class SnsVerifier:
    """Verifies SNS bodies for a set of topics; one per process, as its certificate cache is shared."""

    def __init__(
        self,
        *,
        topic_arns: Iterable[str],
        trusted_cert_hosts: Iterable[str],
        region: str | None = None,
        plain_http_hosts: Iterable[str] = (),
        max_age_seconds: float = 3600,
        session: aiohttp.ClientSession | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        """Certificates are trusted over HTTPS from `sns.<region>.<partition suffix>` for `region` and for each
        topic ARN's region (which is SNS's own region for that topic), plus `trusted_cert_hosts`; over plain HTTP
        only from `plain_http_hosts`. Host entries are `host` (any port) or `host:port`, or a URL naming them.
        """
        self._topics = frozenset(topic_arns)
        if not self._topics:
            raise ValueError("SnsVerifier needs at least one topic ARN")
        regions = {region} if region else set()
        regions.update(filter(None, map(_region_of, self._topics)))
        default_hosts = (host for name in regions for host in service_hosts("sns", name))
        self._plain_http = frozenset(map(_origin, plain_http_hosts))
        self._https = frozenset(map(_origin, [*default_hosts, *trusted_cert_hosts])) | self._plain_http
        self._max_age = timedelta(seconds=max_age_seconds)
        self._clock = clock or _utc_now
        self._certificates = CertificateStore(session)

    def trusts(self, url: str) -> bool:
        """Whether `url` is on an SNS host we trust: HTTPS on a trusted host, or plain HTTP on a plain-HTTP host.

        The same rule serves a SubscriptionConfirmation's SubscribeURL before it is fetched.
        """
        return self._trusted_url(url) is not None

    async def verify(self, body: bytes | str) -> SnsMessage:
        """The message in `body` once its signature holds; SnsRejected (403) or SnsUnavailable (5xx) if not.

        Checks needing no request come first (shape, signature version, topic, age, certificate URL), so a
        forgery for another topic or from an untrusted host costs nothing; then the certificate; then the signature.
        """
        fields = _fields(body)
        signed = string_to_sign(fields)
        if any(not isinstance(fields.get(name), str) for name in _ENVELOPE_FIELDS):
            raise SnsRejected("malformed message")
        attributes = fields.get("MessageAttributes", {})
        if not isinstance(attributes, dict):
            raise SnsRejected("malformed message")
        hash_algorithm = SIGNATURE_HASHES.get(fields["SignatureVersion"])
        if hash_algorithm is None:
            raise SnsRejected("unsupported signature version")
        if fields["TopicArn"] not in self._topics:
            raise SnsRejected("unknown topic")
        timestamp = self._fresh_timestamp(fields["Timestamp"])
        signature = _signature(fields["Signature"])
        certificate_url = self._trusted_url(fields["SigningCertURL"])
        if certificate_url is None or not certificate_url.path.endswith(".pem"):
            raise SnsRejected("certificate URL not trusted")
        try:
            certificate = await self._certificates.get(certificate_url)
        except CertificateUnavailable:
            raise SnsUnavailable("certificate unavailable") from None
        except CertificateRefused:
            raise SnsRejected("certificate unusable") from None
        if not certificate.valid_at(self._clock()):
            raise SnsRejected("certificate expired")
        try:
            certificate.public_key.verify(signature, signed, padding.PKCS1v15(), hash_algorithm())
        except InvalidSignature:
            raise SnsRejected("bad signature") from None
        return SnsMessage(
            type=fields["Type"],
            message_id=fields["MessageId"],
            topic_arn=fields["TopicArn"],
            message=fields["Message"],
            timestamp=timestamp,
            subject=fields.get("Subject"),
            subscribe_url=fields.get("SubscribeURL"),
            token=fields.get("Token"),
            message_attributes=types.MappingProxyType(attributes),
        )

    async def close(self) -> None:
        await self._certificates.close()

    def _fresh_timestamp(self, text: str) -> datetime:
        try:
            timestamp = datetime.fromisoformat(text)
        except ValueError:
            raise SnsRejected("malformed message") from None
        if timestamp.tzinfo is None:
            raise SnsRejected("malformed message")
        now = self._clock()
        if timestamp < now - self._max_age:
            raise SnsRejected("expired")
        if timestamp > now + MAX_CLOCK_SKEW:
            raise SnsRejected("timestamp in the future")
        return timestamp.astimezone(UTC)

    def _trusted_url(self, text: str) -> URL | None:
        """`text` parsed by the parser that will fetch it (yarl), if its scheme and host are trusted."""
        if any(character.isspace() or not character.isprintable() for character in text):
            return None
        try:
            url = URL(text)
            port = url.port
        except ValueError:  # yarl refuses backslashes in the authority, bad ports, broken IPv6 brackets...
            return None
        if url.user is not None or url.password is not None or not url.host:  # `sns...com@evil` disguises
            return None
        allowed = {"https": self._https, "http": self._plain_http}.get(url.scheme, frozenset())
        host = url.host.rstrip(".").lower()
        return url if (host, None) in allowed or (host, port) in allowed else None


def _fields(body: bytes | str) -> dict[str, Any]:
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    if nested_deeper_than(raw, MAX_NESTING):
        raise SnsRejected("unparseable message")
    try:
        fields = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise SnsRejected("unparseable message") from None
    if not isinstance(fields, dict):
        raise SnsRejected("unparseable message")
    return fields


def _signature(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise SnsRejected("bad signature") from None


def _region_of(topic_arn: str) -> str | None:
    """`arn:<partition>:sns:<region>:<account>:<name>` names the region whose SNS signs the topic's messages."""
    parts = topic_arn.split(":")
    return parts[3] if len(parts) == 6 and parts[0] == "arn" and parts[2] == "sns" and parts[3] else None


def _origin(text: str) -> tuple[str, int | None]:
    """A trusted-host entry as (host, port or None for any port): `host`, `host:port` or a URL."""
    url = URL(text if "://" in text else f"//{text}")
    if not url.host:
        raise ValueError(f"not a host name: {text!r}")
    return url.host.rstrip(".").lower(), url.explicit_port


def _utc_now() -> datetime:
    return datetime.now(UTC)
