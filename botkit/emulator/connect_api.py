"""The subset of the `connect` control plane that starts, joins, streams, hands off and stops chats."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from botkit.emulator.config import EmulatorConfig
from botkit.emulator.contacts import Contact, ContactCenter
from botkit.emulator.errors import CONNECT, ServiceError
from botkit.emulator.faults import Faults
from botkit.emulator.operations import Call, Operations
from botkit.emulator.sigv4 import SignatureChecker
from botkit.emulator.streaming import Streaming


class ConnectApi:
    """Signatures are checked only when `config.sigv4` names a key; otherwise any is accepted."""

    def __init__(self, center: ContactCenter, config: EmulatorConfig, faults: Faults, streaming: Streaming) -> None:
        self._center = center
        self._config = config
        self._streaming = streaming
        signatures = SignatureChecker(config.sigv4, config.region) if config.sigv4 is not None else None
        self._operations = Operations(CONNECT, center, faults, signatures)

    def routes(self) -> list[web.RouteDef]:
        route = self._operations.route
        return [
            route("StartChatContact", self.start_chat_contact, token="none"),
            route("CreateParticipant", self.create_participant, token="none"),
            route("StopContact", self.stop_contact, token="none"),
            route("DescribeContact", self.describe_contact, token="none"),
            route("StartContactStreaming", self.start_contact_streaming, token="none"),
            route("StopContactStreaming", self.stop_contact_streaming, token="none"),
            route("UpdateContactAttributes", self.update_contact_attributes, token="none"),
            route("GetContactAttributes", self.get_contact_attributes, token="none"),
        ]

    async def start_chat_contact(self, call: Call) -> dict[str, Any]:
        return await self._center.start_chat(call.params)

    async def create_participant(self, call: Call) -> dict[str, Any]:
        return await self._center.add_custom_bot(call.params)

    async def stop_contact(self, call: Call) -> dict[str, Any]:
        self._center.check_instance(call.params["InstanceId"])
        contact = self._center.contacts.get(call.params["ContactId"])
        if contact is None or contact.ended:
            raise ServiceError("ContactNotFoundException", "Contact not found or already ended", service=CONNECT)
        await self._center.end_chat(contact)
        return {}

    async def describe_contact(self, call: Call) -> dict[str, Any]:
        contact = self._contact(call)
        described: dict[str, Any] = {
            "Arn": f"{self._config.instance_arn}/contact/{contact.contact_id}",
            "Id": contact.contact_id,
            "InitialContactId": contact.initial_contact_id,
            "InitiationMethod": "API",
            "Channel": "CHAT",
            "InitiationTimestamp": contact.started_at,
            "LastUpdateTimestamp": contact.ended_at or contact.started_at,
            "Attributes": contact.attributes,
        }
        if contact.ended_at is not None:
            described["DisconnectTimestamp"] = contact.ended_at
        return {"Contact": described}

    async def start_contact_streaming(self, call: Call) -> dict[str, Any]:
        return {"StreamingId": await self._streaming.start(self._contact(call), call.params)}

    async def stop_contact_streaming(self, call: Call) -> dict[str, Any]:
        contact = self._contact(call)
        self._streaming.stop(contact, call.params["StreamingId"])
        return {}

    async def update_contact_attributes(self, call: Call) -> dict[str, Any]:
        self._center.check_instance(call.params["InstanceId"])
        contact = self._center.contact_by_initial_id(call.params["InitialContactId"])
        self._center.update_attributes(contact, call.params["Attributes"])
        return {}

    async def get_contact_attributes(self, call: Call) -> dict[str, Any]:
        self._center.check_instance(call.params["InstanceId"])
        return {"Attributes": dict(self._center.contact_by_initial_id(call.params["InitialContactId"]).attributes)}

    def _contact(self, call: Call) -> Contact:
        self._center.check_instance(call.params["InstanceId"])
        return self._center.contact(call.params["ContactId"])
