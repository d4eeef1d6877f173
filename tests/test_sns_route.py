"""The intake's SNS route: SNS's own requests, verified before anything in them is read, answered as SNS retries.

A local "SNS" (an aiohttp server on 127.0.0.1) serves the signing certificate and the SubscribeURL, counting
every request, so a test can show that nothing was fetched from where it must not be.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from botkit.config import IntakeConfig
from botkit.connect.models import Item
from botkit.connect.secrets import Secret
from botkit.connect.sns import SnsVerifier
from botkit.emulator.sns_messages import notification, subscription_confirmation
from botkit.emulator.sns_signing import MIN_KEY_SIZE, SnsSigner
from botkit.runtime.streaming import Delivery
from botkit.server import SnsRoute, build_intake_app
from tests.test_server import StubManager

TOPIC = "arn:aws:sns:us-east-1:123456789012:botkit-chat"
OTHER_TOPIC = "arn:aws:sns:us-east-1:123456789012:someone-else"
ITEM = {
    "Id": "item-1",
    "Type": "MESSAGE",
    "ContentType": "text/plain",
    "Content": "hello",
    "ContactId": "contact-1",
    "ParticipantId": "customer-1",
    "ParticipantRole": "CUSTOMER",
    "AbsoluteTime": "2026-01-01T00:00:00.000Z",
}
SNS_CONTENT_TYPE = "text/plain; charset=UTF-8"


class LocalSns:
    """Serves the certificate and a SubscribeURL; counts the requests for each."""

    def __init__(self, signer: SnsSigner) -> None:
        self.signer = signer
        self.certificate_fetches = 0
        self.confirmations = 0
        self.server: TestServer | None = None

    def app(self) -> web.Application:
        async def certificate(request: web.Request) -> web.Response:
            self.certificate_fetches += 1
            return web.Response(body=await self.signer.certificate_pem(), content_type="application/x-pem-file")

        async def confirm(request: web.Request) -> web.Response:
            self.confirmations += 1
            return web.Response(text="<ConfirmSubscriptionResponse/>", content_type="text/xml")

        app = web.Application()
        app.router.add_get("/cert.pem", certificate)
        app.router.add_get("/confirm", confirm)
        return app

    @property
    def base(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.port}"


@dataclass
class RecordingStreaming:
    """Stands in for Streaming: records what the route hands over, and answers as told."""

    outcome: Delivery = Delivery.QUEUED
    failure: BaseException | None = None
    delivered: list[tuple[str, Item]] = field(default_factory=list)

    def deliver(self, message_id: str, item: Item) -> Delivery:
        if self.failure is not None:
            raise self.failure
        self.delivered.append((message_id, item))
        return self.outcome


@dataclass
class Harness:
    sns: LocalSns
    bot: TestClient
    streaming: RecordingStreaming
    ready: dict[str, bool]
    route: SnsRoute

    async def signed(self, message: dict[str, str], certificate_url: str | None = None) -> bytes:
        await self.sns.signer.sign(message)
        message["SigningCertURL"] = certificate_url or f"{self.sns.base}/cert.pem"
        return json.dumps(message).encode()

    async def post(self, body: bytes, content_type: str = SNS_CONTENT_TYPE, kind: str = "Notification") -> Any:
        return await self.bot.post(
            "/sns", data=body, headers={"Content-Type": content_type, "x-amz-sns-message-type": kind}
        )


@pytest.fixture(params=["1", "2"], ids=["SignatureVersion1", "SignatureVersion2"])
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    sns = LocalSns(SnsSigner(MIN_KEY_SIZE, request.param))
    sns.server = TestServer(sns.app(), host="127.0.0.1")
    await sns.server.start_server()
    verifier = SnsVerifier(
        topic_arns=(TOPIC,), trusted_cert_hosts=(), region="us-east-1", plain_http_hosts=(f"127.0.0.1:{sns.server.port}",)
    )
    streaming = RecordingStreaming()
    route = SnsRoute("/sns", verifier, streaming)  # type: ignore[arg-type]
    ready = {"ready": True}
    # The intake has a secret: the SNS route must not ask for X-Botkit-Signature all the same.
    app = build_intake_app(StubManager(), lambda: ready["ready"], IntakeConfig(secret=Secret("intake-secret")), sns=route)
    bot = TestClient(TestServer(app, host="127.0.0.1"))
    await bot.start_server()
    try:
        yield Harness(sns, bot, streaming, ready, route)
    finally:
        await bot.close()
        await route.close()
        await sns.server.close()


@pytest.mark.parametrize("content_type", [SNS_CONTENT_TYPE, "application/json"])
async def test_a_signed_notification_is_handed_to_streaming_and_answered_200(
    harness: Harness, content_type: str
) -> None:
    message = notification(TOPIC, ITEM)
    answer = await harness.post(await harness.signed(message), content_type)
    assert answer.status == 200, await answer.text()
    assert [(message_id, item.id, item.contact_id) for message_id, item in harness.streaming.delivered] == [
        (message["MessageId"], "item-1", "contact-1")
    ]
    # The certificate is cached: a second message costs no fetch.
    await harness.post(await harness.signed(notification(TOPIC, {**ITEM, "Id": "item-2"})))
    assert harness.sns.certificate_fetches == 1


async def test_a_tampered_notification_is_refused_and_never_handed_over(harness: Harness) -> None:
    signed = json.loads(await harness.signed(notification(TOPIC, ITEM)))
    signed["Message"] = json.dumps({**ITEM, "Content": "transfer all my money"})
    answer = await harness.post(json.dumps(signed).encode())
    assert answer.status == 403
    assert (await answer.json())["message"] == "bad signature"
    assert harness.streaming.delivered == []


async def test_a_notification_for_another_topic_is_refused_before_any_fetch(harness: Harness) -> None:
    answer = await harness.post(await harness.signed(notification(OTHER_TOPIC, ITEM)))
    assert answer.status == 403
    assert harness.streaming.delivered == []
    assert harness.sns.certificate_fetches == 0


async def test_a_certificate_on_an_untrusted_host_is_never_fetched(harness: Harness) -> None:
    """The same local server under another name (localhost is not in plain_http_hosts): no request reaches it."""
    assert harness.sns.server is not None
    untrusted = f"http://localhost:{harness.sns.server.port}/cert.pem"
    answer = await harness.post(await harness.signed(notification(TOPIC, ITEM), untrusted))
    assert answer.status == 403
    assert harness.sns.certificate_fetches == 0
    assert harness.streaming.delivered == []


async def test_a_notification_older_than_an_hour_is_refused(harness: Harness) -> None:
    message = notification(TOPIC, ITEM)
    message["Timestamp"] = (datetime.now(UTC) - timedelta(hours=1, minutes=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    answer = await harness.post(await harness.signed(message))
    assert answer.status == 403
    assert (await answer.json())["message"] == "expired"
    assert harness.streaming.delivered == []


async def test_only_sns_content_types_and_bodies_up_to_256_kib(harness: Harness) -> None:
    body = await harness.signed(notification(TOPIC, ITEM))
    assert (await harness.post(body, "application/x-www-form-urlencoded")).status == 415
    assert (await harness.post(b"{" + b" " * (256 * 1024) + b"}")).status == 413
    assert harness.streaming.delivered == []


@pytest.mark.parametrize(
    ("outcome", "status"),
    [(Delivery.QUEUED, 200), (Delivery.HELD, 200), (Delivery.DUPLICATE, 200), (Delivery.IGNORED, 200), (Delivery.BUSY, 503)],
)
async def test_the_answer_follows_what_became_of_the_item(harness: Harness, outcome: Delivery, status: int) -> None:
    """2xx once queued (or held, known, or for no session here); 503 while it cannot be taken, so SNS retries."""
    harness.streaming.outcome = outcome
    answer = await harness.post(await harness.signed(notification(TOPIC, ITEM)))
    assert answer.status == status


async def test_an_item_that_could_not_be_queued_is_answered_500_so_sns_retries(harness: Harness) -> None:
    harness.streaming.failure = RuntimeError("the queue broke")
    answer = await harness.post(await harness.signed(notification(TOPIC, ITEM)))
    assert answer.status == 500
    assert "the queue broke" not in await answer.text()


async def test_a_notification_while_not_ready_is_answered_503(harness: Harness) -> None:
    harness.ready["ready"] = False
    answer = await harness.post(await harness.signed(notification(TOPIC, ITEM)))
    assert answer.status == 503
    assert harness.streaming.delivered == []


async def test_a_verified_message_that_is_not_a_chat_item_is_refused(harness: Harness) -> None:
    message = notification(TOPIC, ITEM)
    message["Message"] = "plain text someone published to the topic"
    answer = await harness.post(await harness.signed(message))
    assert answer.status == 400
    assert harness.streaming.delivered == []


async def test_a_subscription_confirmation_is_confirmed_by_fetching_its_subscribe_url(harness: Harness) -> None:
    harness.ready["ready"] = False  # taken while the bot is still starting: it binds its route before it is ready
    message = subscription_confirmation(TOPIC, "token-1", f"{harness.sns.base}/confirm?Token=token-1")
    answer = await harness.post(await harness.signed(message), kind="SubscriptionConfirmation")
    assert answer.status == 200, await answer.text()
    assert harness.sns.confirmations == 1
    assert harness.route.confirmed.is_set()


async def test_a_subscribe_url_on_an_untrusted_host_is_never_fetched(harness: Harness) -> None:
    assert harness.sns.server is not None
    untrusted = f"http://localhost:{harness.sns.server.port}/confirm"
    message = subscription_confirmation(TOPIC, "token-1", untrusted)
    answer = await harness.post(await harness.signed(message), kind="SubscriptionConfirmation")
    assert answer.status == 403
    assert harness.sns.confirmations == 0
    assert not harness.route.confirmed.is_set()


async def test_a_confirmation_for_another_topic_is_never_fetched(harness: Harness) -> None:
    message = subscription_confirmation(OTHER_TOPIC, "token-1", f"{harness.sns.base}/confirm")
    answer = await harness.post(await harness.signed(message), kind="SubscriptionConfirmation")
    assert answer.status == 403
    assert harness.sns.confirmations == 0


async def test_a_failed_confirmation_is_answered_5xx_so_sns_sends_it_again(harness: Harness) -> None:
    message = subscription_confirmation(TOPIC, "token-1", f"{harness.sns.base}/no-such-page")
    answer = await harness.post(await harness.signed(message), kind="SubscriptionConfirmation")
    assert answer.status == 502
    assert not harness.route.confirmed.is_set()
