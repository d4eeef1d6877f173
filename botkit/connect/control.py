"""The `connect` calls a bot needs: join a contact as a custom bot, set its attributes, start and stop chats.

Every call is retried as participant calls are (throttling, 5xx, time-outs, lost answers), with the
same ClientToken and the same bytes, inside the caller's deadline: a throttled CreateParticipant must
not become a contact the bot never joins.

These calls are SigV4-signed by botocore (signing name `connect`). Against the
emulator any signature is accepted, so placeholder credentials are used and
no credential lookup (which could reach for instance metadata) ever runs.
Refreshable credentials may refresh over the network, so they are frozen in a
worker thread, never on the event loop. Every call is bounded by seconds, not
aiohttp's five minutes, so an intake can answer within its own deadline.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from botkit.connect.errors import parse_error
from botkit.connect.models import parse_time
from botkit.connect.outbound import client_session
from botkit.connect.retry import CallObserver, RetryPolicy, RetryScope, retrying
from botkit.connect.secrets import Secret

PLACEHOLDER_CREDENTIALS = Credentials("AKIDPLACEHOLDER", "placeholder-secret")
DEFAULT_CONNECT_TIMEOUT = 3.0
DEFAULT_ATTEMPT_TIMEOUT = 5.0
DEFAULT_TOTAL_TIMEOUT = 10.0
SERVICE = "connect"
"""How this client names its service to a CallObserver."""

log = logging.getLogger(__name__)

ATTRIBUTES_MAX_BYTES = 32_768
"""Connect's limit: "up to 32,768 UTF-8 bytes across all attributes for a contact"."""
_ATTRIBUTE_KEY = re.compile(r"[A-Za-z0-9_-]+")

# botocore's signer logs the canonical request at DEBUG, session-token header included.
logging.getLogger("botocore.auth").setLevel(logging.INFO)


@dataclass(frozen=True, slots=True)
class JoinedParticipant:
    participant_id: str
    participant_token: Secret
    expiry: datetime | None = None
    """When the participant's credentials expire: a custom bot must connect before then."""


@dataclass(frozen=True, slots=True)
class StartedChat:
    contact_id: str
    participant_id: str
    participant_token: Secret


class ControlPlaneClient:
    def __init__(
        self,
        endpoint: str,
        region: str,
        credentials: Credentials | None = None,
        session: aiohttp.ClientSession | None = None,
        *,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        attempt_timeout: float = DEFAULT_ATTEMPT_TIMEOUT,
        total_timeout: float = DEFAULT_TOTAL_TIMEOUT,
        retry: RetryPolicy | None = None,
        observer: CallObserver | None = None,
    ) -> None:
        """`total_timeout` bounds every logical call, all its attempts and pauses; a call's `timeout` may narrow it.

        `attempt_timeout` bounds one attempt, so an answer lost on a silent connection leaves time to try
        again. `retry` is the participant client's policy; `observer` hears of every attempt and call.
        """
        self.endpoint = endpoint.rstrip("/")
        self._region = region
        self._credentials = credentials or PLACEHOLDER_CREDENTIALS
        self._connect_timeout = connect_timeout
        self._attempt_timeout = attempt_timeout
        self._total_timeout = total_timeout
        self._retry_scope = RetryScope(SERVICE, retry if retry is not None else RetryPolicy(), log, observer)
        self._session = session
        self._owns_session = session is None

    async def create_participant(
        self,
        instance_id: str,
        contact_id: str,
        display_name: str,
        client_token: str | None = None,
        *,
        timeout: float | None = None,
    ) -> JoinedParticipant:
        """CreateParticipant as CUSTOM_BOT; the bot must then connect with ConnectParticipant within 15 s.

        The same `client_token` and request get the first answer again, even from another process."""
        answer = await self._call(
            "POST",
            "/contact/create-participant",
            {
                "InstanceId": instance_id,
                "ContactId": contact_id,
                "ClientToken": client_token or str(uuid.uuid4()),
                "ParticipantDetails": {"ParticipantRole": "CUSTOM_BOT", "DisplayName": display_name},
            },
            "CreateParticipant",
            timeout,
        )
        credentials = answer["ParticipantCredentials"]
        return JoinedParticipant(
            answer["ParticipantId"], Secret(credentials["ParticipantToken"]), parse_time(credentials.get("Expiry"))
        )

    async def start_chat_contact(
        self,
        instance_id: str,
        contact_flow_id: str,
        display_name: str,
        *,
        initial_message: str | None = None,
        attributes: dict[str, str] | None = None,
        supported_content_types: list[str] | None = None,
        timeout: float | None = None,
    ) -> StartedChat:
        body: dict[str, Any] = {
            "InstanceId": instance_id,
            "ContactFlowId": contact_flow_id,
            "ParticipantDetails": {"DisplayName": display_name},
            "ClientToken": str(uuid.uuid4()),
        }
        if initial_message:
            body["InitialMessage"] = {"ContentType": "text/plain", "Content": initial_message}
        if attributes:
            body["Attributes"] = attributes
        if supported_content_types:
            body["SupportedMessagingContentTypes"] = supported_content_types
        answer = await self._call("PUT", "/contact/chat", body, "StartChatContact", timeout)
        return StartedChat(answer["ContactId"], answer["ParticipantId"], Secret(answer["ParticipantToken"]))

    async def update_contact_attributes(
        self, instance_id: str, initial_contact_id: str, attributes: Mapping[str, str], *, timeout: float | None = None
    ) -> None:
        """UpdateContactAttributes: set (merge) the contact's attributes, which the contact flow routes on.

        Keyed, like the service, on the InitialContactId: the id the chat had when it started, before any transfer.
        """
        await self._call(
            "POST",
            "/contact/attributes",
            {
                "InstanceId": instance_id,
                "InitialContactId": initial_contact_id,
                "Attributes": checked_attributes(attributes),
            },
            "UpdateContactAttributes",
            timeout,
        )

    async def start_contact_streaming(
        self,
        instance_id: str,
        contact_id: str,
        topic_arn: str,
        client_token: str | None = None,
        *,
        timeout: float | None = None,
    ) -> str:
        """StartContactStreaming: every item of the chat is then published to the SNS topic `topic_arn`.

        Returns the StreamingId, which StopContactStreaming needs. AWS's order for a custom bot on
        streaming is this call, then CreateParticipant, then CreateParticipantConnection.
        """
        answer = await self._call(
            "POST",
            "/contact/start-streaming",
            {
                "InstanceId": instance_id,
                "ContactId": contact_id,
                "ChatStreamingConfiguration": {"StreamingEndpointArn": topic_arn},
                "ClientToken": client_token or str(uuid.uuid4()),
            },
            "StartContactStreaming",
            timeout,
        )
        return str(answer["StreamingId"])

    async def stop_contact_streaming(
        self, instance_id: str, contact_id: str, streaming_id: str, *, timeout: float | None = None
    ) -> None:
        """StopContactStreaming: the chat's items are no longer published for this StreamingId."""
        body = {"InstanceId": instance_id, "ContactId": contact_id, "StreamingId": streaming_id}
        await self._call("POST", "/contact/stop-streaming", body, "StopContactStreaming", timeout)

    async def stop_contact(self, instance_id: str, contact_id: str, *, timeout: float | None = None) -> None:
        body = {"InstanceId": instance_id, "ContactId": contact_id}
        await self._call("POST", "/contact/stop", body, "StopContact", timeout)

    async def _call(
        self, method: str, path: str, body: dict[str, Any], operation: str, timeout: float | None
    ) -> dict[str, Any]:
        """One logical call, retried as `retrying` does, over within `timeout` (or the client's total).

        The body, ClientToken included, is encoded once, so every attempt sends the same bytes; each
        attempt is signed afresh, since a SigV4 signature carries its time.
        """
        bound = self._total_timeout if timeout is None else min(timeout, self._total_timeout)
        data = json.dumps(body).encode()

        async def attempt(remaining: float | None) -> dict[str, Any]:
            return await self._signed_call(method, path, data, operation, remaining if remaining is not None else bound)

        return await retrying(self._retry_scope, operation, attempt, timeout=bound)

    async def _signed_call(self, method: str, path: str, data: bytes, operation: str, remaining: float) -> dict[str, Any]:
        url = self.endpoint + path
        request = AWSRequest(method=method, url=url, data=data, headers={"Content-Type": "application/json"})
        # RefreshableCredentials may refresh here (STS, instance metadata): a blocking call, kept off the loop.
        frozen = await asyncio.to_thread(self._credentials.get_frozen_credentials)
        SigV4Auth(frozen, "connect", self._region).add_auth(request)
        if self._session is None:
            self._session = client_session(self.endpoint)
        bound = min(remaining, self._attempt_timeout)
        timeout = aiohttp.ClientTimeout(total=bound, sock_connect=min(self._connect_timeout, bound))
        async with self._session.request(method, url, data=data, headers=dict(request.headers), timeout=timeout) as response:
            raw = await response.read()
            if response.status >= 300:
                raise parse_error(response.status, response.headers, raw, operation=operation)
            return json.loads(raw or b"{}")

    async def answers(self, *, timeout: float) -> bool:
        """Whether the `connect` endpoint gives any HTTP answer to a signed GET of its root: a reachability probe.

        Signed like every call, so a VPC endpoint or proxy that refuses anonymous requests still counts as reachable.
        """
        url = self.endpoint + "/"
        request = AWSRequest(method="GET", url=url)
        try:
            async with asyncio.timeout(timeout):
                frozen = await asyncio.to_thread(self._credentials.get_frozen_credentials)
                SigV4Auth(frozen, "connect", self._region).add_auth(request)
                if self._session is None:
                    self._session = client_session(self.endpoint)
                async with self._session.get(url, headers=dict(request.headers)):
                    return True
        except (aiohttp.ClientError, TimeoutError):
            return False

    async def close(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None


def checked_attributes(attributes: Mapping[str, str]) -> dict[str, str]:
    """A copy of contact attributes as Connect takes them, or an error naming the problem before any call is made.

    Strings to strings; names of letters, digits, `-` and `_`; at most 32,768 UTF-8 bytes in all (the
    service counts the contact's other attributes too, so it may still refuse a set within that).
    """
    if not isinstance(attributes, Mapping):
        raise TypeError(f"contact attributes must be a mapping of str to str, not {type(attributes).__name__}")
    checked: dict[str, str] = {}
    for key, value in attributes.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(
                f"contact attributes must map str to str: {key!r:.60} maps"
                f" {type(key).__name__} to {type(value).__name__}"
            )
        if not _ATTRIBUTE_KEY.fullmatch(key):
            raise ValueError(f"contact attribute names take only letters, digits, '-' and '_': {key!r:.60}")
        checked[key] = value
    size = sum(len(key.encode()) + len(value.encode()) for key, value in checked.items())
    if size > ATTRIBUTES_MAX_BYTES:
        raise ValueError(f"contact attributes take at most {ATTRIBUTES_MAX_BYTES} UTF-8 bytes in all, not {size}")
    return checked
