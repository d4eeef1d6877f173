"""The HTTP side of `botkit serve`: how contacts arrive, and who may hand them in.

- `POST /contact-flow`: the event a Connect contact flow gives a Lambda function
  (the emulator POSTs the same); the bot joins the contact as a custom bot.
- `POST /contacts`: a participant token obtained elsewhere, `{"ContactId", "ParticipantToken", "ParticipantId"}`.
- `GET /metrics`: Prometheus metrics (sessions, hook calls and durations, failures, reconnects).
- `POST /sns` (`streaming.path`), with `transport: streaming`: SNS's own requests; see `SnsRoute`.

With `intake.secret` set, both POST routes need an `X-Botkit-Signature` (botkit.connect.signature). A request is
checked in this order, so that nothing in a body is parsed or acted on before its sender is proven, and no
more than `intake.max_body_bytes` of it is ever held:

1. the signature header: present, well formed, its timestamp inside the replay window (401; no body read yet);
2. `Content-Type: application/json` (415), so a web page's form post is never taken;
3. `Content-Length` within the limit (413), then the body, read up to the limit (413) within a deadline (408);
4. the HMAC of the raw body (401);
5. readiness (503): a proven sender is told to come back;
6. the JSON: nesting, syntax, an object, its fields (400).

Answers are `{"message": reason}`; a reason never holds the secret, a token or a signature.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from botkit.config import IntakeConfig
from botkit.connect.errors import ParticipantConnectionError, ParticipantServiceError
from botkit.connect.models import Item
from botkit.connect.secrets import Secret
from botkit.connect.signature import HEADER, Signature, SignatureError
from botkit.connect.sns import NOTIFICATION, SUBSCRIPTION_CONFIRMATION, SnsRejected, SnsUnavailable, SnsVerifier
from botkit.jsondepth import nested_deeper_than
from botkit.runtime.logcontext import about_contact
from botkit.runtime.manager import CapacityExceeded, NotACustomBot, SessionManager
from botkit.runtime.metrics import SNS_MESSAGES, count_intake
from botkit.runtime.relay import Relay
from botkit.runtime.streaming import Delivery, Streaming

log = logging.getLogger(__name__)

CONTACT_FLOW_PATH = "/contact-flow"
CONTACTS_PATH = "/contacts"
METRICS_PATH = "/metrics"
INTAKE_ROUTES = frozenset({CONTACT_FLOW_PATH, CONTACTS_PATH})
LIVE_TIMEOUT = 10.0
MAX_NESTING = 64
MAX_ID_LENGTH = 256
MAX_TOKEN_LENGTH = 4096
HEADER_TIMEOUT = 10.0
"""Seconds a connection has to send a request's headers, from its opening or from the previous answer."""
BODY_TIMEOUT = 10.0
"""Seconds a request has to send its body, once its headers are in."""
JOIN_DEADLINE = 6.0
"""Seconds CreateParticipant may take, retries included: within the 8 s a contact flow gives its Lambda."""
SNS_MAX_BODY = 256 * 1024
"""SNS's largest message."""
SNS_CONTENT_TYPES = frozenset({"text/plain", "application/json"})
"""SNS posts `text/plain; charset=UTF-8` with a JSON body; application/json is taken too."""
CONFIRM_TIMEOUT = 10.0


class IntakeError(Exception):
    """A request the bot will not act on: the status to answer, and the reason given back."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def build_intake_app(
    manager: SessionManager,
    is_ready: Callable[[], bool],
    intake: IntakeConfig | None = None,
    *,
    header_timeout: float = HEADER_TIMEOUT,
    body_timeout: float = BODY_TIMEOUT,
    join_deadline: float = JOIN_DEADLINE,
    sns: SnsRoute | None = None,
) -> web.Application:
    """The intake's routes; `header_timeout` and `body_timeout` bound how long a slow client holds a connection,
    and `join_deadline` how long CreateParticipant may take, retries included."""
    settings = intake or IntakeConfig()

    async def contact_flow(request: web.Request) -> web.Response:
        contact_data = _contact_data(await _proven_json(request, settings, is_ready, body_timeout))
        contact_id = contact_data["ContactId"]
        initial_contact_id = _initial_contact_id(contact_data, contact_id)
        attributes = _attributes(contact_data)
        return await _answer(
            contact_id,
            lambda: manager.join(contact_id, initial_contact_id, timeout=join_deadline, attributes=attributes),
            wait_live=False,
        )

    async def contacts(request: web.Request) -> web.Response:
        body = await _proven_json(request, settings, is_ready, body_timeout)
        contact_id = _contact_id(body)
        token = Secret(_string(body, "ParticipantToken", MAX_TOKEN_LENGTH))
        participant_id = _string(body, "ParticipantId", MAX_ID_LENGTH)
        return await _answer(contact_id, lambda: manager.hand_in(contact_id, token, participant_id), wait_live=True)

    async def metrics(request: web.Request) -> web.Response:
        response = web.Response(body=generate_latest())
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    async def _answer(contact_id: str, start: Callable[[], Awaitable[Any]], *, wait_live: bool) -> web.Response:
        """CreateParticipant already vouches for a joined contact; a bare token is only proven by connecting."""
        about_contact(contact_id)
        try:
            session = await start()
        except NotACustomBot as error:
            return web.json_response({"message": str(error)}, status=409)
        except CapacityExceeded as error:
            return web.json_response({"message": str(error)}, status=503, headers={"Retry-After": "5"})
        except ParticipantServiceError as error:
            if error.credentials_refused:  # the bot's fault, not the contact's: never AWS's message, it may echo them
                log.error("Amazon Connect refused the bot's AWS credentials: %s (HTTP %s)", error.code, error.status)
                reason = f"Amazon Connect refused the bot's AWS credentials: {error.code}"
                return web.json_response({"message": reason}, status=502)
            log.warning("contact %s: could not join: %s (HTTP %s)", contact_id, error.code, error.status)
            status = 409 if error.status in (400, 403, 404, 409, 410) else 502
            return web.json_response({"message": f"could not join: {error.code}"}, status=status)
        except (ParticipantConnectionError, aiohttp.ClientError, TimeoutError) as error:
            log.warning("contact %s: could not join: %s %s", contact_id, type(error).__name__, error)
            return web.json_response({"message": "could not reach Amazon Connect"}, status=502)
        except Exception:
            log.exception("contact %s: could not join", contact_id)
            return web.json_response({"message": "could not join: internal error"}, status=500)
        if wait_live and not await session.until_live(LIVE_TIMEOUT):
            return web.json_response({"message": "Amazon Connect refused the participant: the chat is over"}, status=409)
        return web.json_response({"ContactId": contact_id, "ParticipantId": session.participant_id})

    @web.middleware
    async def reasons(request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            response = await handler(request)
        except IntakeError as error:
            headers = {"Retry-After": "1"} if error.status == 503 else {}
            response = web.json_response({"message": str(error)}, status=error.status, headers=headers)
            if error.status in (408, 413):
                response.force_close()  # the rest of the body is never read: the connection cannot carry on
        if request.path in INTAKE_ROUTES or (sns is not None and request.path == sns.path):
            count_intake(request.path, response.status)  # the registered path, never an arbitrary one, is the label
        return response

    # keepalive_timeout closes a connection that has not sent a whole request's headers in time: aiohttp arms
    # it when the connection opens (3.14 and later) and again after each answer.
    app = web.Application(
        middlewares=[reasons],
        client_max_size=settings.max_body_bytes,
        handler_args={"keepalive_timeout": header_timeout},
    )
    app.router.add_post(CONTACT_FLOW_PATH, contact_flow)
    app.router.add_post(CONTACTS_PATH, contacts)
    app.router.add_get(METRICS_PATH, metrics)
    if sns is not None:

        async def sns_messages(request: web.Request) -> web.Response:
            return await sns.handle(request, is_ready, body_timeout)

        app.router.add_post(sns.path, sns_messages)
    return app


class SnsRoute:
    """Where SNS delivers the chats' items (`transport: streaming`). SNS's signature is its authentication, so
    no X-Botkit-Signature is asked for; nothing in a body is read or acted on before that signature holds.

    - a body of at most 256 KiB, `text/plain` (as SNS posts) or `application/json` (415 otherwise);
    - the signature, topic and age, checked by SnsVerifier: 403 when refused, never dispatched; 503 when the
      signing certificate cannot be fetched just now, so SNS delivers the message again;
    - SubscriptionConfirmation (taken while the bot is still starting: it binds its route first): confirmed by fetching its SubscribeURL, only when that is on a host trusted for
      SNS (403 otherwise; 502 when the fetch fails, so SNS sends it again). UnsubscribeConfirmation: logged.
    - Notification: its Message, a chat item, is handed to the contact's transport (`Streaming.deliver`), or on
      a shared store to the relay (runtime/relay.py), which takes each MessageId once across workers and hands
      it to the worker that owns the contact. 200 once it is queued there or stored for its owner (or held for a contact being joined, or known as a duplicate, or for a contact this
      bot has no session for: answering 5xx would only make SNS repeat what no one here will take); 503 while
      the bot is not ready or a contact being joined has too many held; 500 if it could not be queued. Never a
      4xx for trouble that may pass: SNS retries only 5xx answers, time-outs and connection errors.
    """

    def __init__(self, path: str, verifier: SnsVerifier, streaming: Streaming) -> None:
        self.path = path
        self._verifier = verifier
        self._streaming = streaming
        self._http: aiohttp.ClientSession | None = None
        self.relay: Relay | None = None
        """Set on a shared store: notifications deduplicated across workers and handed to their contact's owner."""
        self.confirmed = asyncio.Event()
        """Set once this route has confirmed a subscription (a bot pointed at an emulator waits for it at start)."""

    async def handle(self, request: web.Request, is_ready: Callable[[], bool], body_timeout: float) -> web.Response:
        if request.content_type not in SNS_CONTENT_TYPES:
            raise IntakeError(415, "Content-Type must be text/plain (as SNS posts) or application/json")
        raw = await _body(request, SNS_MAX_BODY, body_timeout)
        kind = _sns_type_label(request.headers.get("x-amz-sns-message-type"))
        try:
            message = await self._verifier.verify(raw)
        except SnsRejected as error:
            log.warning("SNS route: refused a message: %s", error.reason)
            SNS_MESSAGES.labels(kind, "rejected").inc()
            raise IntakeError(403, error.reason) from None
        except SnsUnavailable as error:
            log.warning("SNS route: could not verify a message now: %s", error.reason)
            SNS_MESSAGES.labels(kind, "unavailable").inc()
            raise IntakeError(503, error.reason) from None
        kind = _sns_type_label(message.type)
        if message.type == NOTIFICATION:
            if not is_ready():
                SNS_MESSAGES.labels(kind, "unavailable").inc()
                raise IntakeError(503, "not ready")
            return await self._notification(message.message_id, message.message)
        if message.type == SUBSCRIPTION_CONFIRMATION:
            return await self._confirm(message.topic_arn, message.subscribe_url or "")
        log.warning("SNS route: the subscription to %s was removed (UnsubscribeConfirmation): no notification"
                    " will come until it is subscribed again", message.topic_arn)
        SNS_MESSAGES.labels(kind, "accepted").inc()
        return web.json_response({"message": "noted"})

    async def _notification(self, message_id: str, message: str) -> web.Response:
        item = _chat_item(message)
        if item is None:
            SNS_MESSAGES.labels("Notification", "malformed").inc()
            raise IntakeError(400, "the Message is not a chat item")
        about_contact(item.contact_id or "")
        try:
            if self.relay is not None:
                outcome = await self.relay.deliver(message_id, item)
            else:
                outcome = self._streaming.deliver(message_id, item)
        except Exception:
            log.exception("SNS route: could not queue item %s", item.id)
            SNS_MESSAGES.labels("Notification", "failed").inc()
            raise IntakeError(500, "could not queue the item") from None
        if outcome is Delivery.BUSY:
            SNS_MESSAGES.labels("Notification", "unavailable").inc()
            raise IntakeError(503, "the contact is being joined: deliver again later")
        SNS_MESSAGES.labels("Notification", "accepted").inc()
        return web.json_response({"message": outcome.value})

    async def _confirm(self, topic_arn: str, subscribe_url: str) -> web.Response:
        if not self._verifier.trusts(subscribe_url):
            log.warning("SNS route: a SubscriptionConfirmation for %s names a SubscribeURL on an untrusted host;"
                        " not confirmed", topic_arn)
            SNS_MESSAGES.labels("SubscriptionConfirmation", "rejected").inc()
            raise IntakeError(403, "SubscribeURL not on a trusted SNS host")
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=CONFIRM_TIMEOUT))
        try:
            async with self._http.get(subscribe_url, allow_redirects=False) as answer:
                confirmed = answer.status < 300
        except (aiohttp.ClientError, TimeoutError) as error:
            log.warning("SNS route: could not confirm the subscription to %s: %s", topic_arn, type(error).__name__)
            confirmed = False
        if not confirmed:
            SNS_MESSAGES.labels("SubscriptionConfirmation", "failed").inc()
            raise IntakeError(502, "could not confirm the subscription")
        log.info("SNS route: confirmed the subscription to %s", topic_arn)
        self.confirmed.set()
        SNS_MESSAGES.labels("SubscriptionConfirmation", "accepted").inc()
        return web.json_response({"message": "confirmed"})

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
        await self._verifier.close()


def _sns_type_label(kind: str | None) -> str:
    """A bounded label: SNS's three types, or `other`."""
    known = (NOTIFICATION, SUBSCRIPTION_CONFIRMATION, "UnsubscribeConfirmation")
    return kind if kind in known else "other"


def _chat_item(message: str) -> Item | None:
    """The chat item a Notification's Message carries, or None when it is not one."""
    if nested_deeper_than(message.encode("utf-8", "surrogatepass"), MAX_NESTING):
        return None
    try:
        decoded = json.loads(message)
    except (ValueError, RecursionError):
        return None
    if not isinstance(decoded, dict):
        return None
    item = Item.from_wire(decoded)
    if not isinstance(item.id, str) or not item.id or not isinstance(item.contact_id, str) or not item.contact_id:
        return None
    return item


async def _proven_json(
    request: web.Request, settings: IntakeConfig, is_ready: Callable[[], bool], body_timeout: float
) -> dict[str, Any]:
    """The request's JSON object, checked in the order the module docstring gives."""
    signature = None
    if settings.secret is not None:
        try:
            signature = Signature.parse(request.headers.get(HEADER))
            signature.check_fresh(time.time(), settings.replay_window_seconds)
        except SignatureError as error:
            raise IntakeError(401, str(error)) from None
    if request.content_type != "application/json":
        raise IntakeError(415, "Content-Type must be application/json")
    raw = await _body(request, settings.max_body_bytes, body_timeout)
    if signature is not None and settings.secret is not None:
        try:
            signature.check_body(settings.secret, raw)
        except SignatureError as error:
            raise IntakeError(401, str(error)) from None
    if not is_ready():
        raise IntakeError(503, "not ready")
    return _json_object(raw)


async def _body(request: web.Request, limit: int, timeout: float) -> bytes:
    """At most `limit` bytes are ever held: a larger Content-Length is refused unread, a longer stream cut off."""
    too_large = IntakeError(413, f"body must be at most {limit} bytes")
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    body = bytearray()
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.content.iter_any():
                body += chunk
                if len(body) > limit:
                    raise too_large
    except TimeoutError:
        raise IntakeError(408, f"the body did not arrive within {timeout:g} s") from None
    return bytes(body)


def _json_object(raw: bytes) -> dict[str, Any]:
    if nested_deeper_than(raw, MAX_NESTING):
        raise IntakeError(400, f"body must be JSON nested at most {MAX_NESTING} deep")
    try:
        body = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError):
        raise IntakeError(400, "body must be JSON") from None
    if not isinstance(body, dict):
        raise IntakeError(400, "body must be a JSON object")
    return body


def _contact_data(event: dict[str, Any]) -> dict[str, Any]:
    details = event.get("Details")
    contact_data = details.get("ContactData") if isinstance(details, dict) else None
    if not isinstance(contact_data, dict):
        raise IntakeError(400, "expected a contact flow event: Details.ContactData is missing")
    _contact_id(contact_data)
    channel = contact_data.get("Channel", "CHAT")
    if channel != "CHAT":
        raise IntakeError(400, f"only CHAT contacts can be joined, not {str(channel)[:20]}")
    return contact_data


def _contact_id(body: dict[str, Any], key: str = "ContactId") -> str:
    """A contact id goes into log lines and URLs: 1 to 256 printable characters, so no newline forges a line."""
    value = _string(body, key, MAX_ID_LENGTH)
    if not value.isprintable():
        raise IntakeError(400, f"{key} must be printable characters, without control characters or newlines")
    return value


def _initial_contact_id(contact_data: dict[str, Any], contact_id: str) -> str:
    """The id hand-off attributes are keyed on; the contact's own for a chat never transferred."""
    if contact_data.get("InitialContactId") is None:
        return contact_id
    return _contact_id(contact_data, "InitialContactId")


def _attributes(contact_data: dict[str, Any]) -> dict[str, str]:
    """The contact's attributes as the flow had them when it invoked the bot (`session.attributes`).

    Connect's are strings; anything else is left out rather than refuse the contact over a value no plugin may read.
    """
    attributes = contact_data.get("Attributes")
    if not isinstance(attributes, dict):
        return {}
    return {name: value for name, value in attributes.items() if isinstance(value, str)}


def _string(body: dict[str, Any], key: str, max_length: int) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value or len(value) > max_length:
        raise IntakeError(400, f"{key} must be a non-empty string of at most {max_length} characters")
    return value
