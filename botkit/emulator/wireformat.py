"""Time, identifiers and JSON in the exact shapes the service puts on the wire."""

from __future__ import annotations

import json
import random
import re
import secrets
from datetime import UTC, datetime, timedelta


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso_ms(moment: datetime) -> str:
    """`yyyy-MM-ddThh:mm:ss.SSSZ`: chatjs sorts these as strings, so the width never varies."""
    return moment.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def iso_in(seconds: float) -> str:
    return iso_ms(utcnow() + timedelta(seconds=seconds))


_VERSION_4 = (0x4000 << 64) | (0x8 << 60)
_VERSION_4_MASK = ~((0xF000 << 64) | (0xC << 60))


def new_id() -> str:
    """A random (version 4) UUID, five times faster than uuid4(), which asks the kernel on every call.

    Ids are not secrets (tokens come from `secrets`), so the `random` module's generator is enough.
    """
    digits = f"{(random.getrandbits(128) & _VERSION_4_MASK) | _VERSION_4:032x}"
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


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
