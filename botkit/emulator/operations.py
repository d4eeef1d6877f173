"""The one path every service call takes: faults, token, parsing, validation, idempotency, reply.

Each operation's handler only does its own work; everything the real service
does the same way for all operations lives here, driven by botocore's model.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web

from botkit.emulator.contacts import ContactCenter, Participant
from botkit.emulator.errors import PARTICIPANT, ServiceError, internal_error, service_model
from botkit.emulator.faults import Faults
from botkit.emulator.sigv4 import SignatureChecker
from botkit.emulator.validation import validate, validation_message
from botkit.emulator.wire import WireError, parse_input, serialize_output
from botkit.emulator.wireformat import dumps

BEARER = "X-Amz-Bearer"

TokenKind = Literal["participant", "connection", "none"]


@dataclass(slots=True)
class Call:
    """What a handler gets: the parsed input and, for participant calls, who is calling."""

    request: web.Request
    params: dict[str, Any]
    participant: Participant | None

    @property
    def caller(self) -> Participant:
        assert self.participant is not None, "operations without a token have no caller"
        return self.participant


Handler = Callable[[Call], Awaitable[dict[str, Any]]]


class Operations:
    """Builds aiohttp handlers for the operations of one service model."""

    def __init__(
        self, service: str, center: ContactCenter, faults: Faults, signatures: SignatureChecker | None = None
    ) -> None:
        self._service = service
        self._model = service_model(service)
        self._center = center
        self._faults = faults
        self._signatures = signatures
        self._invalid = "ValidationException" if service == PARTICIPANT else "InvalidParameterException"

    def route(self, name: str, handler: Handler, token: TokenKind = "connection") -> web.RouteDef:
        operation = self._model.operation_model(name)
        method = operation.http["method"]
        path = operation.http["requestUri"].split("?")[0]

        async def endpoint(request: web.Request) -> web.StreamResponse:
            body = await request.read()
            if self._signatures is not None:
                self._signatures.check(request, body)
            if self._faults.applies_to(name):
                await self._inject_before()
            try:
                participant = self._authenticate(request, token)
            except ServiceError:
                replayed = self._center.replayed(request.headers.get(BEARER), name, _client_token(body), body)
                if replayed is None:
                    raise
                return self._response(operation, replayed)
            try:
                params = parse_input(
                    operation, body=body, headers=request.headers, path_params=request.match_info, query=request.query
                )
            except WireError as error:
                raise ServiceError(self._invalid, str(error), service=self._service) from None
            errors = validate(operation.input_shape, params)
            if errors:
                raise ServiceError(self._invalid, validation_message(errors), service=self._service)
            client_token = params.get("ClientToken") if participant is not None else None
            reply = self._center.remembered(participant, name, client_token, body) if participant else None
            if reply is None:
                reply = await handler(Call(request, params, participant))
                if participant is not None:
                    self._center.remember(participant, name, client_token, body, reply)
            if self._faults.applies_to(name):
                await self._inject_after()
            return self._response(operation, reply)

        return web.route(method, path, endpoint)

    @staticmethod
    def _response(operation: Any, reply: dict[str, Any]) -> web.Response:
        return web.Response(
            body=dumps(serialize_output(operation.output_shape, reply)).encode(),
            content_type="application/json",
        )

    async def _inject_before(self) -> None:
        delay = self._faults.latency()
        if delay:
            await asyncio.sleep(delay)
        error = self._faults.error_before()
        if error is not None:
            status, code = error
            if status >= 500:
                raise internal_error(self._service, "Injected fault")
            raise ServiceError(code, "Injected fault", service=self._service)

    async def _inject_after(self) -> None:
        """The work is done: its answer may be slow to go out, or lost (the service's 500)."""
        delay = self._faults.answer_latency()
        if delay:
            await asyncio.sleep(delay)
        if self._faults.lose_response():
            raise internal_error(self._service)

    def _authenticate(self, request: web.Request, token: TokenKind) -> Participant | None:
        bearer = request.headers.get(BEARER)
        if token == "participant":
            return self._center.participant_by_token(bearer)
        if token == "connection":
            return self._center.participant_by_connection(bearer)
        return None


def _client_token(body: bytes) -> str | None:
    """The ClientToken of a JSON body, read leniently: only a retry of a remembered call needs it."""
    try:
        document = json.loads(body or b"{}")
    except ValueError:
        return None
    token = document.get("ClientToken") if isinstance(document, dict) else None
    return token if isinstance(token, str) else None
