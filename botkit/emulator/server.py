"""The emulator as one aiohttp application, startable in-process or from the CLI."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from botkit.emulator.attachments import Attachments
from botkit.emulator.config import EmulatorConfig
from botkit.emulator.connect_api import ConnectApi
from botkit.emulator.contacts import ContactCenter
from botkit.emulator.control_api import ControlApi
from botkit.emulator.errors import ServiceError
from botkit.emulator.faults import Faults, FaultSpec
from botkit.emulator.flows import ContactFlow
from botkit.emulator.hub import Hub
from botkit.emulator.participant_api import WEBSOCKET_PATH, ParticipantApi
from botkit.emulator.sns_api import SnsApi
from botkit.emulator.streaming import Streaming
from botkit.emulator.wireformat import new_id
from botkit.oslimits import raise_open_files_limit

log = logging.getLogger(__name__)

Endpoint = Callable[[web.Request], Awaitable[web.StreamResponse]]

_CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "x-amzn-RequestId, x-amzn-ErrorType, x-amzn-ErrorMessage, Date",
}
_PREFLIGHT_HEADERS = {
    **_CORS_HEADERS,
    "Access-Control-Allow-Methods": "GET, POST, PUT, DELETE, OPTIONS",
    "Access-Control-Allow-Headers": "*",
    "Access-Control-Max-Age": "86400",
}


CONTROL_PREFIX = "/emulator/"


def _cross_origin(request: web.Request) -> bool:
    """The service's routes allow any origin, as a chat widget in a browser needs; the control API does not,
    so that no web page can register a webhook or inject faults."""
    return not request.path.startswith(CONTROL_PREFIX)


@web.middleware
async def _service_envelope(request: web.Request, handler: Endpoint) -> web.StreamResponse:
    """Every answer gets a request id and, outside /emulator/, CORS headers; every failure gets the service's error shape."""
    request_id = new_id()
    if request.method == "OPTIONS" and _cross_origin(request):
        return web.Response(status=200, headers={**_PREFLIGHT_HEADERS, "x-amzn-RequestId": request_id})
    try:
        response = await handler(request)
    except ServiceError as error:
        response = error.to_response()
    except web.HTTPNotFound:
        response = ServiceError("UnknownOperationException", f"No operation at {request.method} {request.path}").to_response()
        response.set_status(404)
    except web.HTTPMethodNotAllowed:
        response = ServiceError("UnknownOperationException", f"{request.method} is not allowed on {request.path}").to_response()
        response.set_status(405)
    except web.HTTPClientError as error:
        # aiohttp's own refusals (a body over the size limit, a websocket GET without an upgrade): the service's shape.
        response = ServiceError("ValidationException", error.text or error.reason).to_response()
        response.set_status(error.status)
    except web.HTTPException as error:
        # aiohttp deprecates returning an HTTPException; answer with a plain response of the same shape.
        response = web.Response(status=error.status, reason=error.reason, body=error.body, headers=error.headers)
    except Exception:
        log.exception("unexpected failure in %s %s", request.method, request.path)
        response = ServiceError("InternalServerException", "Internal server error").to_response()
    if not response.prepared:
        if _cross_origin(request):
            response.headers.update(_CORS_HEADERS)
        response.headers["x-amzn-RequestId"] = request_id
    return response


class Emulator:
    """A local Amazon Connect chat service.

    >>> async with Emulator(EmulatorConfig(port=0)) as emulator:
    ...     print(emulator.base_url)
    """

    def __init__(self, config: EmulatorConfig | None = None, faults: FaultSpec | None = None) -> None:
        self.config = config or EmulatorConfig()
        self.faults = Faults(faults)
        self.center = ContactCenter(self.config)
        self.hub = Hub(self.center, self.config, self.faults)
        self.flow = ContactFlow(self.center, self.config)
        self.streaming = Streaming(self.center, self.config, self.faults)
        attachments = Attachments(self.center, self.config)
        self.app = web.Application(middlewares=[_service_envelope])
        self.app.router.add_routes(ParticipantApi(self.center, self.config, self.faults, attachments).routes())
        self.app.router.add_routes(ConnectApi(self.center, self.config, self.faults, self.streaming).routes())
        self.app.router.add_routes(
            ControlApi(self.center, self.config, self.faults, self.hub, self.flow, self.streaming).routes()
        )
        self.app.router.add_routes(SnsApi(self.streaming).routes())
        self.app.router.add_routes(attachments.routes())
        self.app.router.add_get(WEBSOCKET_PATH, self.hub.handle)
        self._runner: web.AppRunner | None = None
        self.port = self.config.port

    @property
    def base_url(self) -> str:
        host = "127.0.0.1" if self.config.host in ("0.0.0.0", "::", "localhost") else self.config.host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        raise_open_files_limit()
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.port, backlog=4096, reuse_address=True)
        await site.start()
        self.port = self._runner.addresses[0][1]
        await self.hub.start()
        await self.streaming.open(self.base_url)

    async def stop(self) -> None:
        await self.hub.stop()
        await self.flow.close()
        await self.streaming.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Emulator:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()
