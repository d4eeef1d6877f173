"""A bot on an emulator, and a customer that speaks to it the way AWS's own clients do (boto3 + a raw websocket)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import websockets
import yaml

from botkit.bot import BotProcess
from botkit.config import parse_config
from botkit.plugins import new_plugin_manager
from botkit.runtime.connection import ConnectionSettings
from tests.conftest import aws_clients

BASE_YAML = """
connect: {endpoint: embedded}
emulator: {port: 0}
server: {port: 0}
receipts: {throttle_seconds: 0}
runtime: {handler_timeout: 5, slow_handler_seconds: 1}
"""

TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:botkit-chat"
TRANSPORT_YAML = {
    "websocket": "transport: websocket",
    "streaming": f"transport: streaming\nstreaming: {{topic_arn: '{TOPIC_ARN}'}}",
}
SNS_RETRY_DELAY_FACTOR = 0.005
"""SNS retries 20 s apart; 0.1 s in tests."""


@asynccontextmanager
async def running_bot(
    plugins: Iterable[object],
    extra_yaml: str = "",
    *,
    connection: ConnectionSettings | None = None,
    transport: str = "websocket",
    emulator: dict[str, Any] | None = None,
) -> AsyncIterator[BotProcess]:
    """A bot process with an embedded emulator on free ports and the given plugin objects.

    `extra_yaml` is merged over the base config; `connection` (heartbeat, backoff) is not in bot.yaml.
    `transport` is bot.yaml's (websocket or streaming, on a topic the bot binds its SNS route to itself).
    `emulator` sets EmulatorConfig fields of the embedded emulator (SNS retries are 0.1 s apart by default here).
    """
    manager = new_plugin_manager()
    for number, plugin in enumerate(plugins):
        manager.register(plugin, name=f"test-plugin-{number}")
    layers = [BASE_YAML, TRANSPORT_YAML[transport], extra_yaml]
    merged: dict[str, Any] = {}
    for layer in layers:
        merged = _merged(merged, yaml.safe_load(layer) or {})
    config = parse_config(yaml.safe_dump(merged))
    overrides = {"sns_retry_delay_factor": SNS_RETRY_DELAY_FACTOR, **(emulator or {})}
    async with BotProcess(config, manager, connection_settings=connection, emulator_overrides=overrides) as bot:
        yield bot


def _merged(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """`extra` over `base`, section by section, so extra_yaml may add to a section the base sets."""
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merged(merged[key], value)
        else:
            merged[key] = value
    return merged


class Customer:
    """A chat customer: boto3 for REST (in a thread, the emulator shares this loop) and a subscribed websocket."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.connect, self.participant = aws_clients(base_url)
        self.items: list[dict[str, Any]] = []
        self._changed = asyncio.Condition()
        self._reader: asyncio.Task[None] | None = None
        self.contact_id = ""
        self.participant_id = ""
        self.token = ""

    async def start(self, *, initial_message: str | None = None, supported: list[str] | None = None) -> None:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{self.base_url}/emulator/info") as answer:
                info = await answer.json()
        request: dict[str, Any] = {
            "InstanceId": info["instanceId"],
            "ContactFlowId": info["contactFlowId"],
            "ParticipantDetails": {"DisplayName": "Ada"},
        }
        if initial_message:
            request["InitialMessage"] = {"ContentType": "text/plain", "Content": initial_message}
        if supported:
            request["SupportedMessagingContentTypes"] = supported
        chat = await asyncio.to_thread(lambda: self.connect.start_chat_contact(**request))
        self.contact_id, self.participant_id = chat["ContactId"], chat["ParticipantId"]
        await self.open(chat["ParticipantToken"])

    async def open(self, participant_token: str) -> None:
        connection = await asyncio.to_thread(
            lambda: self.participant.create_participant_connection(
                ParticipantToken=participant_token, Type=["WEBSOCKET", "CONNECTION_CREDENTIALS"]
            )
        )
        self.token = connection["ConnectionCredentials"]["ConnectionToken"]
        socket = await websockets.connect(connection["Websocket"]["Url"])
        await socket.send(json.dumps({"topic": "aws/subscribe", "content": {"topics": ["aws/chat"]}}))
        assert json.loads(await asyncio.wait_for(socket.recv(), 5))["content"]["status"] == "success"
        self._reader = asyncio.create_task(self._read(socket))

    async def _read(self, socket: Any) -> None:
        async with socket:
            async for frame in socket:
                decoded = json.loads(frame)
                if decoded.get("topic") == "aws/chat":
                    async with self._changed:
                        self.items.append(json.loads(decoded["content"]))
                        self._changed.notify_all()

    async def send(self, text: str, content_type: str = "text/plain") -> str:
        answer = await asyncio.to_thread(
            lambda: self.participant.send_message(ConnectionToken=self.token, ContentType=content_type, Content=text)
        )
        return answer["Id"]

    async def typing(self) -> None:
        await asyncio.to_thread(
            lambda: self.participant.send_event(
                ConnectionToken=self.token, ContentType="application/vnd.amazonaws.connect.event.typing"
            )
        )

    async def transcript(self) -> list[dict[str, Any]]:
        """The whole transcript, oldest first, through boto3's paginator-free paging."""
        items: list[dict[str, Any]] = []
        request: dict[str, Any] = {"ConnectionToken": self.token, "ScanDirection": "FORWARD", "SortOrder": "ASCENDING"}
        while True:
            page = await asyncio.to_thread(lambda: self.participant.get_transcript(**request, MaxResults=100))
            items.extend(page["Transcript"])
            if not page.get("NextToken"):
                return items
            request["NextToken"] = page["NextToken"]

    async def wait_for_transcript(
        self, condition: Callable[[list[dict[str, Any]]], bool], timeout: float = 10
    ) -> list[dict[str, Any]]:
        """Wait until the transcript satisfies `condition`, re-reading it whenever a live item arrives.

        For what may have happened before this customer's socket subscribed (the bot can be quicker).
        """
        async with asyncio.timeout(timeout):
            while True:
                items = await self.transcript()
                if condition(items):
                    return items
                async with self._changed:
                    try:
                        await asyncio.wait_for(self._changed.wait(), 0.5)
                    except TimeoutError:
                        pass

    async def read_receipt(self, message_id: str) -> None:
        await asyncio.to_thread(
            lambda: self.participant.send_event(
                ConnectionToken=self.token,
                ContentType="application/vnd.amazonaws.connect.event.message.read",
                Content=json.dumps({"messageId": message_id}),
            )
        )

    async def disconnect(self) -> None:
        await asyncio.to_thread(lambda: self.participant.disconnect_participant(ConnectionToken=self.token))

    def bot_messages(self) -> list[str]:
        return [i["Content"] for i in self.items if i["Type"] == "MESSAGE" and i.get("ParticipantRole") == "CUSTOM_BOT"]

    async def wait_for(self, condition: Callable[[list[dict[str, Any]]], bool], timeout: float = 10) -> None:
        async with asyncio.timeout(timeout):
            async with self._changed:
                await self._changed.wait_for(lambda: condition(self.items))

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)


async def join_human(base_url: str, contact_id: str, role: str, name: str) -> dict[str, str]:
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{base_url}/emulator/contacts/{contact_id}/participants",
            json={"ParticipantRole": role, "DisplayName": name},
        ) as answer:
            assert answer.status == 200, await answer.text()
            return await answer.json()
