"""The eleven operations of the Amazon Connect Participant Service."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from aiohttp import web

from botkit.emulator.attachments import Attachments
from botkit.emulator.config import EmulatorConfig
from botkit.emulator.contacts import ContactCenter
from botkit.emulator.errors import PARTICIPANT, ServiceError, access_denied
from botkit.emulator.faults import Faults
from botkit.emulator.operations import Call, Operations
from botkit.emulator.transcript import page

WEBSOCKET_PATH = "/participant/websocket"


def public_base(request: web.Request, scheme: str = "http") -> str:
    """The address the caller reached us at; chatjs accepts 127.0.0.1 but not localhost."""
    host = request.host
    if host == "localhost" or host.startswith("localhost:"):
        host = "127.0.0.1" + host[len("localhost") :]
    return f"{scheme}://{host}"


class ParticipantApi:
    def __init__(self, center: ContactCenter, config: EmulatorConfig, faults: Faults, attachments: Attachments) -> None:
        self._center = center
        self._config = config
        self._attachments = attachments
        self._operations = Operations(PARTICIPANT, center, faults)

    def routes(self) -> list[web.RouteDef]:
        route = self._operations.route
        return [
            route("CreateParticipantConnection", self.create_participant_connection, token="participant"),
            route("SendMessage", self.send_message),
            route("SendEvent", self.send_event),
            route("GetTranscript", self.get_transcript),
            route("DisconnectParticipant", self.disconnect_participant),
            route("StartAttachmentUpload", self.start_attachment_upload),
            route("CompleteAttachmentUpload", self.complete_attachment_upload),
            route("GetAttachment", self.get_attachment),
            route("DescribeView", self.describe_view),
            route("GetAuthenticationUrl", self.get_authentication_url),
            route("CancelParticipantAuthentication", self.cancel_participant_authentication),
        ]

    async def create_participant_connection(self, call: Call) -> dict[str, Any]:
        return await self._center.connect(
            call.caller,
            call.params.get("Type") or [],
            bool(call.params.get("ConnectParticipant")),
            public_base(call.request, "ws") + WEBSOCKET_PATH,
        )

    async def send_message(self, call: Call) -> dict[str, Any]:
        return await self._center.send_message(call.caller, call.params["ContentType"], call.params["Content"])

    async def send_event(self, call: Call) -> dict[str, Any]:
        return await self._center.send_event(call.caller, call.params["ContentType"], call.params.get("Content"))

    async def get_transcript(self, call: Call) -> dict[str, Any]:
        contact = call.caller.contact
        wanted = call.params.get("ContactId")
        if wanted is not None and wanted not in (contact.contact_id, contact.initial_contact_id):
            raise access_denied()
        items, next_token = page(contact.transcript, contact.positions, call.params)
        reply: dict[str, Any] = {"InitialContactId": contact.initial_contact_id, "Transcript": items}
        if next_token:
            reply["NextToken"] = next_token
        return reply

    async def disconnect_participant(self, call: Call) -> dict[str, Any]:
        await self._center.leave(call.caller)
        return {}

    async def start_attachment_upload(self, call: Call) -> dict[str, Any]:
        return self._attachments.start_upload(call.caller, call.params, public_base(call.request))

    async def complete_attachment_upload(self, call: Call) -> dict[str, Any]:
        await self._attachments.complete_upload(call.caller, call.params["AttachmentIds"][0])
        return {}

    async def get_attachment(self, call: Call) -> dict[str, Any]:
        return self._attachments.download_url(call.caller, call.params, public_base(call.request))

    async def describe_view(self, call: Call) -> dict[str, Any]:
        token = call.params["ViewToken"]
        view = self._config.views.get(token)
        if view is None:
            raise ServiceError(
                "ResourceNotFoundException", "View not found", ResourceId=token[:256], ResourceType="CONTACT_FLOW"
            )
        return {"View": view}

    async def get_authentication_url(self, call: Call) -> dict[str, Any]:
        query = f"SessionId={quote(call.params['SessionId'])}&RedirectUri={quote(call.params['RedirectUri'], safe='')}"
        return {"AuthenticationUrl": f"{public_base(call.request)}/emulator/authenticate?{query}"}

    async def cancel_participant_authentication(self, call: Call) -> dict[str, Any]:
        return {}
