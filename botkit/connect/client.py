"""The async participant client: the eleven REST operations of the participant service."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import quote

import aiohttp

from botkit.connect.errors import (
    MalformedResponseError,
    parse_error,
)
from botkit.connect.models import (
    AttachmentUrl,
    ConnectionDetails,
    Item,
    SendResult,
    StartPosition,
    TranscriptPage,
    UploadTarget,
    View,
)
from botkit.connect.outbound import client_session
from botkit.connect.retry import CallObserver, RetryPolicy, RetryScope, retrying
from botkit.connect.secrets import Secret
from botkit.connect.vocabulary import CONNECTION_CREDENTIALS, TEXT_PLAIN, WEBSOCKET

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_TIMEOUT = aiohttp.ClientTimeout(total=30, sock_connect=10)
SERVICE = "participant"
"""How this client names its service to a CallObserver."""


@dataclass(frozen=True, slots=True)
class Operation:
    """An operation's name and HTTP binding, as in botocore's `connectparticipant` model."""

    name: str
    method: str
    path: str


CREATE_PARTICIPANT_CONNECTION = Operation(
    "CreateParticipantConnection", "POST", "/participant/connection"
)
SEND_MESSAGE = Operation("SendMessage", "POST", "/participant/message")
SEND_EVENT = Operation("SendEvent", "POST", "/participant/event")
GET_TRANSCRIPT = Operation("GetTranscript", "POST", "/participant/transcript")
DISCONNECT_PARTICIPANT = Operation("DisconnectParticipant", "POST", "/participant/disconnect")
START_ATTACHMENT_UPLOAD = Operation(
    "StartAttachmentUpload", "POST", "/participant/start-attachment-upload"
)
COMPLETE_ATTACHMENT_UPLOAD = Operation(
    "CompleteAttachmentUpload", "POST", "/participant/complete-attachment-upload"
)
GET_ATTACHMENT = Operation("GetAttachment", "POST", "/participant/attachment")
DESCRIBE_VIEW = Operation("DescribeView", "GET", "/participant/views/{ViewToken}")
GET_AUTHENTICATION_URL = Operation(
    "GetAuthenticationUrl", "POST", "/participant/authentication-url"
)
CANCEL_PARTICIPANT_AUTHENTICATION = Operation(
    "CancelParticipantAuthentication", "POST", "/participant/cancel-authentication"
)

OPERATIONS: tuple[Operation, ...] = (
    CREATE_PARTICIPANT_CONNECTION,
    SEND_MESSAGE,
    SEND_EVENT,
    GET_TRANSCRIPT,
    DISCONNECT_PARTICIPANT,
    START_ATTACHMENT_UPLOAD,
    COMPLETE_ATTACHMENT_UPLOAD,
    GET_ATTACHMENT,
    DESCRIBE_VIEW,
    GET_AUTHENTICATION_URL,
    CANCEL_PARTICIPANT_AUTHENTICATION,
)


def _members(**members: Any) -> dict[str, Any]:
    """A request body holding only the members that are set."""
    return {key: value for key, value in members.items() if value is not None}


def _client_token(client_token: str | None) -> str:
    """The caller's token, or a fresh one: made once per logical call so retries stay idempotent."""
    return client_token if client_token is not None else str(uuid.uuid4())


def _authentication_url(d: Mapping[str, Any]) -> str:
    return str(d["AuthenticationUrl"])


def _nothing(_: Mapping[str, Any]) -> None:
    """Parser of the operations whose output is `{}`."""


class ParticipantClient:
    """Calls the participant service over one pooled aiohttp session, retrying transient failures.

    Authentication is the `X-Amz-Bearer` header alone; every method takes its token explicitly,
    so one client serves every participant and contact of the process.
    """

    def __init__(
        self,
        endpoint: str,
        *,
        retry: RetryPolicy | None = None,
        session: aiohttp.ClientSession | None = None,
        timeout: aiohttp.ClientTimeout = DEFAULT_TIMEOUT,
        observer: CallObserver | None = None,
    ) -> None:
        """`observer` hears of every attempt and logical call (operation and outcome), for metrics."""
        self.endpoint = endpoint.rstrip("/")
        self.retry = retry if retry is not None else RetryPolicy()
        self.timeout = timeout
        self._observer = observer
        self._session = session
        self._owns_session = session is None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the session if this client made it; a session passed in belongs to the caller."""
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        """The shared session, created on first use (inside the running loop, as aiohttp wants)."""
        if self._session is None:
            self._session = client_session(self.endpoint)
        return self._session

    async def _call(
        self,
        operation: Operation,
        token: Secret,
        parse: Callable[[Mapping[str, Any]], T],
        body: Mapping[str, Any] | None = None,
        *,
        path: str | None = None,
    ) -> T:
        """One logical call: the same bytes again on throttling, 5xx and network failures (see `retrying`)."""
        url = self.endpoint + (path or operation.path)
        headers = {"X-Amz-Bearer": token.reveal()}
        data = None
        if body is not None:
            data = json.dumps(body, separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json"

        async def attempt(_: float | None) -> T:
            async with self._http().request(
                operation.method, url, data=data, headers=headers, timeout=self.timeout
            ) as response:
                status = response.status
                raw = await response.read()
                response_headers = response.headers
            if status >= 300:
                raise parse_error(status, response_headers, raw, operation=operation.name, token=token)
            log.debug(
                "%s answered %d (request id %s)",
                operation.name,
                status,
                response_headers.get("x-amzn-RequestId"),
            )
            return self._parse_success(operation, status, response_headers, raw, parse)

        scope = RetryScope(SERVICE, self.retry, log, self._observer, token.redact)
        return await retrying(scope, operation.name, attempt)

    @staticmethod
    def _parse_success(
        operation: Operation,
        status: int,
        headers: Mapping[str, str],
        raw: bytes,
        parse: Callable[[Mapping[str, Any]], T],
    ) -> T:
        """The operation's output, or MalformedResponseError if the body is not what it promises."""
        try:
            body = json.loads(raw) if raw.strip() else {}
            if not isinstance(body, dict):
                raise TypeError(f"expected a JSON object, got {type(body).__name__}")
            return parse(body)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise MalformedResponseError(
                status,
                "MalformedResponse",
                f"unexpected body: {type(exc).__name__}: {exc}",
                headers.get("x-amzn-RequestId"),
                operation=operation.name,
            ) from exc

    async def create_participant_connection(
        self,
        participant_token: Secret,
        *,
        types: Sequence[str] | None = (WEBSOCKET, CONNECTION_CREDENTIALS),
        connect_participant: bool | None = None,
    ) -> ConnectionDetails:
        """A websocket URL and/or a ConnectionToken; call again at any time for fresh ones."""
        body = _members(Type=list(types) if types else None, ConnectParticipant=connect_participant)
        return await self._call(
            CREATE_PARTICIPANT_CONNECTION, participant_token, ConnectionDetails.from_wire, body
        )

    async def send_message(
        self,
        connection_token: Secret,
        content: str,
        content_type: str = TEXT_PLAIN,
        *,
        client_token: str | None = None,
    ) -> SendResult:
        """Post a message to the chat; the ClientToken makes retries deliver it once."""
        body = _members(
            ContentType=content_type, Content=content, ClientToken=_client_token(client_token)
        )
        return await self._call(SEND_MESSAGE, connection_token, SendResult.from_wire, body)

    async def send_event(
        self,
        connection_token: Secret,
        content_type: str,
        content: str | None = None,
        *,
        client_token: str | None = None,
    ) -> SendResult:
        """Typing or a receipt (`content` = `{"messageId": ...}`); receipts 409 beyond two."""
        body = _members(
            ContentType=content_type, Content=content, ClientToken=_client_token(client_token)
        )
        return await self._call(SEND_EVENT, connection_token, SendResult.from_wire, body)

    async def get_transcript(
        self,
        connection_token: Secret,
        *,
        contact_id: str | None = None,
        max_results: int | None = None,
        next_token: str | None = None,
        scan_direction: str | None = None,
        sort_order: str | None = None,
        start_position: StartPosition | None = None,
    ) -> TranscriptPage:
        """One page of the transcript; see `iter_transcript` to follow NextToken."""
        position = start_position.to_wire() if start_position is not None else None
        body = _members(
            ContactId=contact_id,
            MaxResults=max_results,
            NextToken=next_token,
            ScanDirection=scan_direction,
            SortOrder=sort_order,
            StartPosition=position or None,
        )
        return await self._call(GET_TRANSCRIPT, connection_token, TranscriptPage.from_wire, body)

    async def iter_transcript(
        self,
        connection_token: Secret,
        *,
        contact_id: str | None = None,
        max_results: int | None = None,
        scan_direction: str | None = None,
        sort_order: str | None = None,
        start_position: StartPosition | None = None,
    ) -> AsyncIterator[Item]:
        """Every item of every page, following NextToken until the service stops giving one."""
        next_token: str | None = None
        while True:
            page = await self.get_transcript(
                connection_token,
                contact_id=contact_id,
                max_results=max_results,
                next_token=next_token,
                scan_direction=scan_direction,
                sort_order=sort_order,
                start_position=start_position,
            )
            for item in page.items:
                yield item
            if page.next_token is None or page.next_token == next_token:
                return
            next_token = page.next_token

    async def disconnect_participant(
        self, connection_token: Secret, *, client_token: str | None = None
    ) -> None:
        """Leave the chat; others see participant.left (a customer leaving ends the chat)."""
        body = _members(ClientToken=_client_token(client_token))
        await self._call(DISCONNECT_PARTICIPANT, connection_token, _nothing, body)

    async def start_attachment_upload(
        self,
        connection_token: Secret,
        content_type: str,
        attachment_size_in_bytes: int,
        attachment_name: str,
        *,
        client_token: str | None = None,
    ) -> UploadTarget:
        """An attachment Id and the pre-signed URL to PUT its bytes to."""
        body = _members(
            ContentType=content_type,
            AttachmentSizeInBytes=attachment_size_in_bytes,
            AttachmentName=attachment_name,
            ClientToken=_client_token(client_token),
        )
        return await self._call(
            START_ATTACHMENT_UPLOAD, connection_token, UploadTarget.from_wire, body
        )

    async def complete_attachment_upload(
        self, connection_token: Secret, attachment_id: str, *, client_token: str | None = None
    ) -> None:
        """Tell the service the bytes are uploaded, so the attachment is posted to the chat."""
        body = _members(AttachmentIds=[attachment_id], ClientToken=_client_token(client_token))
        await self._call(COMPLETE_ATTACHMENT_UPLOAD, connection_token, _nothing, body)

    async def get_attachment(
        self,
        connection_token: Secret,
        attachment_id: str,
        *,
        url_expiry_in_seconds: int | None = None,
        url_content_disposition: str | None = None,
    ) -> AttachmentUrl:
        """A pre-signed download URL (a CUSTOM_BOT participant gets AccessDenied)."""
        body = _members(
            AttachmentId=attachment_id,
            UrlExpiryInSeconds=url_expiry_in_seconds,
            UrlContentDisposition=url_content_disposition,
        )
        return await self._call(GET_ATTACHMENT, connection_token, AttachmentUrl.from_wire, body)

    async def describe_view(self, connection_token: Secret, view_token: str) -> View:
        """A view's template and actions; the token is one path segment, so '/' is encoded too."""
        path = DESCRIBE_VIEW.path.replace("{ViewToken}", quote(view_token, safe=""))
        return await self._call(DESCRIBE_VIEW, connection_token, View.from_wire, path=path)

    async def get_authentication_url(
        self, connection_token: Secret, session_id: str, redirect_uri: str
    ) -> str:
        """The URL where the customer authenticates for the flow's authentication session."""
        body = _members(SessionId=session_id, RedirectUri=redirect_uri)
        return await self._call(GET_AUTHENTICATION_URL, connection_token, _authentication_url, body)

    async def cancel_participant_authentication(
        self, connection_token: Secret, session_id: str
    ) -> None:
        """Abandon an authentication session started by the flow."""
        body = _members(SessionId=session_id)
        await self._call(CANCEL_PARTICIPANT_AUTHENTICATION, connection_token, _nothing, body)
