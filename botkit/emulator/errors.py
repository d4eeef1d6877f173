"""Service errors as Amazon Connect puts them on the wire.

The HTTP status of each error comes from botocore's service models, so a code
can never drift from what the SDKs expect.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import botocore.session
from aiohttp import web

PARTICIPANT = "connectparticipant"
CONNECT = "connect"

_INTERNAL_ERRORS = {PARTICIPANT: "InternalServerException", CONNECT: "InternalServiceException"}
"""Each model's one 500 error: the two services spell it differently, and an SDK retries only the code it knows."""


@cache
def service_model(service: str) -> Any:
    """botocore's model of `service`, loaded once per process."""
    return botocore.session.get_session().get_service_model(service)


@cache
def _status_of(service: str, code: str) -> int:
    model = service_model(service)
    if code in model.shape_names:
        error = model.shape_for(code).metadata.get("error", {})
        if "httpStatusCode" in error:
            return int(error["httpStatusCode"])
    return 400


class ServiceError(Exception):
    """An error answer of the service: `x-amzn-ErrorType` plus `{"message"}`."""

    def __init__(
        self, code: str, message: str, *, service: str = PARTICIPANT, status: int | None = None, **fields: Any
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.service = service
        self.fields = fields
        self._status = status

    @property
    def status(self) -> int:
        """The model's status for the code; `status` is for the front door's codes (SigV4), which no model lists."""
        return self._status if self._status is not None else _status_of(self.service, self.code)

    def to_response(self) -> web.Response:
        body = {"message": self.message, "__type": self.code, **self.fields}
        return web.Response(
            status=self.status,
            body=json.dumps(body).encode(),
            content_type="application/json",
            headers={"x-amzn-ErrorType": self.code},
        )


def internal_error(service: str, message: str = "Internal server error") -> ServiceError:
    """The service's own HTTP 500, as its SDKs expect it, so their standard retries apply."""
    return ServiceError(_INTERNAL_ERRORS[service], message, service=service)


def access_denied() -> ServiceError:
    """The one answer to an unknown, wrong-kind, expired or ended-chat token: it reveals nothing."""
    return ServiceError("AccessDeniedException", "Access denied")


def contact_conflict() -> ServiceError:
    return ServiceError(
        "ConflictException", "Operation can not be performed due to the state of the contact."
    )
