"""The HTTP side of `botkit serve`: how contacts arrive, and whether the bot is ready for them.

- `POST /contact-flow`: the event a Connect contact flow gives a Lambda function
  (the emulator POSTs the same); the bot joins the contact as a custom bot.
- `POST /contacts`: a participant token obtained elsewhere, `{"ContactId", "ParticipantToken", "ParticipantId"}`.
- `GET /metrics`: Prometheus metrics (sessions, hook calls and durations, failures, reconnects).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import aiohttp
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from botkit.connect.errors import ParticipantConnectionError, ParticipantServiceError
from botkit.connect.secrets import Secret
from botkit.runtime.manager import CapacityExceeded, NotACustomBot, SessionManager

log = logging.getLogger(__name__)

CONTACT_FLOW_PATH = "/contact-flow"
CONTACTS_PATH = "/contacts"
METRICS_PATH = "/metrics"
LIVE_TIMEOUT = 10.0


class IntakeError(Exception):
    """A request the bot cannot act on; the message is the reason given back (4xx)."""


def build_intake_app(manager: SessionManager, is_ready: Callable[[], bool]) -> web.Application:
    async def contact_flow(request: web.Request) -> web.Response:
        contact_data = _contact_data(await _json_object(request))
        contact_id = contact_data["ContactId"]
        return await _answer(contact_id, lambda: manager.join(contact_id), wait_live=False)

    async def contacts(request: web.Request) -> web.Response:
        body = await _json_object(request)
        contact_id = _string(body, "ContactId")
        token = Secret(_string(body, "ParticipantToken"))
        participant_id = _string(body, "ParticipantId")
        return await _answer(contact_id, lambda: manager.hand_in(contact_id, token, participant_id), wait_live=True)

    async def metrics(request: web.Request) -> web.Response:
        response = web.Response(body=generate_latest())
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    async def _answer(contact_id: str, start: Callable[[], Any], *, wait_live: bool) -> web.Response:
        """CreateParticipant already vouches for a joined contact; a bare token is only proven by connecting."""
        if not is_ready():
            return web.json_response({"message": "not ready"}, status=503, headers={"Retry-After": "1"})
        try:
            session = await start()
        except NotACustomBot as reason:
            return web.json_response({"message": str(reason)}, status=409)
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
            return await handler(request)
        except IntakeError as error:
            return web.json_response({"message": str(error)}, status=400)

    app = web.Application(middlewares=[reasons], client_max_size=256 * 1024)
    app.router.add_post(CONTACT_FLOW_PATH, contact_flow)
    app.router.add_post(CONTACTS_PATH, contacts)
    app.router.add_get(METRICS_PATH, metrics)
    return app


MAX_NESTING = 64


async def _json_object(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if _nested_deeper_than(raw, MAX_NESTING):
        raise IntakeError(f"body must be JSON nested at most {MAX_NESTING} deep")
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise IntakeError("body must be JSON") from None
    if not isinstance(body, dict):
        raise IntakeError("body must be a JSON object")
    return body


def _contact_data(event: dict[str, Any]) -> dict[str, Any]:
    details = event.get("Details")
    contact_data = details.get("ContactData") if isinstance(details, dict) else None
    if not isinstance(contact_data, dict):
        raise IntakeError("expected a contact flow event: Details.ContactData is missing")
    _string(contact_data, "ContactId")
    channel = contact_data.get("Channel", "CHAT")
    if channel != "CHAT":
        raise IntakeError(f"only CHAT contacts can be joined, not {str(channel)[:20]}")
    return contact_data


def _string(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value or len(value) > 4096:
        raise IntakeError(f"{key} must be a non-empty string")
    return value


def _nested_deeper_than(raw: bytes, limit: int) -> bool:
    """Whether JSON text opens more than `limit` arrays or objects at once, found without recursing.

    json.loads recurses once per level: thousands of levels reach the recursion limit, and a garbage
    collection that runs that deep makes unrelated finalizers fail. Bodies with few brackets skip the scan.
    """
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    depth = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return False
