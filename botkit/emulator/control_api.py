"""`/emulator/`: what tests, local chat and benchmarks need that the real service has no API for."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from botkit.connect import vocabulary as v
from botkit.connect.secrets import Secret
from botkit.emulator.config import EmulatorConfig
from botkit.emulator.contacts import ContactCenter
from botkit.emulator.errors import ServiceError
from botkit.emulator.faults import Faults, FaultSpec, FaultSpecError
from botkit.emulator.flows import ContactFlow
from botkit.emulator.hub import Hub
from botkit.emulator.participant_api import public_base
from botkit.emulator.streaming import Streaming
from botkit.emulator.wireformat import has_lone_surrogate

JOINABLE_ROLES = (v.AGENT, v.SUPERVISOR, v.CUSTOMER)


class ControlApi:
    def __init__(
        self,
        center: ContactCenter,
        config: EmulatorConfig,
        faults: Faults,
        hub: Hub,
        flow: ContactFlow,
        streaming: Streaming,
    ) -> None:
        self._center = center
        self._config = config
        self._faults = faults
        self._hub = hub
        self._flow = flow
        self._streaming = streaming

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/emulator/info", self.info),
            web.get("/emulator/contacts", self.list_contacts),
            web.get("/emulator/contacts/{ContactId}", self.describe_contact),
            web.post("/emulator/contacts/{ContactId}/participants", self.join),
            web.get("/emulator/faults", self.get_faults),
            web.put("/emulator/faults", self.put_faults),
            web.post("/emulator/faults/drop-websockets", self.drop_websockets),
            web.get("/emulator/faults/stats", self.fault_stats),
            web.get("/emulator/webhooks", self.list_webhooks),
            web.post("/emulator/webhooks", self.add_webhook),
            web.delete("/emulator/webhooks", self.remove_webhook),
            web.put("/emulator/views/{ViewToken}", self.put_view),
            web.get("/emulator/streaming-endpoints", self.list_streaming_endpoints),
            web.put("/emulator/streaming-endpoints", self.put_streaming_endpoint),
            web.delete("/emulator/streaming-endpoints", self.remove_streaming_endpoint),
            web.get("/emulator/authenticate", self.authenticate),
        ]

    async def info(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "instanceId": self._config.instance_id,
                "contactFlowId": self._config.contact_flow_id,
                "region": self._config.region,
                "endpoint": public_base(request),
            }
        )

    async def list_contacts(self, request: web.Request) -> web.Response:
        contacts = self._center.contacts.values()
        if request.query.get("active") == "true":
            contacts = [c for c in contacts if not c.ended]
        return web.json_response({"Contacts": [c.summary() for c in contacts]})

    async def describe_contact(self, request: web.Request) -> web.Response:
        return web.json_response(self._center.contact(request.match_info["ContactId"]).summary())

    async def join(self, request: web.Request) -> web.Response:
        contact = self._center.contact(request.match_info["ContactId"])
        body = await _json_object(request)
        role = body.get("ParticipantRole")
        if role not in JOINABLE_ROLES:
            raise _bad_request(f"ParticipantRole must be one of {', '.join(JOINABLE_ROLES)}")
        name = body.get("DisplayName", role.title())
        if not isinstance(name, str) or not 1 <= len(name) <= 256:
            raise _bad_request("DisplayName must be a string of 1 to 256 characters")
        participant = await self._center.add_human(contact, role, name)
        return web.json_response(
            {"ParticipantId": participant.participant_id, "ParticipantToken": participant.participant_token}
        )

    async def get_faults(self, request: web.Request) -> web.Response:
        return web.json_response(self._faults.spec.as_dict())

    async def put_faults(self, request: web.Request) -> web.Response:
        try:
            spec = FaultSpec.from_dict(await _json_object(request))
        except (FaultSpecError, TypeError) as error:
            raise _bad_request(str(error)) from None
        self._faults.apply(spec)
        return web.json_response(spec.as_dict())

    async def fault_stats(self, request: web.Request) -> web.Response:
        """What message streaming sent and what its faults did, since start: the numbers a test report quotes."""
        return web.json_response({"streaming": self._streaming.stats.as_dict()})

    async def drop_websockets(self, request: web.Request) -> web.Response:
        """Close sockets now; narrowed by ContactId, ParticipantId or ParticipantRole when given."""
        body = await _json_object(request) if request.can_read_body else {}
        wanted = {key: body[key] for key in ("ContactId", "ParticipantId", "ParticipantRole") if key in body}

        def matches(socket: Any) -> bool:
            participant = socket.participant
            actual = {
                "ContactId": participant.contact.contact_id,
                "ParticipantId": participant.participant_id,
                "ParticipantRole": participant.role,
            }
            return all(actual[key] == value for key, value in wanted.items())

        return web.json_response({"Dropped": await self._hub.drop(matches)})

    async def list_webhooks(self, request: web.Request) -> web.Response:
        return web.json_response({"Webhooks": self._flow.webhooks})

    async def add_webhook(self, request: web.Request) -> web.Response:
        """`{"Url"[, "Secret"]}`: with a secret, deliveries carry `X-Botkit-Signature`; the secret is never shown."""
        body = await _json_object(request)
        url = _http_url(body.get("Url"))
        secret = body.get("Secret")
        if secret is not None and (not isinstance(secret, str) or not secret):
            raise _bad_request("Secret must be a non-empty string")
        self._flow.register(url, None if secret is None else Secret(secret))
        return web.json_response({"Webhooks": self._flow.webhooks})

    async def remove_webhook(self, request: web.Request) -> web.Response:
        url = _http_url((await _json_object(request)).get("Url"))
        if not self._flow.unregister(url):
            raise ServiceError("ResourceNotFoundException", "No such webhook")
        return web.json_response({"Webhooks": self._flow.webhooks})

    async def put_view(self, request: web.Request) -> web.Response:
        token = request.match_info["ViewToken"]
        view = await _json_object(request)
        self._config.views[token] = view
        return web.json_response({"View": view})

    async def list_streaming_endpoints(self, request: web.Request) -> web.Response:
        return web.json_response({"Subscriptions": self._streaming.subscriptions()})

    async def put_streaming_endpoint(self, request: web.Request) -> web.Response:
        """`{"StreamingEndpointArn", "Urls"}` subscribes the URLs to the topic, as SNS's Subscribe: each new one
        gets a SubscriptionConfirmation and nothing else until it is confirmed; URLs already there stay."""
        body = await _json_object(request)
        arn, urls = _topic_arn(body), body.get("Urls")
        if not isinstance(urls, list) or not urls:
            raise _bad_request("Urls must be a non-empty list of http(s) URLs")
        urls = await self._streaming.subscribe(arn, [_http_url(url) for url in urls], public_base(request))
        return web.json_response({"StreamingEndpointArn": arn, "Urls": urls})

    async def remove_streaming_endpoint(self, request: web.Request) -> web.Response:
        """`{"StreamingEndpointArn", "Url"}`: pending deliveries stop; a confirmed subscriber gets an
        UnsubscribeConfirmation, as on SNS."""
        body = await _json_object(request)
        arn, url = _topic_arn(body), _http_url(body.get("Url"))
        if not await self._streaming.unsubscribe(arn, url):
            raise ServiceError("ResourceNotFoundException", "No such subscription")
        return web.json_response({"StreamingEndpointArn": arn, "Urls": self._streaming.urls(arn)})

    async def authenticate(self, request: web.Request) -> web.Response:
        """Stands in for the identity provider's page: it sends the customer straight back."""
        target = request.query.get("RedirectUri", "")
        if urlsplit(target).scheme not in ("http", "https"):
            raise _bad_request("RedirectUri must be an http(s) URL")
        raise web.HTTPFound(target)


async def _json_object(request: web.Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.read() or b"{}")
    except ValueError:
        raise _bad_request("Body must be JSON") from None
    if not isinstance(body, dict):
        raise _bad_request("Body must be a JSON object")
    if has_lone_surrogate(body):
        raise _bad_request("Body holds an unpaired UTF-16 surrogate escape")
    return body


def _topic_arn(body: dict[str, Any]) -> str:
    arn = body.get("StreamingEndpointArn")
    if not isinstance(arn, str) or not arn.startswith("arn:"):
        raise _bad_request("StreamingEndpointArn must be an ARN")
    return arn


def _http_url(value: Any) -> str:
    if not isinstance(value, str) or urlsplit(value).scheme not in ("http", "https") or not urlsplit(value).netloc:
        raise _bad_request("Url must be an http(s) URL")
    return value


def _bad_request(message: str) -> ServiceError:
    return ServiceError("ValidationException", message)
