"""SigV4 checking for `connect` calls, so a bot's real AWS signing path can be tested against the emulator.

The signature is recomputed by botocore's own signer over the request as the
client signed it; nothing here does SigV4's arithmetic. The answers are the
ones AWS's front door gives: 403 with `MissingAuthenticationTokenException`,
`UnrecognizedClientException` or `InvalidSignatureException`, and 400 with
`IncompleteSignatureException` for an Authorization header that is not SigV4's shape.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aiohttp import web
from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from botkit.connect.secrets import Secret
from botkit.emulator.errors import CONNECT, ServiceError

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_CLOCK_SKEW = timedelta(minutes=5)
_FORBIDDEN = 403
_MALFORMED = 400


@dataclass(frozen=True, slots=True)
class SigV4Key:
    """The one access key the emulator knows; the secret stays wrapped so no repr or log shows it."""

    access_key_id: str
    secret: Secret

    @classmethod
    def parse(cls, text: str) -> SigV4Key:
        """`ACCESS_KEY_ID:SECRET`; the error never repeats the text, which holds the secret."""
        access_key_id, separator, secret = text.partition(":")
        if not separator or not access_key_id or not secret:
            raise ValueError("expected ACCESS_KEY_ID:SECRET, both non-empty")
        return cls(access_key_id, Secret(secret))


@dataclass(frozen=True, slots=True)
class _Authorization:
    access_key_id: str
    scope: list[str]
    """date, region, service, "aws4_request"."""
    signed_headers: list[str]
    signature: str


def _refused(code: str, message: str) -> ServiceError:
    return ServiceError(code, message, service=CONNECT, status=_FORBIDDEN)


def _incomplete(message: str) -> ServiceError:
    """A signature that is not even well-formed: AWS answers these 400, not 403."""
    return ServiceError("IncompleteSignatureException", message, service=CONNECT, status=_MALFORMED)


def _invalid_token() -> ServiceError:
    return _refused("UnrecognizedClientException", "The security token included in the request is invalid.")


def _mismatch() -> ServiceError:
    return _refused(
        "InvalidSignatureException",
        "The request signature we calculated does not match the signature you provided. "
        "Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
    )


def _parse_authorization(header: str) -> _Authorization:
    algorithm, _, rest = header.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise _incomplete(f"Authorization header must use {ALGORITHM}")
    fields: dict[str, str] = {}
    for part in rest.split(","):
        name, _, value = part.strip().partition("=")
        fields[name] = value
    credential, signed, signature = fields.get("Credential"), fields.get("SignedHeaders"), fields.get("Signature")
    if not credential or not signed or not signature:
        raise _incomplete("Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters.")
    access_key_id, *scope = credential.split("/")
    if len(scope) != 4 or scope[3] != "aws4_request":
        raise _incomplete("Credential must have the form ACCESS_KEY/DATE/REGION/SERVICE/aws4_request")
    return _Authorization(access_key_id, scope, signed.split(";"), signature)


def _fresh_date(amz_date: str | None, now: datetime) -> str:
    """The request's X-Amz-Date, if it is within five minutes of `now`, as AWS allows."""
    if not amz_date:
        raise _incomplete("Authorization header requires existence of a 'X-Amz-Date' header.")
    try:
        signed_at = datetime.strptime(amz_date, SIGV4_TIMESTAMP).replace(tzinfo=UTC)
    except ValueError:
        raise _incomplete("X-Amz-Date must be in ISO 8601 basic format") from None
    stamp = now.strftime(SIGV4_TIMESTAMP)
    if signed_at < now - MAX_CLOCK_SKEW:
        earliest = (now - MAX_CLOCK_SKEW).strftime(SIGV4_TIMESTAMP)
        raise _refused(
            "InvalidSignatureException",
            f"Signature expired: {amz_date} is now earlier than {earliest} ({stamp} - 5 min.)",
        )
    if signed_at > now + MAX_CLOCK_SKEW:
        latest = (now + MAX_CLOCK_SKEW).strftime(SIGV4_TIMESTAMP)
        raise _refused(
            "InvalidSignatureException",
            f"Signature not yet current: {amz_date} is still later than {latest} ({stamp} + 5 min.)",
        )
    return amz_date


class SignatureChecker:
    """Accepts a `connect` call only if it is signed, with the known key, recently, and unaltered."""

    def __init__(self, key: SigV4Key, region: str) -> None:
        self._key = key
        self._region = region

    def check(self, request: web.Request, body: bytes, now: datetime | None = None) -> None:
        header = request.headers.get("Authorization")
        if not header:
            raise _refused("MissingAuthenticationTokenException", "Missing Authentication Token")
        authorization = _parse_authorization(header)
        if not hmac.compare_digest(authorization.access_key_id.encode(), self._key.access_key_id.encode()):
            raise _invalid_token()
        amz_date = _fresh_date(request.headers.get("X-Amz-Date"), now or datetime.now(UTC))
        self._check_scope(authorization.scope, amz_date)
        if any(name not in request.headers for name in authorization.signed_headers):
            raise _mismatch()
        expected = self._signature(request, body, authorization.signed_headers, amz_date)
        if not hmac.compare_digest(expected.encode(), authorization.signature.encode()):
            raise _mismatch()

    def _check_scope(self, scope: list[str], amz_date: str) -> None:
        """A scope for another date, region or service can never verify: say which, as AWS does."""
        date, region, service, _ = scope
        if date != amz_date[:8]:
            raise _refused(
                "InvalidSignatureException",
                f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
                f"'{date}' != '{amz_date[:8]}', from 'X-Amz-Date'.",
            )
        if region != self._region:
            raise _refused("InvalidSignatureException", f"Credential should be scoped to a valid region, not '{region}'.")
        if service != CONNECT:
            raise _refused("InvalidSignatureException", f"Credential should be scoped to correct service: '{CONNECT}'.")

    def _signature(self, request: web.Request, body: bytes, signed_headers: list[str], amz_date: str) -> str:
        """botocore's signature over the request as the client built it: its Host, raw path and query, signed headers."""
        headers = {name: ",".join(request.headers.getall(name)) for name in signed_headers}
        url = f"{request.scheme}://{request.headers.get('Host', request.host)}{request.raw_path}"
        rebuilt = AWSRequest(method=request.method, url=url, data=body, headers=headers)
        rebuilt.context["timestamp"] = amz_date
        signer = SigV4Auth(Credentials(self._key.access_key_id, self._key.secret.reveal()), CONNECT, self._region)
        canonical = signer.canonical_request(rebuilt)
        return signer.signature(signer.string_to_sign(rebuilt, canonical), rebuilt)
