"""Message streaming as SNS delivers it: the subscription handshake, signed messages, then every item in order."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import uuid
from typing import Any
from xml.etree import ElementTree

import aiohttp
import pytest
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.exceptions import InvalidSignature

from botkit.emulator import Emulator, EmulatorConfig
from botkit.emulator.config import DEFAULT_INSTANCE_ID
from tests.conftest import aws_clients
from tests.emulator.snsclient import SNS_XMLNS, SnsSubscriber, verify
from tests.emulator.wsclient import CHAT_ENDED, running_api

TOPIC = "arn:aws:sns:us-east-1:123456789012:botkit-chat"
FAST = {"port": 0, "sns_key_size": 1024, "sns_retry_delay_factor": 0.005}
"""A 1024-bit key is quick to make; SNS's 20 s between retries becomes 0.1 s."""


@pytest.fixture
async def emulator():
    async with Emulator(EmulatorConfig(**FAST)) as running:
        yield running


@pytest.fixture
async def api(emulator):
    async with running_api(emulator.base_url) as api:
        yield api


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def sns():
    async with SnsSubscriber() as subscriber:
        yield subscriber


async def subscribe(api: Any, url: str, topic: str = TOPIC) -> dict[str, Any]:
    return await api.ok("PUT", "/emulator/streaming-endpoints", {"StreamingEndpointArn": topic, "Urls": [url]})


async def subscribed(api: Any, http: aiohttp.ClientSession, sns: SnsSubscriber, topic: str = TOPIC) -> str:
    """Subscribes `sns` and confirms it, as a bot does; its SubscriptionArn."""
    await subscribe(api, sns.url, topic)
    return await sns.confirm(http)


async def certificate(http: aiohttp.ClientSession, url: str) -> bytes:
    async with http.get(url) as answer:
        assert answer.status == 200
        return await answer.read()


def start_streaming(connect: Any, contact_id: str, arn: str = TOPIC, client_token: str | None = None) -> str:
    reply = connect.start_contact_streaming(
        InstanceId=DEFAULT_INSTANCE_ID,
        ContactId=contact_id,
        ChatStreamingConfiguration={"StreamingEndpointArn": arn},
        ClientToken=client_token or str(uuid.uuid4()),
    )
    return reply["StreamingId"]


def stop_streaming(connect: Any, contact_id: str, streaming_id: str) -> None:
    connect.stop_contact_streaming(InstanceId=DEFAULT_INSTANCE_ID, ContactId=contact_id, StreamingId=streaming_id)


async def streamed_customer(api: Any, emulator: Emulator) -> Any:
    connect, _ = aws_clients(emulator.base_url)
    customer = await api.customer()
    await asyncio.to_thread(start_streaming, connect, customer.contact_id)
    return customer


async def test_nothing_is_delivered_before_the_subscription_is_confirmed(api, emulator, http, sns) -> None:
    assert await subscribe(api, sns.url) == {"StreamingEndpointArn": TOPIC, "Urls": [sns.url]}
    (confirmation,) = await sns.wait_for(1, "SubscriptionConfirmation")
    message, headers = confirmation.message, confirmation.headers
    assert list(message) == [
        "Type", "MessageId", "Token", "TopicArn", "Message", "SubscribeURL",
        "Timestamp", "SignatureVersion", "Signature", "SigningCertURL",
    ]  # fmt: skip
    assert message["TopicArn"] == TOPIC and message["Token"] and message["Timestamp"].endswith("Z")
    assert message["SubscribeURL"].startswith(emulator.base_url + "/")
    assert f"subscribe to the topic {TOPIC}" in message["Message"]
    assert headers["Content-Type"] == "text/plain; charset=UTF-8"
    assert headers["x-amz-sns-message-type"] == "SubscriptionConfirmation"
    assert headers["x-amz-sns-message-id"] == message["MessageId"]
    assert headers["x-amz-sns-topic-arn"] == TOPIC
    verify(message, await certificate(http, message["SigningCertURL"]))
    assert await api.ok("GET", "/emulator/streaming-endpoints") == {
        "Subscriptions": [
            {"StreamingEndpointArn": TOPIC, "Url": sns.url, "SubscriptionArn": "PendingConfirmation", "Confirmed": False}
        ]
    }

    customer = await streamed_customer(api, emulator)
    await api.send_message(customer, "before the confirmation")
    # SendMessage answers once the item went to the listeners: nothing was queued for the pending subscriber.
    assert emulator.streaming.stats.notifications == 0
    assert [r.kind for r in sns.requests] == ["SubscriptionConfirmation"]

    arn = await sns.confirm(http)
    assert arn.startswith(TOPIC + ":")
    (listed,) = (await api.ok("GET", "/emulator/streaming-endpoints"))["Subscriptions"]
    assert listed == {"StreamingEndpointArn": TOPIC, "Url": sns.url, "SubscriptionArn": arn, "Confirmed": True}
    await api.send_message(customer, "after the confirmation")
    await sns.wait_for(1)
    assert sns.contents() == ["after the confirmation"]
    assert sns.notifications[0].headers["x-amz-sns-subscription-arn"] == arn


async def test_own_urls_name_the_emulator_as_the_subscriber_reached_it(api, emulator, http, sns) -> None:
    """A bot in a container reaches the emulator by a service name, not 127.0.0.1: its URLs must use that name."""
    host = f"emulator.internal:{emulator.port}"
    body = {"StreamingEndpointArn": TOPIC, "Urls": [sns.url]}
    async with http.put(f"{emulator.base_url}/emulator/streaming-endpoints", json=body, headers={"Host": host}) as answer:
        assert answer.status == 200
    (confirmation,) = await sns.wait_for(1, "SubscriptionConfirmation")
    assert confirmation.message["SubscribeURL"].startswith(f"http://{host}/emulator/sns/confirm?")
    assert confirmation.message["SigningCertURL"] == f"http://{host}/emulator/sns/certificate.pem"


async def test_confirming_twice_answers_the_same_subscription(api, http, sns) -> None:
    arn = await subscribed(api, http, sns)
    confirmation = sns.of_type("SubscriptionConfirmation")[0].message
    async with http.get(confirmation["SubscribeURL"]) as answer:
        assert answer.status == 200 and answer.content_type == "text/xml"
        document = ElementTree.fromstring(await answer.text())
    assert document.tag == f"{SNS_XMLNS}ConfirmSubscriptionResponse"
    assert document.findtext(f"{SNS_XMLNS}ConfirmSubscriptionResult/{SNS_XMLNS}SubscriptionArn") == arn


@pytest.mark.parametrize("query", ["TopicArn={topic}&Token=forged", "TopicArn=arn:aws:sns:us-east-1:1:other&Token={token}"])
async def test_a_wrong_token_or_topic_confirms_nothing(api, emulator, http, sns, query) -> None:
    await subscribe(api, sns.url)
    token = (await sns.wait_for(1, "SubscriptionConfirmation"))[0].message["Token"]
    url = f"{emulator.base_url}/emulator/sns/confirm?Action=ConfirmSubscription&" + query.format(topic=TOPIC, token=token)
    async with http.get(url) as answer:
        assert answer.status == 400
        document = ElementTree.fromstring(await answer.text())
    assert document.findtext(f"{SNS_XMLNS}Error/{SNS_XMLNS}Code") == "InvalidParameter"
    assert token not in ElementTree.tostring(document).decode()
    (listed,) = (await api.ok("GET", "/emulator/streaming-endpoints"))["Subscriptions"]
    assert listed["Confirmed"] is False


async def test_streamed_items_arrive_as_signed_notifications_in_order(api, emulator, http, sns) -> None:
    arn = await subscribed(api, http, sns)
    connect, _ = aws_clients(emulator.base_url)
    customer = await api.customer()
    streaming_id = await asyncio.to_thread(start_streaming, connect, customer.contact_id)
    assert streaming_id

    sent = [(await api.send_message(customer, f"message {n}")).body["Id"] for n in range(6)]
    await sns.wait_for(6)
    pem = await certificate(http, f"{emulator.base_url}/emulator/sns/certificate.pem")
    for received in sns.notifications:
        notification, headers = received.message, received.headers
        assert list(notification) == [
            "Type", "MessageId", "TopicArn", "Message", "Timestamp", "SignatureVersion",
            "Signature", "SigningCertURL", "UnsubscribeURL", "MessageAttributes",
        ]  # fmt: skip
        assert notification["Type"] == "Notification" and notification["TopicArn"] == TOPIC
        assert notification["MessageId"] and notification["Timestamp"].endswith("Z")
        assert notification["SignatureVersion"] == "1"
        assert notification["SigningCertURL"] == f"{emulator.base_url}/emulator/sns/certificate.pem"
        verify(notification, pem)
        assert headers["Content-Type"] == "text/plain; charset=UTF-8"
        assert headers["x-amz-sns-message-type"] == "Notification"
        assert headers["x-amz-sns-message-id"] == notification["MessageId"]
        assert headers["x-amz-sns-topic-arn"] == TOPIC
        assert headers["x-amz-sns-subscription-arn"] == arn
    assert len({n.message["MessageId"] for n in sns.notifications}) == 6
    items = [n.item for n in sns.notifications]
    assert [item["Id"] for item in items] == sent  # nothing from before the stream started, then in order
    assert [item["Content"] for item in items] == [f"message {n}" for n in range(6)]
    transcript = {item["Id"]: item for item in await api.transcript(customer)}
    for item in items:
        # the Message is the item itself (GetTranscript's items carry InitialContactId once, at the top)
        assert {k: v for k, v in item.items() if k != "InitialContactId"} == transcript[item["Id"]]
        assert item["ContactId"] == item["InitialContactId"] == customer.contact_id
    attributes = sns.notifications[0].message["MessageAttributes"]
    assert attributes["ContactId"] == {"Type": "String", "Value": customer.contact_id}
    assert attributes["ContentType"] == {"Type": "String", "Value": "text/plain"}
    assert attributes["Type"] == {"Type": "String", "Value": "MESSAGE"}

    await api.stop_contact(customer.contact_id)
    await sns.wait_for(7)
    assert sns.notifications[-1].item["ContentType"] == CHAT_ENDED


@pytest.mark.parametrize("version", ["1", "2"])
async def test_both_signature_versions_verify_and_a_tampered_message_does_not(http, version) -> None:
    config = EmulatorConfig(**FAST, sns_signature_version=version)
    async with SnsSubscriber() as sns, Emulator(config) as emulator, running_api(emulator.base_url) as api:
        await subscribed(api, http, sns)
        customer = await streamed_customer(api, emulator)
        await api.send_message(customer, "sign me")
        (received,) = await sns.wait_for(1)
        pem = await certificate(http, received.message["SigningCertURL"])
        for message in (sns.of_type("SubscriptionConfirmation")[0].message, received.message):
            assert message["SignatureVersion"] == version
            verify(message, pem)
            tampered = {**message, "Message": message["Message"].replace("sign me", "signed me").replace("topic", "tpic")}
            with pytest.raises(InvalidSignature):
                verify(tampered, pem)
        other_version = {**received.message, "SignatureVersion": "2" if version == "1" else "1"}
        with pytest.raises(InvalidSignature):
            verify(other_version, pem)


async def test_the_certificate_route_serves_the_key_that_signs(api, emulator, http, sns) -> None:
    await subscribed(api, http, sns)
    url = f"{emulator.base_url}/emulator/sns/certificate.pem"
    async with http.get(url) as answer:
        assert answer.status == 200
        pem = await answer.read()
    assert pem.startswith(b"-----BEGIN CERTIFICATE-----")
    cert = x509.load_pem_x509_certificate(pem)
    assert cert.public_key().key_size == 1024  # the configured size
    assert cert.issuer == cert.subject  # self-signed
    assert await certificate(http, url) == pem  # made once, at the emulator's start of streaming
    customer = await streamed_customer(api, emulator)
    await api.send_message(customer, "verify me")
    (received,) = await sns.wait_for(1)
    verify(received.message, pem)
    signature = base64.b64decode(received.message["Signature"])
    assert len(signature) == 1024 // 8


async def test_a_subscription_from_the_config_gets_its_confirmation_at_start(http) -> None:
    async with SnsSubscriber() as sns:
        config = EmulatorConfig(**{**FAST, "streaming_endpoints": {TOPIC: [sns.url]}})
        async with Emulator(config) as emulator, running_api(emulator.base_url) as api:
            await sns.confirm(http)
            customer = await streamed_customer(api, emulator)
            agent = await api.join(customer.contact_id, "AGENT")
            await api.send_message(agent, "hello from the agent")
            await sns.wait_for(2)
            joined, said = (n.item for n in sns.notifications)
            assert joined["ContentType"].endswith("participant.joined") and joined["ParticipantRole"] == "AGENT"
            assert said["Content"] == "hello from the agent"


async def test_one_topic_can_fan_out_to_several_urls(api, emulator, http) -> None:
    async with SnsSubscriber() as one, SnsSubscriber() as two:
        reply = await api.ok(
            "PUT", "/emulator/streaming-endpoints", {"StreamingEndpointArn": TOPIC, "Urls": [one.url, two.url]}
        )
        assert reply["Urls"] == [one.url, two.url]
        arns = {await one.confirm(http), await two.confirm(http)}
        assert len(arns) == 2
        customer = await streamed_customer(api, emulator)
        sent = (await api.send_message(customer, "to both")).body["Id"]
        for endpoint in (one, two):
            (received,) = await endpoint.wait_for(1)
            assert received.item["Id"] == sent
        # one publish, one MessageId and one signature; the subscription is the only difference
        assert one.notifications[0].message["MessageId"] == two.notifications[0].message["MessageId"]
        assert one.notifications[0].message["Signature"] == two.notifications[0].message["Signature"]
        assert {one.notifications[0].headers["x-amz-sns-subscription-arn"],
                two.notifications[0].headers["x-amz-sns-subscription-arn"]} == arns  # fmt: skip


async def test_subscribing_again_resends_only_a_pending_confirmation(api, http, sns) -> None:
    await subscribe(api, sns.url)
    await subscribe(api, sns.url)  # a bot that restarted before it could confirm
    first, second = await sns.wait_for(2, "SubscriptionConfirmation")
    assert first.message["Token"] == second.message["Token"]
    assert first.message["MessageId"] != second.message["MessageId"]
    await sns.confirm(http)
    await subscribe(api, sns.url)  # confirmed: nothing to send, the subscription stands
    assert len(sns.of_type("SubscriptionConfirmation")) == 2
    assert [s["Confirmed"] for s in (await api.ok("GET", "/emulator/streaming-endpoints"))["Subscriptions"]] == [True]


async def test_unsubscribing_stops_deliveries_and_sends_an_unsubscribe_confirmation(api, emulator, http, sns) -> None:
    arn = await subscribed(api, http, sns)
    customer = await streamed_customer(api, emulator)
    await api.send_message(customer, "subscribed")
    await sns.wait_for(1)

    reply = await api.ok("DELETE", "/emulator/streaming-endpoints", {"StreamingEndpointArn": TOPIC, "Url": sns.url})
    assert reply == {"StreamingEndpointArn": TOPIC, "Urls": []}
    (goodbye,) = await sns.wait_for(1, "UnsubscribeConfirmation")
    assert goodbye.headers["x-amz-sns-subscription-arn"] == arn
    assert f"deactivate subscription {arn}" in goodbye.message["Message"]
    verify(goodbye.message, await certificate(http, goodbye.message["SigningCertURL"]))
    assert await api.ok("GET", "/emulator/streaming-endpoints") == {"Subscriptions": []}
    await api.send_message(customer, "unsubscribed")
    assert emulator.streaming.stats.notifications == 1

    # the UnsubscribeConfirmation's SubscribeURL restores the subscription, as on SNS
    async with http.get(goodbye.message["SubscribeURL"]) as answer:
        assert answer.status == 200
        assert arn in await answer.text()
    await api.send_message(customer, "restored")
    await sns.wait_for(2)
    assert sns.contents() == ["subscribed", "restored"]

    missing = await api.call("DELETE", "/emulator/streaming-endpoints", {"StreamingEndpointArn": TOPIC, "Url": "http://127.0.0.1:1/x"})
    assert missing.status == 404 and missing.headers["x-amzn-ErrorType"] == "ResourceNotFoundException"


async def test_the_unsubscribe_url_unsubscribes(api, emulator, http, sns) -> None:
    await subscribed(api, http, sns)
    customer = await streamed_customer(api, emulator)
    await api.send_message(customer, "one")
    (received,) = await sns.wait_for(1)
    async with http.get(received.message["UnsubscribeURL"]) as answer:
        assert answer.status == 200
        assert ElementTree.fromstring(await answer.text()).tag == f"{SNS_XMLNS}UnsubscribeResponse"
    await sns.wait_for(1, "UnsubscribeConfirmation")
    assert await api.ok("GET", "/emulator/streaming-endpoints") == {"Subscriptions": []}
    async with http.get(received.message["UnsubscribeURL"]) as answer:
        assert answer.status == 404


async def test_a_password_in_a_subscriber_url_is_used_and_never_shown(api, emulator, http, sns, caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="botkit.emulator")
    url = sns.url.replace("http://", "http://bot:s3cret-pw@")
    assert (await subscribe(api, url))["Urls"] == [sns.url.replace("http://", "http://bot:****@")]
    (confirmation,) = await sns.wait_for(1, "SubscriptionConfirmation")
    assert confirmation.headers["Authorization"] == "Basic " + base64.b64encode(b"bot:s3cret-pw").decode()
    listed = json.dumps(await api.ok("GET", "/emulator/streaming-endpoints"))
    assert "s3cret-pw" not in listed and "bot:****@" in listed
    assert "s3cret-pw" not in caplog.text


async def test_the_log_shows_the_handshake_and_signed_deliveries_but_no_token(api, emulator, http, sns, caplog) -> None:
    caplog.set_level(logging.INFO, logger="botkit.emulator")
    await subscribed(api, http, sns)
    token = sns.of_type("SubscriptionConfirmation")[0].message["Token"]
    customer = await streamed_customer(api, emulator)
    caplog.set_level(logging.DEBUG, logger="botkit.emulator")
    await api.send_message(customer, "logged")
    (received,) = await sns.wait_for(1)
    info = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert any("SubscriptionConfirmation" in line and "sent to" in line for line in info)
    assert any("confirmed" in line for line in info)
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert any(f"signed Notification {received.message['MessageId']}" in line for line in debug)
    assert not any("Notification" in line and "delivered" in line for line in info)  # one line per delivery: DEBUG
    assert token not in caplog.text and "Token=" not in caplog.text


async def test_stop_contact_streaming_stops_it(api, emulator, http, sns) -> None:
    await subscribed(api, http, sns)
    connect, _ = aws_clients(emulator.base_url)
    stopped = await api.customer()
    control = await api.customer()
    stopped_id = await asyncio.to_thread(start_streaming, connect, stopped.contact_id)
    await asyncio.to_thread(start_streaming, connect, control.contact_id)

    await api.send_message(stopped, "before stop")
    await sns.wait_for(1)
    await asyncio.to_thread(stop_streaming, connect, stopped.contact_id, stopped_id)
    await api.send_message(stopped, "after stop")
    await api.send_message(control, "control")
    await sns.wait_for(2)
    assert [n.item["Content"] for n in sns.notifications if n.item["ContactId"] == stopped.contact_id] == ["before stop"]
    assert [n.item["Content"] for n in sns.notifications if n.item["ContactId"] == control.contact_id] == ["control"]

    with pytest.raises(ClientError) as raised:  # stopping twice: the id is gone
        await asyncio.to_thread(stop_streaming, connect, stopped.contact_id, stopped_id)
    assert raised.value.response["Error"]["Code"] == "InvalidParameterException"


async def test_start_streaming_is_idempotent_on_the_client_token(api, emulator, http, sns) -> None:
    await subscribed(api, http, sns)
    connect, _ = aws_clients(emulator.base_url)
    customer = await api.customer()
    first = await asyncio.to_thread(start_streaming, connect, customer.contact_id, TOPIC, "stream-once")
    again = await asyncio.to_thread(start_streaming, connect, customer.contact_id, TOPIC, "stream-once")
    assert again == first
    await api.send_message(customer, "once")
    await api.send_message(customer, "twice?")
    await sns.wait_for(2)
    assert sns.contents() == ["once", "twice?"]


async def test_unknown_topic_is_an_invalid_parameter(api, emulator) -> None:
    connect, _ = aws_clients(emulator.base_url)
    customer = await api.customer()
    with pytest.raises(ClientError) as raised:
        await asyncio.to_thread(
            start_streaming, connect, customer.contact_id, "arn:aws:sns:us-east-1:123456789012:nobody"
        )
    assert raised.value.response["Error"]["Code"] == "InvalidParameterException"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert isinstance(raised.value, connect.exceptions.InvalidParameterException)


async def test_unknown_contact_or_instance_is_not_found(api, emulator, sns) -> None:
    await subscribe(api, sns.url)
    connect, _ = aws_clients(emulator.base_url)
    with pytest.raises(ClientError) as raised:
        await asyncio.to_thread(start_streaming, connect, "no-such-contact")
    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"
    customer = await api.customer()
    with pytest.raises(ClientError) as raised:
        await asyncio.to_thread(
            connect.start_contact_streaming,
            InstanceId="no-such-instance",
            ContactId=customer.contact_id,
            ChatStreamingConfiguration={"StreamingEndpointArn": TOPIC},
            ClientToken="x",
        )
    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"


async def test_unknown_streaming_id_is_an_invalid_parameter(api, emulator) -> None:
    connect, _ = aws_clients(emulator.base_url)
    customer = await api.customer()
    with pytest.raises(ClientError) as raised:
        await asyncio.to_thread(stop_streaming, connect, customer.contact_id, "no-such-stream")
    assert raised.value.response["Error"]["Code"] == "InvalidParameterException"

