"""SNS message verification, with real RSA keys and certificates, served from 127.0.0.1.

A key and a self-signed certificate are made here; messages are signed with them as SNS signs (both signature
versions), and the certificate is served by a local HTTP (or HTTPS) server that counts its requests, so "no
request was made" is an observed zero. AWS's own sample messages (fixtures/) anchor the string to sign.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import ssl
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID
from yarl import URL

from botkit.connect.endpoints import service_hosts
from botkit.connect.sns import SnsMessage, SnsRejected, SnsUnavailable, SnsVerifier, string_to_sign
from botkit.connect.sns_certificates import CertificateRefused, CertificateStore, CertificateUnavailable
from tests.connect.test_outbound import write_private_ca

FIXTURES = Path(__file__).parent / "fixtures"
TOPIC = "arn:aws:sns:us-east-1:123456789012:botkit-chat"
ITEM = '{"Id":"item-1","Type":"MESSAGE","Content":"hello\\nthere","ContactId":"contact-1"}'
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy",
                   "no_proxy", "AWS_CA_BUNDLE")


@pytest.fixture(autouse=True)
def no_machine_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """The machine's proxies or CA bundle would decide where certificate fetches go; each test sets its own."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


# keys, certificates, signing --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def certificate_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, *, valid_from: datetime,
                    valid_until: datetime) -> bytes:
    """A self-signed certificate for `key`, as the emulator makes one (SNS's own is CA-issued; only its key counts)."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid_from)
        .not_valid_after(valid_until)
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="module")
def pem(key: rsa.RSAPrivateKey) -> bytes:
    now = datetime.now(UTC)
    return certificate_pem(key, valid_from=now - timedelta(days=1), valid_until=now + timedelta(days=30))


def sns_time(moment: datetime) -> str:
    """SNS's Timestamp format: `2012-05-02T00:54:06.655Z`."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def sign(key: rsa.RSAPrivateKey, fields: dict[str, Any]) -> dict[str, Any]:
    """`fields` with the Signature SNS would give them under their SignatureVersion."""
    algorithm = {"1": hashes.SHA1(), "2": hashes.SHA256()}[fields["SignatureVersion"]]
    signature = key.sign(string_to_sign(fields), padding.PKCS1v15(), algorithm)
    return {**fields, "Signature": base64.b64encode(signature).decode()}


def notification(key: rsa.RSAPrivateKey, cert_url: str, *, version: str = "1", subject: str | None = None,
                 at: datetime | None = None, **fields: Any) -> dict[str, Any]:
    body = {
        "Type": "Notification",
        "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
        "TopicArn": TOPIC,
        "Message": ITEM,
        "Timestamp": sns_time(at or datetime.now(UTC)),
        "SignatureVersion": version,
        "SigningCertURL": cert_url,
        "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=x",
        "MessageAttributes": {"ContactId": {"Type": "String", "Value": "contact-1"}},
        **({"Subject": subject} if subject is not None else {}),
        **fields,
    }
    return sign(key, body)


def confirmation(key: rsa.RSAPrivateKey, cert_url: str, *, kind: str = "SubscriptionConfirmation",
                 version: str = "1") -> dict[str, Any]:
    token = "2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92"
    body = {
        "Type": kind,
        "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
        "Token": token,
        "TopicArn": TOPIC,
        "Message": f"You have chosen to subscribe to the topic {TOPIC}.\nTo confirm the subscription, visit the URL.",
        "SubscribeURL": f"https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn={TOPIC}&Token={token}",
        "Timestamp": sns_time(datetime.now(UTC)),
        "SignatureVersion": version,
        "SigningCertURL": cert_url,
    }
    return sign(key, body)


def encoded(body: dict[str, Any]) -> bytes:
    return json.dumps(body, indent=2).encode()


# a certificate host that counts -----------------------------------------------------------------------------


class CertificateHost:
    """Serves documents by path and records every request; `gate`, when set, holds answers until released."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.documents: dict[str, Callable[[], web.StreamResponse]] = {}
        self.gate: asyncio.Event | None = None
        self.arrived = asyncio.Event()
        self.origin = ""

    def serve(self, path: str, answer: Callable[[], web.StreamResponse]) -> str:
        self.documents[path] = answer
        return self.origin + path

    @property
    def authority(self) -> str:
        return URL(self.origin).raw_authority

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(request.path)
        self.arrived.set()
        if self.gate is not None:
            await self.gate.wait()
        answer = self.documents.get(request.path)
        return answer() if answer is not None else web.Response(status=404)


async def start_host(context: ssl.SSLContext | None = None) -> tuple[CertificateHost, web.AppRunner]:
    host = CertificateHost()
    app = web.Application()
    app.router.add_get("/{tail:.*}", host.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    host.origin = f"{'https' if context else 'http'}://127.0.0.1:{runner.addresses[0][1]}"
    return host, runner


@pytest.fixture
async def cert_host(pem: bytes) -> AsyncIterator[CertificateHost]:
    """A plain-HTTP host on 127.0.0.1 serving the signing certificate at /cert.pem."""
    host, runner = await start_host()
    host.serve("/cert.pem", lambda: web.Response(body=pem, content_type="application/x-pem-file"))
    try:
        yield host
    finally:
        if host.gate is not None:
            host.gate.set()
        await runner.cleanup()


@pytest.fixture
async def verifiers() -> AsyncIterator[list[SnsVerifier]]:
    made: list[SnsVerifier] = []
    yield made
    for verifier in made:
        await verifier.close()


@pytest.fixture
def verifier_for(
    cert_host: CertificateHost, verifiers: list[SnsVerifier]
) -> Callable[..., SnsVerifier]:
    """A verifier for TOPIC that may fetch over plain HTTP from the local certificate host, unless told otherwise."""

    def make(**options: Any) -> SnsVerifier:
        settings: dict[str, Any] = {
            "topic_arns": [TOPIC], "trusted_cert_hosts": [], "plain_http_hosts": [cert_host.authority], **options
        }
        verifier = SnsVerifier(**settings)
        verifiers.append(verifier)
        return verifier

    return make


@pytest.fixture
def cert_url(cert_host: CertificateHost) -> str:
    return cert_host.origin + "/cert.pem"


async def refused(verifier: SnsVerifier, body: bytes | str) -> str:
    with pytest.raises(SnsRejected) as caught:
        await verifier.verify(body)
    return caught.value.reason


# AWS's documented examples and sample messages --------------------------------------------------------------


def test_string_to_sign_matches_the_examples_in_aws_verification_guide() -> None:
    """The two strings to sign printed in "Verifying the signatures of Amazon SNS messages", line for line."""
    topic = "arn:aws:sns:us-east-2:123456789012:s4-MySNSTopic-1G1WEFCOXTC0P"
    notification_fields = {
        "Type": "Notification", "Message": "My Test Message", "MessageId": "4d4dc071-ddbf-465d-bba8-08f81c89da64",
        "Subject": "My subject", "Timestamp": "2019-01-31T04:37:04.321Z", "TopicArn": topic,
        "SignatureVersion": "1", "Signature": "ignored", "SigningCertURL": "https://ignored.example/x.pem",
    }
    assert string_to_sign(notification_fields) == (
        "Message\nMy Test Message\n"
        "MessageId\n4d4dc071-ddbf-465d-bba8-08f81c89da64\n"
        "Subject\nMy subject\n"
        "Timestamp\n2019-01-31T04:37:04.321Z\n"
        f"TopicArn\n{topic}\n"
        "Type\nNotification\n"
    ).encode()
    subscribe_url = f"https://sns.us-east-2.amazonaws.com/?Action=ConfirmSubscription&TopicArn={topic}&Token=233..."
    confirmation_fields = {
        "Type": "SubscriptionConfirmation", "Message": "My Test Message",
        "MessageId": "3d891288-136d-417f-bc05-901c108273ee", "SubscribeURL": subscribe_url,
        "Timestamp": "2019-01-31T19:25:13.719Z", "Token": "233...", "TopicArn": topic,
    }
    assert string_to_sign(confirmation_fields) == (
        "Message\nMy Test Message\n"
        "MessageId\n3d891288-136d-417f-bc05-901c108273ee\n"
        f"SubscribeURL\n{subscribe_url}\n"
        "Timestamp\n2019-01-31T19:25:13.719Z\n"
        "Token\n233...\n"
        f"TopicArn\n{topic}\n"
        "Type\nSubscriptionConfirmation\n"
    ).encode()


def sample(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def test_string_to_sign_of_the_sns_sample_notification() -> None:
    assert string_to_sign(sample("sns_notification.json")).split(b"\n") == [
        b"Message", b"Hello world!",
        b"MessageId", b"22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
        b"Subject", b"My First Message",
        b"Timestamp", b"2012-05-02T00:54:06.655Z",
        b"TopicArn", b"arn:aws:sns:us-west-2:123456789012:MyTopic",
        b"Type", b"Notification",
        b"",
    ]


@pytest.mark.parametrize(
    ("name", "kind", "message_id", "timestamp", "message_lines"),
    [
        ("sns_subscription_confirmation.json", "SubscriptionConfirmation", "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
         "2012-04-26T20:45:04.751Z",
         [b"You have chosen to subscribe to the topic arn:aws:sns:us-west-2:123456789012:MyTopic.",
          b"To confirm the subscription, visit the SubscribeURL included in this message."]),
        ("sns_unsubscribe_confirmation.json", "UnsubscribeConfirmation", "47138184-6831-46b8-8f7c-afc488602d7d",
         "2012-04-26T20:06:41.581Z",
         [b"You have chosen to deactivate subscription "
          b"arn:aws:sns:us-west-2:123456789012:MyTopic:2bcfbf39-05c3-41de-beaa-fcfcc21c8f55.",
          b"To cancel this operation and restore the subscription, visit the SubscribeURL included in this message."]),
    ],
)
def test_string_to_sign_of_the_sns_sample_confirmations(
    name: str, kind: str, message_id: str, timestamp: str, message_lines: list[bytes]
) -> None:
    """The JSON `\\n` in Message is a real newline in the string to sign, so the Message spans two lines."""
    fields = sample(name)
    token = fields["Token"].encode()
    assert string_to_sign(fields).split(b"\n") == [
        b"Message", *message_lines,
        b"MessageId", message_id.encode(),
        b"SubscribeURL",
        b"https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription"
        b"&TopicArn=arn:aws:sns:us-west-2:123456789012:MyTopic&Token=" + token,
        b"Timestamp", timestamp.encode(),
        b"Token", token,
        b"TopicArn", b"arn:aws:sns:us-west-2:123456789012:MyTopic",
        b"Type", kind.encode(),
        b"",
    ]


def test_string_to_sign_of_the_connect_chat_streaming_sample() -> None:
    """No Subject in Connect's payload, and MessageAttributes (unsigned) stay out of the string."""
    fields = sample("connect_chat_streaming_notification.json")
    item = (
        b'{"AbsoluteTime":"2021-09-08T13:28:24.656Z","Content":"help","ContentType":"text/plain",'
        b'"Id":"333333333-be0d-4a44-889d-d2a86fc06f0c","Type":"MESSAGE",'
        b'"ParticipantId":"bbbbbbbb-c562-4d95-b76c-dcbca8b4b5f7","DisplayName":"Jane","ParticipantRole":"CUSTOMER",'
        b'"InitialContactId":"33333333-abc5-46db-9ad5-d772559ab556","ContactId":"33333333-abc5-46db-9ad5-d772559ab556"}'
    )
    assert string_to_sign(fields).split(b"\n") == [
        b"Message", item,
        b"MessageId", b"ccccccccc-cccc-cccc-cccc-ccccccccccccc",
        b"Timestamp", b"2021-09-08T13:28:24.860Z",
        b"TopicArn", b"arn:aws:sns:us-west-2:009969138378:connector-svc-test",
        b"Type", b"Notification",
        b"",
    ]


class RefusingResolver(AbstractResolver):
    """Resolves nothing: a session built on it cannot reach any network, only say what it tried."""

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
                      ) -> list[ResolveResult]:
        raise OSError("tests reach no network")

    async def close(self) -> None:
        return None


@pytest.fixture
async def offline() -> AsyncIterator[tuple[aiohttp.ClientSession, list[str]]]:
    """A session that records each request it starts and can complete none."""
    attempted: list[str] = []

    async def on_request_start(session: Any, context: Any, params: aiohttp.TraceRequestStartParams) -> None:
        attempted.append(str(params.url))

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_request_start)
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(resolver=RefusingResolver()), trace_configs=[trace])
    yield session, attempted
    await session.close()


SAMPLES = [
    "sns_notification.json",
    "sns_subscription_confirmation.json",
    "sns_unsubscribe_confirmation.json",
    "connect_chat_streaming_notification.json",
]


@pytest.mark.parametrize("name", SAMPLES)
async def test_a_real_sample_passes_every_offline_check_and_stops_at_its_aws_certificate(
    name: str, offline: tuple[aiohttp.ClientSession, list[str]]
) -> None:
    """At the sample's own time, for its own topic, its AWS certificate URL is trusted by default and fetched:
    the offline session refuses, which is `SnsUnavailable` (SNS would retry), not a rejection."""
    session, attempted = offline
    fields = sample(name)
    moment = datetime.fromisoformat(fields["Timestamp"])
    verifier = SnsVerifier(topic_arns=[fields["TopicArn"]], trusted_cert_hosts=[], session=session,
                           clock=lambda: moment)
    try:
        with pytest.raises(SnsUnavailable) as caught:
            await verifier.verify(json.dumps(fields))
    finally:
        await verifier.close()
    assert caught.value.reason == "certificate unavailable"
    assert attempted == [fields["SigningCertURL"]]
    assert not session.closed  # a session passed in is the caller's


@pytest.mark.parametrize("name", SAMPLES)
async def test_a_real_sample_is_refused_without_any_request_when_stale_or_for_another_topic(
    name: str, offline: tuple[aiohttp.ClientSession, list[str]]
) -> None:
    session, attempted = offline
    raw = (FIXTURES / name).read_bytes()
    topic = json.loads(raw)["TopicArn"]
    now = SnsVerifier(topic_arns=[topic], trusted_cert_hosts=[], session=session)
    other_topic = SnsVerifier(topic_arns=[TOPIC], trusted_cert_hosts=[], session=session)
    try:
        assert await refused(now, raw) == "expired"
        assert await refused(other_topic, raw) == "unknown topic"
    finally:
        await now.close()
        await other_topic.close()
    assert attempted == []


async def test_the_connect_sample_reads_back_as_a_message_once_signed_by_a_trusted_key(
    key: rsa.RSAPrivateKey, cert_url: str, verifier_for: Callable[..., SnsVerifier]
) -> None:
    """Connect's real payload, re-signed by our key and dated now: its item and attributes come through intact."""
    fields = sample("connect_chat_streaming_notification.json")
    fields.update(Timestamp=sns_time(datetime.now(UTC)), SigningCertURL=cert_url, SignatureVersion="2")
    verifier = verifier_for(topic_arns=[fields["TopicArn"]])

    message = await verifier.verify(json.dumps(sign(key, fields)))

    item = json.loads(message.message)
    assert (item["Id"], item["Content"], item["ParticipantRole"]) == (
        "333333333-be0d-4a44-889d-d2a86fc06f0c", "help", "CUSTOMER")
    assert message.message_attributes["ContactId"]["Value"] == "33333333-abc5-46db-9ad5-d772559ab556"
    assert (message.type, message.message_id, message.subject) == (
        "Notification", "ccccccccc-cccc-cccc-cccc-ccccccccccccc", None)


# genuine messages --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1", "2"])
async def test_a_signed_notification_verifies(
    version: str, key: rsa.RSAPrivateKey, cert_url: str, verifier_for: Callable[..., SnsVerifier]
) -> None:
    moment = datetime.now(UTC).replace(microsecond=123000)
    body = notification(key, cert_url, version=version, subject="Chat item", at=moment)

    message = await verifier_for().verify(encoded(body))

    assert message == SnsMessage(
        type="Notification",
        message_id="22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
        topic_arn=TOPIC,
        message=ITEM,
        timestamp=moment,
        subject="Chat item",
        subscribe_url=None,
        token=None,
        message_attributes={"ContactId": {"Type": "String", "Value": "contact-1"}},
    )


async def test_a_notification_without_subject_verifies_with_subject_none(
    key: rsa.RSAPrivateKey, cert_url: str, verifier_for: Callable[..., SnsVerifier]
) -> None:
    body = notification(key, cert_url)
    assert "Subject" not in body

    message = await verifier_for().verify(encoded(body).decode())

    assert message.subject is None and message.message == ITEM


@pytest.mark.parametrize("version", ["1", "2"])
@pytest.mark.parametrize("kind", ["SubscriptionConfirmation", "UnsubscribeConfirmation"])
async def test_a_signed_confirmation_verifies_with_its_subscribe_url_and_token(
    kind: str, version: str, key: rsa.RSAPrivateKey, cert_url: str, verifier_for: Callable[..., SnsVerifier]
) -> None:
    body = confirmation(key, cert_url, kind=kind, version=version)

    message = await verifier_for().verify(encoded(body))

    assert (message.type, message.subscribe_url, message.token) == (kind, body["SubscribeURL"], body["Token"])
    assert message.message_attributes == {}


# forgeries and tampering -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("Message", '{"Id":"item-1","Type":"MESSAGE","Content":"transfer all funds","ContactId":"contact-1"}'),
        ("MessageId", "00000000-fdea-4c2c-8f9d-bdfb0c7bf324"),
        ("Subject", "Tampered subject"),
        ("Timestamp", None),  # a fresher time than the one signed
        ("Type", "SubscriptionConfirmation"),
    ],
)
async def test_a_tampered_field_breaks_the_signature(
    field: str, value: str | None, key: rsa.RSAPrivateKey, cert_url: str, verifier_for: Callable[..., SnsVerifier]
) -> None:
    body = notification(key, cert_url, subject="Chat item", at=datetime.now(UTC) - timedelta(minutes=10))
    body[field] = value if value is not None else sns_time(datetime.now(UTC))
    if field == "Type":
        body.update(SubscribeURL="https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription", Token="t")
    assert await refused(verifier_for(), encoded(body)) == "bad signature"


async def test_adding_or_removing_a_subject_breaks_the_signature(
    key: rsa.RSAPrivateKey, cert_url: str, verifier_for: Callable[..., SnsVerifier]
) -> None:
    verifier = verifier_for()
    without = notification(key, cert_url)
    with_subject = notification(key, cert_url, subject="Chat item")
    assert await refused(verifier, encoded({**without, "Subject": "Added"})) == "bad signature"
    assert await refused(verifier, encoded({k: v for k, v in with_subject.items() if k != "Subject"})) == "bad signature"


async def test_a_signature_by_another_key_is_refused(
    cert_url: str, verifier_for: Callable[..., SnsVerifier]
) -> None:
    impostor = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert await refused(verifier_for(), encoded(notification(impostor, cert_url))) == "bad signature"


async def test_a_version_1_signature_presented_as_version_2_is_refused(
    key: rsa.RSAPrivateKey, cert_url: str, verifier_for: Callable[..., SnsVerifier]
) -> None:
    body = {**notification(key, cert_url, version="1"), "SignatureVersion": "2"}
    assert await refused(verifier_for(), encoded(body)) == "bad signature"


async def test_the_reason_never_carries_the_body(
    key: rsa.RSAPrivateKey, cert_url: str, verifier_for: Callable[..., SnsVerifier]
) -> None:
    secret = "card 4111-1111-1111-1111"
    body = {**notification(key, cert_url), "Message": secret}
    with pytest.raises(SnsRejected) as caught:
        await verifier_for().verify(encoded(body))
    assert secret not in str(caught.value) and secret not in repr(caught.value)
    assert caught.value.reason == "bad signature"


@pytest.mark.parametrize(
    ("version", "reason"),
    [("3", "unsupported signature version"), ("", "unsupported signature version"),
     ("01", "unsupported signature version"), (1, "malformed message"), (None, "malformed message")],
)
async def test_a_signature_version_other_than_1_or_2_is_refused(
    version: Any, reason: str, key: rsa.RSAPrivateKey, cert_url: str, cert_host: CertificateHost,
    verifier_for: Callable[..., SnsVerifier],
) -> None:
    body = notification(key, cert_url)
    body["SignatureVersion"] = version
    assert await refused(verifier_for(), encoded(body)) == reason
    assert cert_host.requests == []


async def test_a_message_for_an_unknown_topic_is_refused_without_fetching_its_certificate(
    key: rsa.RSAPrivateKey, cert_url: str, cert_host: CertificateHost, verifier_for: Callable[..., SnsVerifier]
) -> None:
    body = notification(key, cert_url, TopicArn="arn:aws:sns:us-east-1:123456789012:someone-elses")
    assert await refused(verifier_for(), encoded(sign(key, body))) == "unknown topic"
    assert cert_host.requests == []


@pytest.mark.parametrize(
    ("age", "reason"),
    [(timedelta(hours=1, seconds=1), "expired"), (timedelta(days=400), "expired"),
     (-timedelta(minutes=6), "timestamp in the future"), (-timedelta(days=3), "timestamp in the future")],
)
async def test_a_stale_or_future_timestamp_is_refused_without_a_request(
    age: timedelta, reason: str, key: rsa.RSAPrivateKey, cert_url: str, cert_host: CertificateHost,
    verifier_for: Callable[..., SnsVerifier],
) -> None:
    now = datetime.now(UTC)
    body = notification(key, cert_url, at=now - age)
    assert await refused(verifier_for(clock=lambda: now), encoded(body)) == reason
    assert cert_host.requests == []


async def test_max_age_is_a_setting_and_small_skew_is_tolerated(
    key: rsa.RSAPrivateKey, cert_url: str, verifier_for: Callable[..., SnsVerifier]
) -> None:
    now = datetime.now(UTC)
    verifier = verifier_for(max_age_seconds=60, clock=lambda: now)
    assert await refused(verifier, encoded(notification(key, cert_url, at=now - timedelta(seconds=61)))) == "expired"
    assert (await verifier.verify(encoded(notification(key, cert_url, at=now - timedelta(seconds=59))))).message
    assert (await verifier.verify(encoded(notification(key, cert_url, at=now + timedelta(minutes=4))))).message


@pytest.mark.parametrize(
    "body",
    [b"", b"not json", b"[]", b'"Notification"', b"\xff\xfe{}", b"[" * 5000 + b"]" * 5000,
     b'{"Type": "Notification", "a": ' + b"[" * 20 + b"]" * 20 + b"}"],
    ids=["empty", "text", "array", "string", "not-utf8", "deep", "too-nested"],
)
async def test_a_body_that_is_not_a_json_object_is_unparseable(
    body: bytes, verifier_for: Callable[..., SnsVerifier]
) -> None:
    assert await refused(verifier_for(), body) == "unparseable message"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"Type": "Publish"}, "unknown message type"),
        ({"Type": ["Notification"]}, "unknown message type"),
        ({"Message": None}, "malformed message"),
        ({"Message": 7}, "malformed message"),
        ({"MessageId": None}, "malformed message"),
        ({"Subject": 1}, "malformed message"),
        ({"Signature": None}, "malformed message"),
        ({"SigningCertURL": None}, "malformed message"),
        ({"Timestamp": "yesterday"}, "malformed message"),
        ({"Timestamp": "2030-01-01T00:00:00"}, "malformed message"),  # no zone
        ({"MessageAttributes": []}, "malformed message"),
        ({"Message": "\ud800"}, "malformed message"),
        ({"Signature": "not base64!"}, "bad signature"),
    ],
)
async def test_a_malformed_message_is_refused_before_any_request(
    change: dict[str, Any], reason: str, key: rsa.RSAPrivateKey, cert_url: str, cert_host: CertificateHost,
    verifier_for: Callable[..., SnsVerifier],
) -> None:
    body = {**notification(key, cert_url), **change}
    body = {name: value for name, value in body.items() if value is not None}
    assert await refused(verifier_for(), json.dumps(body)) == reason
    assert cert_host.requests == []


# where certificates may come from ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/cert.pem",  # the right server, but plain HTTP is not allowed for it here
        "http://localhost:{port}/cert.pem",
        "https://127.0.0.1:{port}/cert.pem",
        "http://sns.us-east-1.amazonaws.com@127.0.0.1:{port}/cert.pem",
        "http://sns.us-east-1.amazonaws.com:@127.0.0.1:{port}/cert.pem",
        "http://127.0.0.1:{port}\\@sns.us-east-1.amazonaws.com/cert.pem",
        "ftp://127.0.0.1:{port}/cert.pem",
        "//127.0.0.1:{port}/cert.pem",
        "/cert.pem",
        "http://127.0.0.1:{port} /cert.pem",
    ],
)
async def test_a_certificate_url_on_an_untrusted_host_is_never_fetched(
    url: str, key: rsa.RSAPrivateKey, cert_host: CertificateHost, verifiers: list[SnsVerifier],
) -> None:
    port = URL(cert_host.origin).port
    verifier = SnsVerifier(topic_arns=[TOPIC], trusted_cert_hosts=[], region="us-east-1")
    verifiers.append(verifier)
    body = notification(key, url.format(port=port))
    assert await refused(verifier, encoded(body)) == "certificate URL not trusted"
    assert cert_host.requests == []


async def test_plain_http_needs_plain_http_hosts_even_for_a_trusted_host(
    key: rsa.RSAPrivateKey, cert_url: str, cert_host: CertificateHost, verifier_for: Callable[..., SnsVerifier]
) -> None:
    verifier = verifier_for(trusted_cert_hosts=[cert_host.authority], plain_http_hosts=[])
    assert await refused(verifier, encoded(notification(key, cert_url))) == "certificate URL not trusted"
    assert cert_host.requests == []


async def test_plain_http_host_with_a_port_trusts_that_port_only(
    key: rsa.RSAPrivateKey, cert_url: str, cert_host: CertificateHost, verifier_for: Callable[..., SnsVerifier]
) -> None:
    other_port = URL(cert_host.origin).port + 1  # type: ignore[operator]
    verifier = verifier_for(plain_http_hosts=[f"127.0.0.1:{other_port}"])
    assert await refused(verifier, encoded(notification(key, cert_url))) == "certificate URL not trusted"
    assert cert_host.requests == []
    anywhere_on_host = verifier_for(plain_http_hosts=["127.0.0.1"])
    assert (await anywhere_on_host.verify(encoded(notification(key, cert_url)))).message == ITEM


@pytest.mark.parametrize("userinfo", ["user@", "user:password@", "sns.us-east-1.amazonaws.com:@"])
async def test_a_certificate_url_carrying_credentials_is_refused_even_on_a_trusted_host(
    userinfo: str, key: rsa.RSAPrivateKey, cert_host: CertificateHost, verifier_for: Callable[..., SnsVerifier]
) -> None:
    """SNS never names credentials in its URLs, and a fetch must not send any (as Basic authorization)."""
    url = cert_host.origin.replace("http://", f"http://{userinfo}") + "/cert.pem"
    assert await refused(verifier_for(), encoded(notification(key, url))) == "certificate URL not trusted"
    assert cert_host.requests == []


@pytest.mark.parametrize("mangle", [" {}", "{}\n", "{}\t", "{}\x00"], ids=["space", "newline", "tab", "nul"])
async def test_a_certificate_url_with_whitespace_or_controls_is_refused_whatever_a_lenient_parser_makes_of_it(
    mangle: str, key: rsa.RSAPrivateKey, cert_host: CertificateHost, verifier_for: Callable[..., SnsVerifier]
) -> None:
    """yarl (as browsers do) drops tabs and newlines and trims spaces: SNS sends none, so none is accepted."""
    url = mangle.format(cert_host.origin + "/cert.pem")
    assert await refused(verifier_for(), encoded(notification(key, url))) == "certificate URL not trusted"
    assert cert_host.requests == []


async def test_a_certificate_url_must_name_a_pem_file(
    key: rsa.RSAPrivateKey, cert_host: CertificateHost, verifier_for: Callable[..., SnsVerifier]
) -> None:
    body = notification(key, cert_host.origin + "/cert.pem?x=1#y")
    assert (await verifier_for().verify(encoded(body))).message == ITEM
    body = notification(key, cert_host.origin + "/cert")
    assert await refused(verifier_for(), encoded(body)) == "certificate URL not trusted"
    assert cert_host.requests == ["/cert.pem"]


@pytest.mark.parametrize(
    ("topic", "region", "trusted", "untrusted"),
    [
        ("arn:aws:sns:us-east-1:1:t", None, "https://sns.us-east-1.amazonaws.com/c.pem",
         "https://sns.us-west-2.amazonaws.com/c.pem"),
        ("arn:aws:sns:us-east-1:1:t", "eu-west-1", "https://sns.eu-west-1.amazonaws.com/c.pem",
         "https://sns.eu-west-1.amazonaws.com.evil.example/c.pem"),
        ("arn:aws-cn:sns:cn-north-1:1:t", None, "https://sns.cn-north-1.amazonaws.com.cn/c.pem",
         "https://sns.cn-north-1.amazonaws.com/c.pem"),
        ("arn:aws-us-gov:sns:us-gov-west-1:1:t", None, "https://sns.us-gov-west-1.amazonaws.com/c.pem",
         "http://sns.us-gov-west-1.amazonaws.com/c.pem"),
        ("arn:aws:sns:us-east-1:1:t", None, "https://SNS.us-east-1.amazonaws.com./c.pem",
         "https://evilsns.us-east-1.amazonaws.com/c.pem"),
    ],
)
def test_the_default_trusted_host_is_sns_in_the_topics_region_and_partition(
    topic: str, region: str | None, trusted: str, untrusted: str
) -> None:
    verifier = SnsVerifier(topic_arns=[topic], trusted_cert_hosts=[], region=region)
    assert verifier.trusts(trusted)
    assert not verifier.trusts(untrusted)


def test_service_hosts_follow_the_partitions_dns_suffixes() -> None:
    assert "sns.cn-north-1.amazonaws.com.cn" in service_hosts("sns", "cn-north-1")
    assert "sns.us-gov-west-1.amazonaws.com" in service_hosts("sns", "us-gov-west-1")
    assert service_hosts("sns", "us-east-1") >= {"sns.us-east-1.amazonaws.com"}
    assert not any(host.endswith(".cn") for host in service_hosts("sns", "us-east-1"))


def test_a_verifier_needs_a_topic() -> None:
    with pytest.raises(ValueError):
        SnsVerifier(topic_arns=[], trusted_cert_hosts=[])


async def test_certificates_are_fetched_over_https_from_a_trusted_host(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, key: rsa.RSAPrivateKey, pem: bytes,
    verifiers: list[SnsVerifier],
) -> None:
    """The production path: HTTPS, the server's TLS certificate checked against AWS_CA_BUNDLE's authority."""
    ca, server_cert, server_key = write_private_ca(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(server_cert, server_key)
    host, runner = await start_host(context)
    try:
        url = host.serve("/SimpleNotificationService-0123.pem", lambda: web.Response(body=pem))
        monkeypatch.setenv("AWS_CA_BUNDLE", str(ca))
        verifier = SnsVerifier(topic_arns=[TOPIC], trusted_cert_hosts=["127.0.0.1"])
        verifiers.append(verifier)
        message = await verifier.verify(encoded(notification(key, url, version="2")))
        untrusting = SnsVerifier(topic_arns=[TOPIC], trusted_cert_hosts=["localhost"])
        verifiers.append(untrusting)
        assert await refused(untrusting, encoded(notification(key, url))) == "certificate URL not trusted"
    finally:
        await runner.cleanup()
    assert message.message == ITEM
    assert host.requests == ["/SimpleNotificationService-0123.pem"]


async def test_an_https_host_whose_tls_certificate_is_not_trusted_is_unavailable_not_accepted(
    tmp_path: Path, key: rsa.RSAPrivateKey, pem: bytes, verifiers: list[SnsVerifier]
) -> None:
    """Without AWS_CA_BUNDLE the private CA is unknown: the fetch fails TLS, and nothing verifies."""
    _, server_cert, server_key = write_private_ca(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(server_cert, server_key)
    host, runner = await start_host(context)
    try:
        url = host.serve("/c.pem", lambda: web.Response(body=pem))
        verifier = SnsVerifier(topic_arns=[TOPIC], trusted_cert_hosts=["127.0.0.1"])
        verifiers.append(verifier)
        with pytest.raises(SnsUnavailable):
            await verifier.verify(encoded(notification(key, url)))
    finally:
        await runner.cleanup()
    assert host.requests == []


# the certificate itself ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("valid_from", "valid_until"),
    [(timedelta(days=-30), timedelta(days=-1)), (timedelta(days=1), timedelta(days=30))],
    ids=["expired", "not-yet-valid"],
)
async def test_a_certificate_outside_its_validity_period_is_refused(
    valid_from: timedelta, valid_until: timedelta, key: rsa.RSAPrivateKey, cert_host: CertificateHost,
    verifier_for: Callable[..., SnsVerifier],
) -> None:
    now = datetime.now(UTC)
    outdated = certificate_pem(key, valid_from=now + valid_from, valid_until=now + valid_until)
    url = cert_host.serve("/outdated.pem", lambda: web.Response(body=outdated))
    assert await refused(verifier_for(), encoded(notification(key, url))) == "certificate expired"


async def test_a_cached_certificate_expires_with_the_clock(
    key: rsa.RSAPrivateKey, cert_url: str, cert_host: CertificateHost, verifier_for: Callable[..., SnsVerifier]
) -> None:
    now = datetime.now(UTC)
    clock = [now]
    verifier = verifier_for(clock=lambda: clock[0])
    assert (await verifier.verify(encoded(notification(key, cert_url, at=now)))).message == ITEM
    clock[0] = now + timedelta(days=31)
    late = encoded(notification(key, cert_url, at=clock[0]))
    assert await refused(verifier, late) == "certificate expired"
    assert cert_host.requests == ["/cert.pem"]


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (lambda: web.Response(status=500), SnsUnavailable),
        (lambda: web.Response(status=503), SnsUnavailable),
        (lambda: web.Response(status=429), SnsUnavailable),
        (lambda: web.Response(status=403), SnsRejected),
        (lambda: web.Response(body=b"-----BEGIN CERTIFICATE-----\nnonsense\n-----END CERTIFICATE-----\n"), SnsRejected),
        (lambda: web.Response(body=b"\n" * 64 * 1024, content_type="application/x-pem-file"), SnsRejected),
    ],
    ids=["500", "503", "429", "403", "not-a-certificate", "too-large"],
)
async def test_a_certificate_host_that_fails_is_unavailable_or_refused(
    answer: Callable[[], web.Response], error: type[Exception], key: rsa.RSAPrivateKey, pem: bytes,
    cert_host: CertificateHost, verifier_for: Callable[..., SnsVerifier],
) -> None:
    """"too-large" is a genuine certificate padded past 64 KiB (which the parser would otherwise accept)."""

    def padded() -> web.Response:
        response = answer()
        if response.status == 200 and response.content_type == "application/x-pem-file":
            response.body = pem + response.body  # type: ignore[operator]
        return response

    url = cert_host.serve("/broken.pem", padded)
    with pytest.raises(error) as caught:
        await verifier_for().verify(encoded(notification(key, url)))
    assert caught.value.reason in {"certificate unavailable", "certificate unusable"}  # type: ignore[attr-defined]


async def test_a_certificate_with_a_non_rsa_key_is_unusable(
    key: rsa.RSAPrivateKey, cert_host: CertificateHost, verifier_for: Callable[..., SnsVerifier]
) -> None:
    now = datetime.now(UTC)
    ec_pem = certificate_pem(ec.generate_private_key(ec.SECP256R1()), valid_from=now - timedelta(days=1),
                             valid_until=now + timedelta(days=1))
    url = cert_host.serve("/ec.pem", lambda: web.Response(body=ec_pem))
    assert await refused(verifier_for(), encoded(notification(key, url))) == "certificate unusable"


async def test_a_redirect_is_not_followed(
    key: rsa.RSAPrivateKey, cert_host: CertificateHost, verifier_for: Callable[..., SnsVerifier]
) -> None:
    url = cert_host.serve("/moved.pem", lambda: web.Response(status=302, headers={"Location": "/cert.pem"}))
    assert await refused(verifier_for(), encoded(notification(key, url))) == "certificate unusable"
    assert cert_host.requests == ["/moved.pem"]


async def test_a_failed_fetch_is_not_cached(
    key: rsa.RSAPrivateKey, pem: bytes, cert_host: CertificateHost, verifier_for: Callable[..., SnsVerifier]
) -> None:
    answers = iter([web.Response(status=503), web.Response(body=pem)])
    url = cert_host.serve("/flaky.pem", lambda: next(answers))
    verifier = verifier_for()
    with pytest.raises(SnsUnavailable):
        await verifier.verify(encoded(notification(key, url)))
    assert (await verifier.verify(encoded(notification(key, url)))).message == ITEM
    assert cert_host.requests == ["/flaky.pem", "/flaky.pem"]


# cache and coalescing -----------------------------------------------------------------------------------------


async def test_a_second_message_uses_the_cached_certificate(
    key: rsa.RSAPrivateKey, cert_url: str, cert_host: CertificateHost, verifier_for: Callable[..., SnsVerifier]
) -> None:
    verifier = verifier_for()
    first = await verifier.verify(encoded(notification(key, cert_url, version="1")))
    second = await verifier.verify(encoded(notification(key, cert_url, version="2", MessageId="other")))
    assert (first.message_id, second.message_id) == ("22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324", "other")
    assert cert_host.requests == ["/cert.pem"]


async def test_concurrent_messages_share_one_certificate_fetch(
    key: rsa.RSAPrivateKey, cert_url: str, cert_host: CertificateHost, verifier_for: Callable[..., SnsVerifier]
) -> None:
    """Twenty messages arrive while the certificate is still on its way: one request serves them all."""
    verifier = verifier_for()
    cert_host.gate = asyncio.Event()
    bodies = [encoded(notification(key, cert_url, MessageId=f"m-{n}")) for n in range(20)]
    verifications = [asyncio.create_task(verifier.verify(body)) for body in bodies]
    await asyncio.wait_for(cert_host.arrived.wait(), 5)
    assert not any(task.done() for task in verifications)
    cert_host.gate.set()
    messages = await asyncio.wait_for(asyncio.gather(*verifications), 5)
    assert [message.message_id for message in messages] == [f"m-{n}" for n in range(20)]
    assert cert_host.requests == ["/cert.pem"]


async def test_a_cancelled_waiter_does_not_cancel_the_shared_fetch(
    key: rsa.RSAPrivateKey, cert_url: str, cert_host: CertificateHost, verifier_for: Callable[..., SnsVerifier]
) -> None:
    verifier = verifier_for()
    cert_host.gate = asyncio.Event()
    first = asyncio.create_task(verifier.verify(encoded(notification(key, cert_url, MessageId="first"))))
    second = asyncio.create_task(verifier.verify(encoded(notification(key, cert_url, MessageId="second"))))
    await asyncio.wait_for(cert_host.arrived.wait(), 5)
    first.cancel()
    cert_host.gate.set()
    assert (await asyncio.wait_for(second, 5)).message_id == "second"
    assert first.cancelled()
    assert cert_host.requests == ["/cert.pem"]


@pytest.fixture
async def store_host(pem: bytes) -> AsyncIterator[CertificateHost]:
    host, runner = await start_host()
    for name in ("a", "b", "c"):
        host.serve(f"/{name}.pem", lambda: web.Response(body=pem))
    try:
        yield host
    finally:
        if host.gate is not None:
            host.gate.set()
        await runner.cleanup()


async def test_the_cache_is_bounded_and_evicts_the_least_recently_used(store_host: CertificateHost) -> None:
    store = CertificateStore(capacity=2)
    try:
        for name in ("a", "b", "a", "c", "a", "b"):
            await store.get(URL(f"{store_host.origin}/{name}.pem"))
    finally:
        await store.close()
    # a, b fetched; a cached; c evicts b (least recently used); a cached; b fetched again
    assert store_host.requests == ["/a.pem", "/b.pem", "/c.pem", "/b.pem"]


async def test_a_slow_certificate_host_times_out(store_host: CertificateHost) -> None:
    store_host.gate = asyncio.Event()
    store = CertificateStore(timeout=aiohttp.ClientTimeout(total=0.2))
    try:
        with pytest.raises(CertificateUnavailable):
            await store.get(URL(f"{store_host.origin}/a.pem"))
    finally:
        await store.close()
    assert store_host.requests == ["/a.pem"]


@pytest.mark.parametrize("max_bytes", [4096, 512])
async def test_the_size_cap_applies_to_bytes_as_they_stream(
    max_bytes: int, pem: bytes, store_host: CertificateHost
) -> None:
    """No Content-Length to judge by: a genuine certificate, sent in chunks, fits 4 KiB and not 512 bytes."""

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(pem), 256):
            yield pem[start:start + 256]

    store_host.serve("/chunked.pem", lambda: web.Response(body=chunks()))
    store = CertificateStore(max_bytes=max_bytes)
    try:
        if max_bytes > len(pem):
            assert (await store.get(URL(f"{store_host.origin}/chunked.pem"))).public_key is not None
        else:
            with pytest.raises(CertificateRefused):
                await store.get(URL(f"{store_host.origin}/chunked.pem"))
    finally:
        await store.close()


async def test_close_leaves_a_callers_session_open_and_closes_its_own(
    key: rsa.RSAPrivateKey, cert_url: str
) -> None:
    async with aiohttp.ClientSession() as session:
        borrowed = SnsVerifier(topic_arns=[TOPIC], trusted_cert_hosts=[], plain_http_hosts=["127.0.0.1"],
                               session=session)
        assert (await borrowed.verify(encoded(notification(key, cert_url)))).message == ITEM
        await borrowed.close()
        assert not session.closed
    owner = SnsVerifier(topic_arns=[TOPIC], trusted_cert_hosts=[], plain_http_hosts=["127.0.0.1"])
    assert (await owner.verify(encoded(notification(key, cert_url)))).message == ITEM
    own_session = owner._certificates._session
    await owner.close()
    assert own_session is not None and own_session.closed
