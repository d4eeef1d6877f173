"""The contact flow: every new chat is POSTed to the registered webhooks as a Lambda's ContactFlowEvent."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import pytest
from aiohttp import web

from botkit.connect.secrets import Secret
from botkit.connect.signature import HEADER, Signature, SignatureError
from botkit.emulator import Emulator, EmulatorConfig
from botkit.emulator.config import DEFAULT_CONTACT_FLOW_ID, DEFAULT_INSTANCE_ID
from tests.conftest import aws_clients
from tests.emulator.wsclient import running_api

TIMEOUT = 5


class Webhook:
    """A local endpoint that records what the emulator POSTs; answers `statuses` in turn, then 200."""

    def __init__(self, statuses: list[int] | None = None, hold: asyncio.Event | None = None) -> None:
        self.statuses = list(statuses or [])
        self.hold = hold
        self.posts: list[dict[str, Any]] = []
        self.content_types: list[str] = []
        self.bodies: list[bytes] = []
        self.signatures: list[str | None] = []
        self.taken = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def _receive(self, request: web.Request) -> web.Response:
        self.bodies.append(await request.read())
        self.signatures.append(request.headers.get(HEADER))
        self.posts.append(await request.json())
        self.content_types.append(request.content_type)
        if self.hold is not None:
            await self.hold.wait()
        status = self.statuses.pop(0) if self.statuses else 200
        if status < 300:
            self.taken.set()
        return web.json_response({}, status=status)

    async def __aenter__(self) -> Webhook:
        app = web.Application()
        app.router.add_post("/flow", self._receive)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/flow"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    async def taken_within(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        await asyncio.wait_for(self.taken.wait(), timeout)
        return self.posts[-1]


def start_chat_contact(connect: Any, **extra: Any) -> dict[str, Any]:
    return connect.start_chat_contact(
        InstanceId=DEFAULT_INSTANCE_ID,
        ContactFlowId=DEFAULT_CONTACT_FLOW_ID,
        ParticipantDetails={"DisplayName": "Customer"},
        **extra,
    )


@pytest.fixture
async def api(emulator):
    async with running_api(emulator.base_url) as api:
        yield api


async def test_new_chat_reaches_the_webhook_as_a_contact_flow_event(api, emulator) -> None:
    connect, _ = aws_clients(emulator.base_url)
    async with Webhook() as hook:
        assert await api.ok("POST", "/emulator/webhooks", {"Url": hook.url}) == {"Webhooks": [hook.url]}
        started = await asyncio.to_thread(start_chat_contact, connect, Attributes={"customerTier": "gold"})
        event = await hook.taken_within()
    assert hook.content_types == ["application/json"]
    assert set(event) == {"Name", "Details"}
    assert event["Name"] == "ContactFlowEvent"
    assert set(event["Details"]) == {"ContactData", "Parameters"}
    assert event["Details"]["Parameters"] == {}
    data = event["Details"]["ContactData"]
    assert data["ContactId"] == started["ContactId"]
    assert data["InitialContactId"] == started["ContactId"]
    assert data["Channel"] == "CHAT"
    assert data["InitiationMethod"] == "API"
    assert data["InstanceARN"] == emulator.config.instance_arn
    assert data["InstanceARN"] == f"arn:aws:connect:us-east-1:123456789012:instance/{DEFAULT_INSTANCE_ID}"
    assert data["Attributes"] == {"customerTier": "gold"}


async def test_the_event_is_enough_for_a_bot_to_join(api, emulator) -> None:
    """What a production Lambda does with the event: CreateParticipant on that contact, then connect."""
    connect, participant = aws_clients(emulator.base_url)
    async with Webhook() as hook:
        await api.ok("POST", "/emulator/webhooks", {"Url": hook.url})
        await asyncio.to_thread(start_chat_contact, connect)
        data = (await hook.taken_within())["Details"]["ContactData"]
    created = await asyncio.to_thread(
        connect.create_participant,
        InstanceId=data["InstanceARN"].rsplit("/", 1)[1],
        ContactId=data["ContactId"],
        ParticipantDetails={"ParticipantRole": "CUSTOM_BOT", "DisplayName": "Bot"},
    )
    connection = await asyncio.to_thread(
        participant.create_participant_connection,
        ParticipantToken=created["ParticipantCredentials"]["ParticipantToken"],
        Type=["CONNECTION_CREDENTIALS"],
        ConnectParticipant=True,
    )
    assert connection["ConnectionCredentials"]["ConnectionToken"]


async def test_webhooks_from_the_config_are_called() -> None:
    async with (
        Webhook() as hook,
        Emulator(EmulatorConfig(port=0, webhooks=[hook.url])) as emulator,
        running_api(emulator.base_url) as api,
    ):
        assert await api.ok("GET", "/emulator/webhooks") == {"Webhooks": [hook.url]}
        started = await api.start_chat()
        event = await hook.taken_within()
    assert event["Details"]["ContactData"]["ContactId"] == started["ContactId"]


@pytest.mark.parametrize("failures", [[500], [503, 429]])
async def test_a_failing_webhook_is_retried(api, failures) -> None:
    async with Webhook(statuses=failures) as hook:
        await api.ok("POST", "/emulator/webhooks", {"Url": hook.url})
        started = await api.start_chat()
        await hook.taken_within()
    assert len(hook.posts) == len(failures) + 1
    assert all(post == hook.posts[0] for post in hook.posts)
    assert hook.posts[0]["Details"]["ContactData"]["ContactId"] == started["ContactId"]


async def test_every_registered_webhook_gets_every_chat(api) -> None:
    async with Webhook() as one, Webhook() as two:
        await api.ok("POST", "/emulator/webhooks", {"Url": one.url})
        await api.ok("POST", "/emulator/webhooks", {"Url": two.url})
        started = await api.start_chat()
        for hook in (one, two):
            assert (await hook.taken_within())["Details"]["ContactData"]["ContactId"] == started["ContactId"]


async def test_a_removed_webhook_gets_nothing(api) -> None:
    async with Webhook() as kept, Webhook() as removed:
        await api.ok("POST", "/emulator/webhooks", {"Url": kept.url})
        await api.ok("POST", "/emulator/webhooks", {"Url": removed.url})
        await api.ok("DELETE", "/emulator/webhooks", {"Url": removed.url})
        await api.start_chat()
        await kept.taken_within()
    # hand-off tasks are created when the chat starts, so none was ever made for the removed one
    assert removed.posts == []


async def test_start_chat_does_not_wait_for_the_webhook(api) -> None:
    release = asyncio.Event()
    async with Webhook(hold=release) as hook:
        await api.ok("POST", "/emulator/webhooks", {"Url": hook.url})
        started = await asyncio.wait_for(api.start_chat(), TIMEOUT)  # the webhook is still holding its answer
        release.set()
        event = await hook.taken_within()
    assert event["Details"]["ContactData"]["ContactId"] == started["ContactId"]


async def test_an_unreachable_webhook_does_not_break_anything(api) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}/flow"
    async with Webhook() as alive:
        await api.ok("POST", "/emulator/webhooks", {"Url": dead})
        await api.ok("POST", "/emulator/webhooks", {"Url": alive.url})
        customer = await api.customer()
        await alive.taken_within()
        assert (await api.send_message(customer, "still fine")).status == 200


async def test_idempotent_start_chat_hands_the_contact_off_once(api) -> None:
    async with Webhook() as hook:
        await api.ok("POST", "/emulator/webhooks", {"Url": hook.url})
        first = await api.start_chat(ClientToken="same-start")
        await hook.taken_within()
        again = await api.start_chat(ClientToken="same-start")
        assert again["ContactId"] == first["ContactId"]
        hook.taken.clear()
        other = await api.start_chat()
        assert (await hook.taken_within())["Details"]["ContactData"]["ContactId"] == other["ContactId"]
    assert [post["Details"]["ContactData"]["ContactId"] for post in hook.posts] == [
        first["ContactId"],
        other["ContactId"],
    ]


# Signed deliveries ------------------------------------------------------------------------------------


def verified(signature: str | None, secret: str, body: bytes) -> None:
    parsed = Signature.parse(signature)
    parsed.check_fresh(time.time(), 60)
    parsed.check_body(Secret(secret), body)


async def test_a_webhook_registered_with_a_secret_gets_signed_deliveries(api) -> None:
    async with Webhook(statuses=[503]) as hook:
        await api.ok("POST", "/emulator/webhooks", {"Url": hook.url, "Secret": "hook-secret-1"})
        started = await api.start_chat()
        event = await hook.taken_within()
    assert event["Details"]["ContactData"]["ContactId"] == started["ContactId"]
    assert len(hook.signatures) == 2  # the retry is signed too
    for signature, body in zip(hook.signatures, hook.bodies, strict=True):
        verified(signature, "hook-secret-1", body)
    assert hook.content_types == ["application/json", "application/json"]


async def test_a_webhook_without_a_secret_gets_unsigned_deliveries(api) -> None:
    async with Webhook() as hook:
        await api.ok("POST", "/emulator/webhooks", {"Url": hook.url})
        await api.start_chat()
        await hook.taken_within()
    assert hook.signatures == [None]


async def test_registering_again_replaces_the_secret_and_no_answer_shows_it(api) -> None:
    async with Webhook() as hook:
        first = await api.call("POST", "/emulator/webhooks", {"Url": hook.url, "Secret": "old-secret-value"})
        second = await api.call("POST", "/emulator/webhooks", {"Url": hook.url, "Secret": "new-secret-value"})
        listed = await api.call("GET", "/emulator/webhooks")
        await api.start_chat()
        await hook.taken_within()
        removed = await api.call("DELETE", "/emulator/webhooks", {"Url": hook.url})
    verified(hook.signatures[0], "new-secret-value", hook.bodies[0])
    with pytest.raises(SignatureError):
        verified(hook.signatures[0], "old-secret-value", hook.bodies[0])
    assert listed.body == {"Webhooks": [hook.url]}
    assert removed.body == {"Webhooks": []}
    for reply in (first, second, listed, removed):
        assert "secret-value" not in reply.text


@pytest.mark.parametrize("secret", ["", 42, ["s"]])
async def test_a_secret_that_is_not_a_non_empty_string_is_refused(api, secret) -> None:
    reply = await api.call("POST", "/emulator/webhooks", {"Url": "http://127.0.0.1:9/flow", "Secret": secret})
    assert reply.status == 400 and "Secret" in reply.text
    assert (await api.ok("GET", "/emulator/webhooks")) == {"Webhooks": []}


# CORS ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/emulator/info"), ("GET", "/emulator/webhooks"), ("OPTIONS", "/emulator/webhooks")]
)
async def test_the_control_api_gives_no_cross_origin_access(api, method, path) -> None:
    """A web page must not be able to register a webhook (or read the contacts) from a user's browser."""
    headers = {"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"}
    reply = await api.call(method, path, headers=headers)
    assert not [name for name in reply.headers if name.lower().startswith("access-control-")]
    expected_status = 405 if method == "OPTIONS" else 200  # no preflight route: nothing to allow
    assert reply.status == expected_status


async def test_the_participant_service_keeps_the_cors_a_browser_widget_needs(api) -> None:
    headers = {"Origin": "http://widget.example", "Access-Control-Request-Method": "POST"}
    preflight = await api.call("OPTIONS", "/participant/message", headers=headers)
    assert preflight.status == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    answer = await api.call("POST", "/participant/message", {}, headers={"Origin": "http://widget.example"})
    assert answer.headers["Access-Control-Allow-Origin"] == "*"
