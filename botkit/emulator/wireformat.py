"""Time, identifiers and JSON in the exact shapes the service puts on the wire."""

from __future__ import annotations

import json
import re
import secrets
import uuid
from datetime import UTC, datetime, timedelta


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso_ms(moment: datetime) -> str:
    """`yyyy-MM-ddThh:mm:ss.SSSZ`: chatjs sorts these as strings, so the width never varies."""
    return moment.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def iso_in(seconds: float) -> str:
    return iso_ms(utcnow() + timedelta(seconds=seconds))


def new_id() -> str:
    return str(uuid.uuid4())


def new_token() -> str:
    """An opaque bearer token; long and URL-safe like the real ones."""
    return secrets.token_urlsafe(96)


dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
"""Compact JSON, as API Gateway sends it."""

_SURROGATE = re.compile("[\ud800-\udfff]")


def has_lone_surrogate(document: object) -> bool:
    """True if decoded JSON holds half a UTF-16 pair (`"\\ud800"`): such text can never go back out as UTF-8.

    json.loads joins proper pairs into one character, so any surrogate left is a lone one.
    """
    stack = [document]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            if _SURROGATE.search(value):
                return True
        elif isinstance(value, dict):
            stack.extend(value)
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return False
