"""`X-Botkit-Signature`: who may hand a bot a contact, proven by an HMAC of the request body.

The header is `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>`. Several `v1=` values may be
given, so a sender can sign with the old and the new secret while they are rotated. The timestamp bounds
how long a captured request can be replayed. Plain functions, so the emulator signs as the bot verifies.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

from botkit.connect.secrets import Secret

HEADER = "X-Botkit-Signature"
MAX_HEADER_LENGTH = 1024
MAX_SIGNATURES = 8
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_DIGEST = re.compile(r"[0-9a-fA-F]{64}")


class SignatureError(Exception):
    """Why a request is not proven to come from a holder of the secret; safe to send back."""


@dataclass(frozen=True, slots=True)
class Signature:
    timestamp: int
    digests: tuple[str, ...]

    @classmethod
    def parse(cls, header: str | None) -> Signature:
        """The header's timestamp and `v1` digests; unknown schemes are ignored, as for a future `v2`."""
        if header is None:
            raise SignatureError(f"missing {HEADER} header")
        if len(header) > MAX_HEADER_LENGTH:
            raise SignatureError(f"malformed {HEADER} header")
        timestamps: list[str] = []
        digests: list[str] = []
        for part in header.split(","):
            key, equals, value = part.strip().partition("=")
            if not equals:
                raise SignatureError(f"malformed {HEADER} header")
            if key == "t":
                timestamps.append(value)
            elif key == "v1":
                digests.append(value.lower())
        if len(timestamps) != 1 or not _TIMESTAMP.fullmatch(timestamps[0]):
            raise SignatureError(f"malformed {HEADER} header: it needs one t=<unix seconds>")
        if not digests or len(digests) > MAX_SIGNATURES or not all(_DIGEST.fullmatch(d) for d in digests):
            raise SignatureError(f"malformed {HEADER} header: it needs 1 to {MAX_SIGNATURES} v1=<hex HMAC-SHA256>")
        return cls(int(timestamps[0]), tuple(digests))

    def check_fresh(self, now: float, window: float) -> None:
        """Refuses a timestamp more than `window` seconds before or after `now` (a replay, or a wrong clock)."""
        if abs(now - self.timestamp) > window:
            raise SignatureError(f"{HEADER} timestamp is outside the {window:g} s window")

    def check_body(self, secret: Secret, body: bytes) -> None:
        """Refuses a body that no `v1` digest signs; every comparison takes constant time."""
        expected = digest(secret, self.timestamp, body)
        matches = [hmac.compare_digest(expected, candidate) for candidate in self.digests]
        if not any(matches):
            raise SignatureError(f"{HEADER} does not match the body")


def digest(secret: Secret, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.reveal().encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: Secret, body: bytes, timestamp: int) -> str:
    """The header value for `body` sent at `timestamp` (unix seconds)."""
    return f"t={timestamp},v1={digest(secret, timestamp, body)}"
