"""Message streaming: AWS's documented custom-bot transport, items POSTed as SNS notifications.

An SNS topic ARN is bound to local HTTP endpoints in the emulator's config
(`streaming_endpoints`) or at run time; every item of a streamed contact then
reaches them as the `Message` of an SNS `Notification`, in order.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp

from botkit.emulator.config import EmulatorConfig
from botkit.emulator.contacts import Contact, ContactCenter
from botkit.emulator.errors import CONNECT, ServiceError
from botkit.emulator.wireformat import dumps, iso_ms, new_id, utcnow

log = logging.getLogger(__name__)

POST_TIMEOUT = aiohttp.ClientTimeout(total=5)


class Streaming:
    def __init__(self, center: ContactCenter, config: EmulatorConfig) -> None:
        self._config = config
        self._streams: dict[str, dict[str, str]] = {}
        self._tokens: dict[str, dict[str, str]] = {}
        self._http: aiohttp.ClientSession | None = None
        center.add_listener(self.deliver)
        center.on_contact_forgotten(self._forget)

    def start(self, contact: Contact, topic_arn: str, client_token: str) -> str:
        if topic_arn not in self._config.streaming_endpoints:
            raise ServiceError(
                "InvalidParameterException", f"No streaming endpoint is configured for {topic_arn}", service=CONNECT
            )
        known = self._tokens.get(contact.contact_id, {}).get(client_token)
        if known is not None:
            return known
        streaming_id = new_id()
        self._streams.setdefault(contact.contact_id, {})[streaming_id] = topic_arn
        self._tokens.setdefault(contact.contact_id, {})[client_token] = streaming_id
        return streaming_id

    def _forget(self, contact: Contact) -> None:
        self._streams.pop(contact.contact_id, None)
        self._tokens.pop(contact.contact_id, None)

    def stop(self, contact: Contact, streaming_id: str) -> None:
        if self._streams.get(contact.contact_id, {}).pop(streaming_id, None) is None:
            raise ServiceError("InvalidParameterException", "Unknown StreamingId", service=CONNECT)

    async def deliver(self, contact: Contact, item: dict[str, Any]) -> None:
        for topic_arn in self._streams.get(contact.contact_id, {}).values():
            for url in self._config.streaming_endpoints.get(topic_arn, []):
                await self._post(url, topic_arn, item)

    async def _post(self, url: str, topic_arn: str, item: dict[str, Any]) -> None:
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=POST_TIMEOUT)
        notification = {
            "Type": "Notification",
            "MessageId": new_id(),
            "TopicArn": topic_arn,
            "Message": dumps(item),
            "Timestamp": iso_ms(utcnow()),
            "SignatureVersion": "1",
            "MessageAttributes": {
                "ContactId": {"Type": "String", "Value": item["ContactId"]},
                "ContentType": {"Type": "String", "Value": item["ContentType"]},
                "Type": {"Type": "String", "Value": item["Type"]},
            },
        }
        headers = {"x-amz-sns-message-type": "Notification", "x-amz-sns-topic-arn": topic_arn}
        try:
            async with self._http.post(url, json=notification, headers=headers) as response:
                if response.status >= 300:
                    log.warning("streaming endpoint %s answered %s", url, response.status)
        except (aiohttp.ClientError, asyncio.TimeoutError) as error:
            log.warning("streaming endpoint %s unreachable: %s", url, error)

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
