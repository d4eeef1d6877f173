"""The contact flow's Lambda function: hand a chat contact to a botkit bot, signed, inside the flow's 8 seconds.

Standard library only, so it deploys as a bare zip (`zip -j forwarder.zip deploy/aws/forwarder.py`, handler
`forwarder.handler`). Configuration is read on every call, so importing needs none:
- BOTKIT_INTAKE_URL: the bot's base URL; the event goes to `<BOTKIT_INTAKE_URL>/contact-flow`;
- BOTKIT_INTAKE_SECRET: the bot's `intake.secret`, which signs the body (X-Botkit-Signature).

The answer is a flat map of strings, what "Invoke AWS Lambda function" with STRING_MAP validation accepts:
`{"botkit": "joined", "participantId": ...}` or `{"botkit": "failed", "reason": ...}`. It never raises:
a flow whose Lambda fails only knows "Error"; a reason tells the operator why.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
import os
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

INTAKE_PATH = "/contact-flow"
FLOW_LIMIT_SECONDS = 8.0
"""A contact flow waits at most 8 s for a Lambda; without a Lambda context (tests), that is the time left."""
MARGIN_SECONDS = 0.3
"""Kept back from the time left, to build the answer and return it before Lambda or the flow gives up."""
MIN_ATTEMPT_SECONDS = 0.2
"""A retry with less time than this could not get an answer; the forwarder gives up instead."""
ATTEMPTS = 2
MAX_ANSWER_BYTES = 65536
MAX_REASON_CHARS = 200


class _Refused(Exception):
    """An answer not worth a retry (4xx, 3xx, a 200 that is not the bot's): the message is the reason."""


class _Transient(Exception):
    """A 5xx, a time-out or a connection that failed: worth one more attempt while time is left."""


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A signed body goes to the configured bot only, never where a redirect points."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirects())


def handler(event: Any, context: Any) -> dict[str, str]:
    """Lambda's entry point: POST the flow's event to the bot, signed; say whether the bot joined."""
    deadline = time.monotonic() + _time_left(context) - MARGIN_SECONDS
    try:
        return _forward(event, deadline)
    except _Refused as error:
        return _failed(str(error), event)
    except Exception as error:  # the flow must get an answer it can branch on, whatever went wrong
        return _failed(f"internal error: {type(error).__name__}", event)


def _time_left(context: Any) -> float:
    if context is None:
        return FLOW_LIMIT_SECONDS
    return min(FLOW_LIMIT_SECONDS, context.get_remaining_time_in_millis() / 1000)


def _forward(event: Any, deadline: float) -> dict[str, str]:
    url, secret = _settings()
    try:
        body = json.dumps(event, separators=(",", ":"), allow_nan=False).encode()
    except (TypeError, ValueError):
        raise _Refused("the event is not JSON") from None
    problem = "no time left to reach the bot"
    for attempt in range(ATTEMPTS):
        remaining = deadline - time.monotonic()
        if remaining < MIN_ATTEMPT_SECONDS:
            break
        # The first attempt leaves time for a second: a bot that is briefly slow gets another chance.
        timeout = remaining / (ATTEMPTS - attempt)
        try:
            return _post(_signed(url, body, secret), timeout)
        except _Transient as error:
            problem = str(error)
    raise _Refused(problem)


def _settings() -> tuple[str, bytes]:
    url = os.environ.get("BOTKIT_INTAKE_URL", "").strip()
    secret = os.environ.get("BOTKIT_INTAKE_SECRET", "")
    if not url:
        raise _Refused("BOTKIT_INTAKE_URL is not set")
    if not secret:
        raise _Refused("BOTKIT_INTAKE_SECRET is not set")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise _Refused("BOTKIT_INTAKE_URL is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise _Refused("BOTKIT_INTAKE_URL must be an http(s) base URL, such as https://bot.example.com")
    return url.rstrip("/") + INTAKE_PATH, secret.encode()


def _signed(url: str, body: bytes, secret: bytes) -> urllib.request.Request:
    """The intake's scheme: `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>`."""
    timestamp = str(int(time.time()))
    signature = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "X-Botkit-Signature": f"t={timestamp},v1={signature}"},
    )


def _post(request: urllib.request.Request, timeout: float) -> dict[str, str]:
    try:
        with _opener.open(request, timeout=timeout) as answer:
            status, raw = answer.status, answer.read(MAX_ANSWER_BYTES)
    except urllib.error.HTTPError as error:
        with error:
            status, raw = error.code, error.read(MAX_ANSWER_BYTES)
    except TimeoutError:
        raise _Transient(f"the bot did not answer within {timeout:.1f} s") from None
    except urllib.error.URLError as error:
        if isinstance(error.reason, TimeoutError):
            raise _Transient(f"the bot did not answer within {timeout:.1f} s") from None
        raise _Transient(f"could not reach the bot: {_printable(str(error.reason))}") from None
    except (OSError, http.client.HTTPException) as error:  # a connection reset, a garbled status line
        raise _Transient(f"could not reach the bot: {type(error).__name__}") from None
    if status >= 500:
        raise _Transient(f"the bot answered HTTP {status}: {_message(raw)}")
    if status != 200:
        raise _Refused(f"the bot answered HTTP {status}: {_message(raw)}")
    try:
        participant_id = json.loads(raw).get("ParticipantId")
    except (ValueError, AttributeError):
        raise _Refused("the bot's answer is not a JSON object") from None
    if not isinstance(participant_id, str) or not participant_id:
        raise _Refused("the bot's answer has no ParticipantId")
    return {"botkit": "joined", "participantId": participant_id}


def _message(raw: bytes) -> str:
    """The bot's `{"message"}`, which never carries a secret or a token; else say there was none."""
    try:
        message = json.loads(raw).get("message")
    except (ValueError, AttributeError):
        message = None
    return _printable(message) if isinstance(message, str) else "no message"


def _printable(text: str) -> str:
    return "".join(char if char.isprintable() else "?" for char in text)[:MAX_REASON_CHARS]


def _failed(reason: str, event: Any) -> dict[str, str]:
    log.warning("contact %r: not handed to the bot: %s", _contact_id(event), reason)
    return {"botkit": "failed", "reason": reason[:MAX_REASON_CHARS]}


def _contact_id(event: Any) -> str:
    try:
        return str(event["Details"]["ContactData"]["ContactId"])[:256]
    except (KeyError, TypeError):
        return "?"
