"""Outbound connections to Amazon Connect honour HTTP(S)_PROXY/NO_PROXY and AWS_CA_BUNDLE, as the AWS SDKs do.

Everything runs on 127.0.0.1: an emulator, a small forwarding HTTP proxy, and TLS servers whose certificate
comes from a certificate authority made here, which only AWS_CA_BUNDLE makes trusted.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime
import ipaddress
import json
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from websockets.asyncio.server import ServerConnection, serve

from botkit.connect import ParticipantClient, RetryPolicy, Secret
from botkit.connect.control import ControlPlaneClient
from botkit.connect.errors import ParticipantConnectionError
from botkit.connect.websocket import ChatSocket, SocketFailure, _proxy_for
from botkit.emulator import Emulator, EmulatorConfig

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy", "no_proxy")


@pytest.fixture(autouse=True)
def no_machine_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """The machine's own proxy and CA bundle settings would decide these tests; each sets what it tests."""
    for name in (*PROXY_VARIABLES, "AWS_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    _proxy_for.cache_clear()


# proxies ---------------------------------------------------------------------------------------------------


@asynccontextmanager
async def forwarding_proxy() -> AsyncIterator[tuple[str, list[str]]]:
    """A plain-HTTP forward proxy: takes absolute-form requests, forwards them, records each target URL."""
    seen: list[str] = []

    async def forward(request: web.Request) -> web.Response:
        target = f"http://{request.headers['Host']}{request.path_qs}"
        seen.append(f"{request.method} {target}")
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("proxy-connection", "content-length")}
        async with upstream.request(request.method, target, data=await request.read(), headers=headers) as answer:
            body = await answer.read()
            return web.Response(status=answer.status, body=body, content_type=answer.content_type)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", forward)
    runner = web.AppRunner(app, access_log=None)
    async with aiohttp.ClientSession() as upstream:  # trust_env=False: the proxy goes straight to the target
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        try:
            yield f"http://127.0.0.1:{runner.addresses[0][1]}", seen
        finally:
            await runner.cleanup()


async def start_chat(emulator: Emulator) -> tuple[str, Secret]:
    """A contact on the emulator and its customer's participant token, made without any proxy."""
    control = ControlPlaneClient(emulator.base_url, emulator.config.region)
    try:
        chat = await control.start_chat_contact(emulator.config.instance_id, emulator.config.contact_flow_id, "Ada")
    finally:
        await control.close()
    return chat.contact_id, chat.participant_token


async def test_participant_and_control_calls_go_through_the_environments_http_proxy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with Emulator(EmulatorConfig(port=0)) as emulator, forwarding_proxy() as (proxy, seen):
        contact_id, token = await start_chat(emulator)
        monkeypatch.setenv("HTTP_PROXY", proxy)
        participant = ParticipantClient(emulator.base_url, retry=RetryPolicy(max_attempts=1))
        control = ControlPlaneClient(emulator.base_url, emulator.config.region)
        try:
            details = await participant.create_participant_connection(token)
            joined = await control.create_participant(emulator.config.instance_id, contact_id, "Bot")
        finally:
            await participant.close()
            await control.close()

    assert details.connection_token.reveal() and joined.participant_id
    assert seen == [
        f"POST {emulator.base_url}/participant/connection",
        f"POST {emulator.base_url}/contact/create-participant",
    ]


async def test_no_proxy_keeps_calls_direct(monkeypatch: pytest.MonkeyPatch) -> None:
    async with Emulator(EmulatorConfig(port=0)) as emulator, forwarding_proxy() as (proxy, seen):
        contact_id, _ = await start_chat(emulator)
        monkeypatch.setenv("HTTP_PROXY", proxy)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        control = ControlPlaneClient(emulator.base_url, emulator.config.region)
        try:
            joined = await control.create_participant(emulator.config.instance_id, contact_id, "Bot")
        finally:
            await control.close()

    assert joined.participant_id
    assert seen == []


class CountingExecutor(concurrent.futures.ThreadPoolExecutor):
    """The loop's default executor, counting what is handed to a worker thread."""

    submitted = 0

    def submit(self, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        self.submitted += 1
        return super().submit(*args, **kwargs)


async def test_calls_to_amazon_connect_take_no_thread_hop_to_read_the_environment() -> None:
    """aiohttp's trust_env reads the proxy variables and ~/.netrc in a worker thread on every request, twice: two
    thread hops on the bot's hottest calls (GetTranscript, SendMessage). The endpoint's proxy is looked up once."""
    async with Emulator(EmulatorConfig(port=0)) as emulator:
        _, token = await start_chat(emulator)
        participant = ParticipantClient(emulator.base_url, retry=RetryPolicy(max_attempts=1))
        executor = CountingExecutor(max_workers=1)
        try:
            details = await participant.create_participant_connection(token)
            asyncio.get_running_loop().set_default_executor(executor)
            for _ in range(3):
                await participant.get_transcript(details.connection_token)
        finally:
            await participant.close()
            executor.shutdown()
    assert executor.submitted == 0


# AWS_CA_BUNDLE ------------------------------------------------------------------------------------------------


def write_private_ca(directory: Path) -> tuple[Path, Path, Path]:
    """A certificate authority and a server certificate for 127.0.0.1 signed by it: (CA, cert, key) PEM files."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "botkit test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


@pytest.fixture
def private_ca(tmp_path: Path) -> tuple[Path, ssl.SSLContext]:
    """The CA's PEM file, and a server-side TLS context presenting the certificate it signed."""
    ca, cert, key = write_private_ca(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return ca, context


@asynccontextmanager
async def tls_service(context: ssl.SSLContext) -> AsyncIterator[str]:
    """Answers any request with `{}`: enough for DisconnectParticipant, and any answer will do for a probe."""

    async def answer(request: web.Request) -> web.Response:
        return web.json_response({})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    try:
        yield f"https://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("bundle", [True, False], ids=["with-bundle", "without"])
async def test_participant_and_control_clients_trust_the_aws_ca_bundle(
    monkeypatch: pytest.MonkeyPatch, private_ca: tuple[Path, ssl.SSLContext], bundle: bool
) -> None:
    ca, server_context = private_ca
    if bundle:
        monkeypatch.setenv("AWS_CA_BUNDLE", str(ca))
    async with tls_service(server_context) as url:
        participant = ParticipantClient(url, retry=RetryPolicy(max_attempts=1))
        control = ControlPlaneClient(url, "us-east-1")
        try:
            reachable = await control.answers(timeout=5)
            try:
                await participant.disconnect_participant(Secret("connection-token"))
                disconnected = True
            except ParticipantConnectionError as error:
                assert "certificate" in error.reason.lower() or "ssl" in error.reason.lower(), error.reason
                disconnected = False
        finally:
            await participant.close()
            await control.close()

    assert (reachable, disconnected) == (bundle, bundle)


@pytest.mark.parametrize("bundle", [True, False], ids=["with-bundle", "without"])
async def test_the_chat_websocket_trusts_the_aws_ca_bundle(
    monkeypatch: pytest.MonkeyPatch, private_ca: tuple[Path, ssl.SSLContext], bundle: bool
) -> None:
    ca, server_context = private_ca
    if bundle:
        monkeypatch.setenv("AWS_CA_BUNDLE", str(ca))

    async def subscribe(connection: ServerConnection) -> None:
        async for frame in connection:
            if json.loads(frame).get("topic") == "aws/subscribe":
                await connection.send(json.dumps({"topic": "aws/subscribe", "content": {"status": "success"}}))

    async with serve(subscribe, "127.0.0.1", 0, ssl=server_context) as server:
        port = server.sockets[0].getsockname()[1]
        url = f"wss://127.0.0.1:{port}/connect?token=t"
        if bundle:
            socket = await ChatSocket.open(url, open_timeout=5)
            await socket.close()
        else:
            with pytest.raises(SocketFailure, match="cannot connect"):
                await ChatSocket.open(url, open_timeout=5)

