"""Attachments: upload slots, the local stand-in for S3's pre-signed URLs, and downloads."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from aiohttp import web

from botkit.connect import vocabulary as v
from botkit.emulator.config import ATTACHMENT_EXTENSIONS, EmulatorConfig
from botkit.emulator.contacts import Attachment, ContactCenter, Participant
from botkit.emulator.errors import ServiceError, access_denied
from botkit.emulator.wireformat import iso_in, new_id

UPLOAD_WINDOW = 300
CHUNK = 64 * 1024


@dataclass(slots=True)
class _Signed:
    attachment: Attachment
    expires: float


class Attachments:
    """Holds uploaded bytes in memory; URLs carry a random signature and an expiry, like S3's."""

    def __init__(self, center: ContactCenter, config: EmulatorConfig) -> None:
        self._center = center
        self._config = config
        self._uploads: dict[str, _Signed] = {}
        self._downloads: dict[str, _Signed] = {}

    def routes(self) -> list[web.RouteDef]:
        return [
            web.put("/emulator/attachments/upload/{signature}", self.receive_upload),
            web.get("/emulator/attachments/download/{signature}", self.serve_download),
        ]

    def start_upload(self, participant: Participant, params: dict[str, Any], base_url: str) -> dict[str, Any]:
        contact = participant.contact
        name = params["AttachmentName"]
        if PurePosixPath(name).suffix.lower() not in ATTACHMENT_EXTENSIONS:
            raise ServiceError("ValidationException", f"Attachment type not supported: {name[:100]}")
        size = params["AttachmentSizeInBytes"]
        if size > self._config.attachment_max_bytes:
            raise ServiceError(
                "ValidationException", f"Attachment size exceeds the limit of {self._config.attachment_max_bytes} bytes"
            )
        if len(contact.attachments) >= self._config.attachments_per_contact:
            raise ServiceError("ServiceQuotaExceededException", "Attachment quota for this contact exceeded")
        attachment = Attachment(new_id(), name, params["ContentType"], size, participant)
        contact.attachments[attachment.attachment_id] = attachment
        signature = secrets.token_urlsafe(32)
        self._uploads[signature] = _Signed(attachment, time.monotonic() + UPLOAD_WINDOW)
        return {
            "AttachmentId": attachment.attachment_id,
            "UploadMetadata": {
                "Url": f"{base_url}/emulator/attachments/upload/{signature}",
                "UrlExpiry": iso_in(UPLOAD_WINDOW),
                "HeadersToInclude": {
                    "Content-Type": attachment.content_type,
                    "Content-Disposition": f'attachment; filename="{_quoted(name)}"',
                },
            },
        }

    async def complete_upload(self, participant: Participant, attachment_id: str) -> None:
        attachment = participant.contact.attachments.get(attachment_id)
        if attachment is None or attachment.uploader is not participant:
            raise ServiceError("ValidationException", "Unknown attachment id")
        if attachment.data is None:
            raise ServiceError("ConflictException", "The attachment is still being uploaded")
        if attachment.completed:
            return
        attachment.completed = True
        contact = participant.contact
        item = contact.item(
            attachment.content_type,
            v.ATTACHMENT,
            participant,
            Attachments=[
                {
                    "ContentType": attachment.content_type,
                    "AttachmentId": attachment.attachment_id,
                    "AttachmentName": attachment.name,
                    "Status": v.APPROVED,
                }
            ],
        )
        await self._center.publish(contact, item)

    def download_url(self, participant: Participant, params: dict[str, Any], base_url: str) -> dict[str, Any]:
        if participant.role == v.CUSTOM_BOT:
            raise access_denied()
        attachment = participant.contact.attachments.get(params["AttachmentId"])
        if attachment is None or not attachment.completed:
            raise ServiceError("ValidationException", "Unknown attachment id")
        seconds = params.get("UrlExpiryInSeconds") or 5
        signature = secrets.token_urlsafe(32)
        self._downloads[signature] = _Signed(attachment, time.monotonic() + seconds)
        return {
            "Url": f"{base_url}/emulator/attachments/download/{signature}",
            "UrlExpiry": iso_in(seconds),
            "AttachmentSizeInBytes": attachment.size,
        }

    async def receive_upload(self, request: web.Request) -> web.Response:
        signed = self._uploads.get(request.match_info["signature"])
        if signed is None or signed.expires < time.monotonic():
            return _s3_error(403, "AccessDenied", "Request has expired or the signature is invalid")
        attachment = signed.attachment
        if request.headers.get("Content-Type") != attachment.content_type:
            return _s3_error(403, "SignatureDoesNotMatch", "Content-Type does not match HeadersToInclude")
        data = bytearray()
        async for chunk in request.content.iter_chunked(CHUNK):
            data += chunk
            if len(data) > attachment.size:
                return _s3_error(400, "EntityTooLarge", "Body is larger than AttachmentSizeInBytes")
        if len(data) != attachment.size:
            return _s3_error(400, "IncompleteBody", "Body size does not match AttachmentSizeInBytes")
        attachment.data = bytes(data)
        del self._uploads[request.match_info["signature"]]
        return web.Response(status=200)

    async def serve_download(self, request: web.Request) -> web.Response:
        signed = self._downloads.get(request.match_info["signature"])
        if signed is None or signed.expires < time.monotonic():
            return _s3_error(403, "AccessDenied", "Request has expired or the signature is invalid")
        attachment = signed.attachment
        return web.Response(
            body=attachment.data,
            content_type=attachment.content_type,
            headers={"Content-Disposition": f'attachment; filename="{_quoted(attachment.name)}"'},
        )


def _quoted(name: str) -> str:
    return name.replace("\\", "\\\\").replace('"', '\\"')


def _s3_error(status: int, code: str, message: str) -> web.Response:
    """S3 answers pre-signed URL trouble in XML; clients only look at the status."""
    body = f"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>{message}</Message></Error>"
    return web.Response(status=status, text=body, content_type="application/xml")
