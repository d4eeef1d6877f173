"""Exceptions of the participant service, parsed from error responses the way botocore does."""

from __future__ import annotations

import http.client
import json
from collections.abc import Mapping
from typing import Any

from botkit.connect.secrets import Secret

CREDENTIAL_ERROR_CODES = frozenset(
    {
        "ExpiredTokenException",
        "IncompleteSignatureException",
        "InvalidClientTokenId",
        "InvalidSignatureException",
        "MissingAuthenticationTokenException",
        "UnrecognizedClientException",
    }
)
"""What AWS's front door answers when a request's access key, session token or SigV4 signature is not accepted."""


class ParticipantServiceError(Exception):
    """The service answered with an error; `code` is the botocore-style error code."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        request_id: str | None = None,
        *,
        operation: str | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id
        self.operation = operation
        super().__init__(status, code, message, request_id)

    @property
    def credentials_refused(self) -> bool:
        """AWS refused the caller's key or signature itself: the bot's AWS credentials need fixing, not the call."""
        return self.code in CREDENTIAL_ERROR_CODES

    def __str__(self) -> str:
        where = f" in {self.operation}" if self.operation else ""
        rid = f" (request id {self.request_id})" if self.request_id else ""
        return f"{self.code} (HTTP {self.status}){where}: {self.message}{rid}"


class AccessDeniedException(ParticipantServiceError):
    """403: unknown, wrong-kind or expired token, or the chat has ended."""


class ConflictException(ParticipantServiceError):
    """409: the contact's state forbids the call (e.g. receipts with more than two participants)."""


class InternalServerException(ParticipantServiceError):
    """500: the service failed; retried."""


class ResourceNotFoundException(ParticipantServiceError):
    """404: e.g. an unknown view token; carries the service's ResourceId and ResourceType."""

    resource_id: str | None = None
    resource_type: str | None = None


class ServiceQuotaExceededException(ParticipantServiceError):
    """402: e.g. the per-contact attachment quota."""


class ThrottlingException(ParticipantServiceError):
    """429: too many requests; retried."""


class ValidationException(ParticipantServiceError):
    """400: the request does not match the model."""


class UnknownServiceError(ParticipantServiceError):
    """An error code botkit does not know (new service errors, proxies, bare 5xx pages)."""


class MalformedResponseError(ParticipantServiceError):
    """A success status whose body is not the JSON the operation promises."""


class ParticipantConnectionError(Exception):
    """The service could not be reached: network failures or timeouts on every attempt."""

    def __init__(self, operation: str, attempts: int, reason: str) -> None:
        self.operation = operation
        self.attempts = attempts
        self.reason = reason
        super().__init__(f"{operation}: no answer after {attempts} attempt(s): {reason}")


ERRORS_BY_CODE: Mapping[str, type[ParticipantServiceError]] = {
    cls.__name__: cls
    for cls in (
        AccessDeniedException,
        ConflictException,
        InternalServerException,
        ResourceNotFoundException,
        ServiceQuotaExceededException,
        ThrottlingException,
        ValidationException,
    )
}


def _clean_code(code: Any) -> str:
    """`prefix#Name:suffix` -> `Name`, as botocore does."""
    text = str(code)
    return text.split(":", 1)[0].rsplit("#", 1)[-1]


def _body_as_object(status: int, body: bytes) -> dict[str, Any]:
    """The error body as botocore sees it: JSON, or its text as the message, or a bare 5xx page."""
    stripped = body.strip()
    if status >= 500 and (not stripped or stripped.startswith(b"<html>")):
        return {"message": http.client.responses.get(status, "")}
    if not stripped:
        return {}
    text = body.decode("utf-8", errors="replace")
    try:
        parsed = json.loads(text)
    except ValueError:
        return {"message": text}
    return parsed if isinstance(parsed, dict) else {}


def parse_error(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    operation: str | None = None,
    token: Secret | None = None,
) -> ParticipantServiceError:
    """The exception for an error response, its code read from the header, else from the body.

    `token` is masked out of the message, so a service that echoes it cannot leak it.
    """
    lowered = {key.lower(): value for key, value in headers.items()}
    data = _body_as_object(status, body)
    raw_code = lowered.get("x-amzn-errortype")
    if raw_code is None:
        raw_code = data.get("code", data.get("Code", data.get("__type")))
    code = _clean_code(raw_code) if raw_code is not None else str(status)
    message = str(data.get("message", data.get("Message", "")))
    if token is not None:
        message = token.redact(message)
    cls = ERRORS_BY_CODE.get(code, UnknownServiceError)
    error = cls(status, code, message, lowered.get("x-amzn-requestid"), operation=operation)
    if isinstance(error, ResourceNotFoundException):
        error.resource_id = data.get("ResourceId")
        error.resource_type = data.get("ResourceType")
    return error
