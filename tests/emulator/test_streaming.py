"""Message streaming: StartContactStreaming, then every item reaches the SNS endpoint as a Notification, in order."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest
from aiohttp import web
from botocore.exceptions import ClientError

from botkit.emulator import Emulator, EmulatorConfig
from botkit.emulator.config import DEFAULT_INSTANCE_ID
from tests.conftest import aws_clients
from tests.emulator.wsclient import CHAT_ENDED, running_api

TIMEOUT = 5
TOPIC = "arn:aws:sns:us-east-1:123456789012:botkit-chat"


class SnsEndpoint:
    """Records SNS notifications POSTed to it; `wait_for(n)` waits until n have arrived."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.notifications: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self._arrived = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def _receive(self, request: web.Request) -> web.Response:
        self.headers.append(dict(request.headers))
        body = await request.json()
        async with self._arrived:
            self.notifications.append(body)
            self._arrived.notify_all()
        return web.Response(status=self.status)

    async def __aenter__(self) -> SnsEndpoint:
        app = web.Application()
        app.router.add_post("/sns", self._receive)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/sns"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    async def wait_for(self, count: int) -> list[dict[str, Any]]:
        async with self._arrived:
            await asyncio.wait_for(self._arrived.wait_for(lambda: len(self.notifications) >= count), TIMEOUT)
        return self.notifications

    def items(self, contact_id: str | None = None) -> list[dict[str, Any]]:
        items = [json.loads(n["Message"]) for n in self.notifications]
        return [i for i in items if contact_id is None or i["ContactId"] == contact_id]


@pytest.fixture
async def api(emulator):
    async with running_api(emulator.base_url) as api:
        yield api


@pytest.fixture
async def sns():
    async with SnsEndpoint() as endpoint:
        yield endpoint


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


async def test_streamed_items_arrive_as_sns_notifications_in_order(api, emulator, sns) -> None:
    assert await api.ok("PUT", "/emulator/streaming-endpoints", {"StreamingEndpointArn": TOPIC, "Urls": [sns.url]}) == {
        "StreamingEndpointArn": TOPIC,
        "Urls": [sns.url],
    }
    connect, _ = aws_clients(emulator.base_url)
    customer = await api.customer()
    streaming_id = await asyncio.to_thread(start_streaming, connect, customer.contact_id)
    assert streaming_id

    sent = [(await api.send_message(customer, f"message {n}")).body["Id"] for n in range(6)]
    await sns.wait_for(6)
    for notification, headers in zip(sns.notifications, sns.headers, strict=True):
        assert notification["Type"] == "Notification"
        assert notification["TopicArn"] == TOPIC
        assert notification["MessageId"] and notification["Timestamp"].endswith("Z")
        assert isinstance(notification["Message"], str)
        assert headers["x-amz-sns-message-type"] == "Notification"
        assert headers["x-amz-sns-topic-arn"] == TOPIC
    items = sns.items()
    assert [item["Id"] for item in items] == sent  # nothing from before the stream started, then in order
    assert [item["Content"] for item in items] == [f"message {n}" for n in range(6)]
    transcript = {item["Id"]: item for item in await api.transcript(customer)}
    for item in items:
        # the Message is the item itself (GetTranscript's items carry InitialContactId once, at the top)
        assert {k: v for k, v in item.items() if k != "InitialContactId"} == transcript[item["Id"]]
        assert item["ContactId"] == item["InitialContactId"] == customer.contact_id
    attributes = sns.notifications[0]["MessageAttributes"]
    assert attributes["ContactId"] == {"Type": "String", "Value": customer.contact_id}
    assert attributes["Type"] == {"Type": "String", "Value": "MESSAGE"}

    await api.stop_contact(customer.contact_id)
    await sns.wait_for(7)
    assert sns.items()[-1]["ContentType"] == CHAT_ENDED


async def test_endpoints_from_the_config() -> None:
    async with SnsEndpoint() as sns:
        config = EmulatorConfig(port=0, streaming_endpoints={TOPIC: [sns.url]})
        async with Emulator(config) as emulator, running_api(emulator.base_url) as api:
            connect, _ = aws_clients(emulator.base_url)
            customer = await api.customer()
            await asyncio.to_thread(start_streaming, connect, customer.contact_id)
            agent = await api.join(customer.contact_id, "AGENT")
            await api.send_message(agent, "hello from the agent")
            await sns.wait_for(2)
            joined, said = sns.items()
            assert joined["ContentType"].endswith("participant.joined") and joined["ParticipantRole"] == "AGENT"
            assert said["Content"] == "hello from the agent"


async def test_one_topic_can_fan_out_to_several_urls(api, emulator) -> None:
    async with SnsEndpoint() as one, SnsEndpoint() as two:
        await api.ok(
            "PUT", "/emulator/streaming-endpoints", {"StreamingEndpointArn": TOPIC, "Urls": [one.url, two.url]}
        )
        connect, _ = aws_clients(emulator.base_url)
        customer = await api.customer()
        await asyncio.to_thread(start_streaming, connect, customer.contact_id)
        sent = (await api.send_message(customer, "to both")).body["Id"]
        for endpoint in (one, two):
            await endpoint.wait_for(1)
            assert [item["Id"] for item in endpoint.items()] == [sent]


async def test_stop_contact_streaming_stops_it(api, emulator, sns) -> None:
    await api.ok("PUT", "/emulator/streaming-endpoints", {"StreamingEndpointArn": TOPIC, "Urls": [sns.url]})
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
    assert [i["Content"] for i in sns.items(stopped.contact_id)] == ["before stop"]
    assert [i["Content"] for i in sns.items(control.contact_id)] == ["control"]

    with pytest.raises(ClientError) as raised:  # stopping twice: the id is gone
        await asyncio.to_thread(stop_streaming, connect, stopped.contact_id, stopped_id)
    assert raised.value.response["Error"]["Code"] == "InvalidParameterException"


async def test_start_streaming_is_idempotent_on_the_client_token(api, emulator, sns) -> None:
    await api.ok("PUT", "/emulator/streaming-endpoints", {"StreamingEndpointArn": TOPIC, "Urls": [sns.url]})
    connect, _ = aws_clients(emulator.base_url)
    customer = await api.customer()
    first = await asyncio.to_thread(start_streaming, connect, customer.contact_id, TOPIC, "stream-once")
    again = await asyncio.to_thread(start_streaming, connect, customer.contact_id, TOPIC, "stream-once")
    assert again == first
    await api.send_message(customer, "once")
    await api.send_message(customer, "twice?")
    await sns.wait_for(2)
    assert [i["Content"] for i in sns.items()] == ["once", "twice?"]


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
    await api.ok("PUT", "/emulator/streaming-endpoints", {"StreamingEndpointArn": TOPIC, "Urls": [sns.url]})
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


@pytest.mark.parametrize("status", [500, 404])
async def test_a_failing_endpoint_does_not_fail_the_chat(api, emulator, status) -> None:
    async with SnsEndpoint(status=status) as sns:
        await api.ok("PUT", "/emulator/streaming-endpoints", {"StreamingEndpointArn": TOPIC, "Urls": [sns.url]})
        connect, _ = aws_clients(emulator.base_url)
        customer = await api.customer()
        await asyncio.to_thread(start_streaming, connect, customer.contact_id)
        assert (await api.send_message(customer, "into the void")).status == 200
        await sns.wait_for(1)
        assert any(i["Content"] == "into the void" for i in await api.transcript(customer) if i["Type"] == "MESSAGE")
