"""`connect.credentials: aws`, end to end: `botkit serve` signs with environment credentials, against
`botkit emulator --sigv4`, a contact handed over by the Lambda forwarder, a customer answered.

Both run as real processes on 127.0.0.1. Between the bot and the emulator sits a relay, the bot's only way to
Amazon Connect over HTTP: it records every request the bot makes and checks every one outside the Participant
Service (which takes bearer tokens, not SigV4) with the emulator's own SigV4 checker, the readiness probe's GET
included. The customer's websocket and boto3 calls go straight to the emulator, so everything the relay sees is
the bot's.
"""

from __future__ import annotations

import asyncio
import re
import sys
import textwrap
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import boto3
import pytest
from aiohttp import web

from botkit.emulator import EmulatorConfig
from botkit.emulator.errors import ServiceError
from botkit.emulator.flows import flow_event
from botkit.emulator.sigv4 import SignatureChecker, SigV4Key
from tests.deploy.processes import ROOT, Served, clean_env, serving
from tests.deploy.test_forwarder import LambdaContext, assert_flat_strings, bot_participants, invoke
from tests.runtime.harness import Customer

ACCESS_KEY_ID = "AKIDTEST"
SECRET_KEY = "secretkey"
SESSION_TOKEN = "session-token-for-the-aws-mode-test"
WRONG_SECRET = "wrong-secret-key-7d41"
INTAKE_SECRET = "aws-mode-intake-secret-9b2e"
REGION = "us-east-1"
CHECKER = SignatureChecker(SigV4Key.parse(f"{ACCESS_KEY_ID}:{SECRET_KEY}"), REGION)


@dataclass(frozen=True)
class Relayed:
    """One request the bot made, what the relay's own SigV4 check made of it, and the emulator's answer."""

    method: str
    path: str
    headers: dict[str, str]
    signature: str
    """"valid", or the error code the check raised ("MissingAuthenticationTokenException"...)."""
    status: int


@dataclass
class Relay:
    url: str = ""
    seen: list[Relayed] = field(default_factory=list)

    def signed_calls(self) -> list[Relayed]:
        return [request for request in self.seen if not request.path.startswith("/participant/")]


@asynccontextmanager
async def relay_to(emulator_url: str) -> AsyncIterator[Relay]:
    """Forward every request to the emulator as it came, recording it.

    A signed request keeps its Host (the signature covers it). A participant call gets the emulator's Host, so the
    websocket URL the emulator answers with points at the emulator itself.
    """
    relay = Relay()
    emulator_host = urlsplit(emulator_url).netloc
    hop_by_hop = {"content-length", "transfer-encoding", "connection", "keep-alive"}

    async def forward(request: web.Request) -> web.Response:
        body = await request.read()
        headers = {name: value for name, value in request.headers.items() if name.lower() not in hop_by_hop}
        participant = request.path.startswith("/participant/")
        signature = "not checked"
        if not participant:
            try:
                CHECKER.check(request, body)
                signature = "valid"
            except ServiceError as error:
                signature = error.code
        else:
            headers["Host"] = emulator_host
        async with http.request(
            request.method, emulator_url + request.path_qs, data=body, headers=headers, allow_redirects=False
        ) as answer:
            raw = await answer.read()
            kept = {name: value for name, value in answer.headers.items() if name.lower() not in hop_by_hop}
        relay.seen.append(Relayed(request.method, request.path, dict(request.headers), signature, answer.status))
        kept.pop("Content-Encoding", None)
        return web.Response(status=answer.status, body=raw, headers=kept)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", forward)
    runner = web.AppRunner(app, access_log=None)
    async with aiohttp.ClientSession(auto_decompress=True) as http:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        relay.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        try:
            yield relay
        finally:
            await runner.cleanup()


def aws_env(tmp_path: Path, **credentials: str) -> dict[str, str]:
    """No AWS setting of the machine's leaks in: empty shared files, no metadata service, no proxy; then `credentials`."""
    env = {
        key: value
        for key, value in clean_env().items()
        if not key.startswith("AWS_") and key.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
    }
    empty = tmp_path / "empty-aws-file"
    empty.write_text("", encoding="utf-8")
    env.update(
        AWS_CONFIG_FILE=str(empty),
        AWS_SHARED_CREDENTIALS_FILE=str(empty),
        AWS_EC2_METADATA_DISABLED="true",
        **credentials,
    )
    return env


@asynccontextmanager
async def sigv4_emulator(tmp_path: Path) -> AsyncIterator[tuple[Served, dict[str, Any]]]:
    """`botkit emulator --sigv4 AKIDTEST:secretkey` on a free port, and what its /emulator/info says."""
    argv = [sys.executable, "-m", "botkit", "emulator", "--port", "0", "--sigv4", f"{ACCESS_KEY_ID}:{SECRET_KEY}"]
    async with serving(argv, env=aws_env(tmp_path), cwd=tmp_path, ready_line="emulator") as emulator:
        assert emulator.emulator_url is not None
        async with aiohttp.ClientSession() as http, http.get(emulator.emulator_url + "/emulator/info") as answer:
            info = await answer.json()
        yield emulator, info


@asynccontextmanager
async def aws_mode_bot(tmp_path: Path, relay: Relay, instance_id: str, env: dict[str, str]) -> AsyncIterator[Served]:
    config = tmp_path / "bot.yaml"
    config.write_text(
        textwrap.dedent(
            f"""\
            connect:
              endpoint: {relay.url}
              control_endpoint: {relay.url}
              credentials: aws
              region: {REGION}
              instance_id: {instance_id}
            server: {{host: 127.0.0.1, port: 0}}
            intake: {{secret: {INTAKE_SECRET}}}
            plugins: [{ROOT / "plugins" / "echo.py"}]
            plugin_config:
              echo: {{prefix: "You said: "}}
            """
        ),
        encoding="utf-8",
    )
    async with serving([sys.executable, "-m", "botkit", "serve", str(config)], env=env, cwd=tmp_path) as bot:
        yield bot


def signed_customer(emulator_url: str) -> Customer:
    """The harness's customer, its `connect` client holding the one key this emulator accepts."""
    customer = Customer(emulator_url)
    customer.connect = boto3.client(
        "connect",
        endpoint_url=emulator_url,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_KEY,
    )
    return customer


def contact_flow_event(contact_id: str, info: dict[str, Any]) -> dict[str, Any]:
    """The event the emulator's own flow would give its Lambda, for a contact it started."""
    contact = SimpleNamespace(contact_id=contact_id, initial_contact_id=contact_id, attributes={})
    return flow_event(contact, EmulatorConfig(region=info["region"], instance_id=info["instanceId"]))  # type: ignore[arg-type]


@pytest.fixture
def intake(monkeypatch: pytest.MonkeyPatch) -> Any:
    def point_at(bot_url: str) -> None:
        monkeypatch.setenv("BOTKIT_INTAKE_URL", bot_url)
        monkeypatch.setenv("BOTKIT_INTAKE_SECRET", INTAKE_SECRET)

    return point_at


@pytest.mark.parametrize("session_token", [None, SESSION_TOKEN], ids=["access-key", "session-token"])
async def test_a_bot_in_aws_mode_signs_every_connect_call_joins_through_the_forwarder_and_answers(
    tmp_path: Path, intake: Any, session_token: str | None
) -> None:
    credentials = {"AWS_ACCESS_KEY_ID": ACCESS_KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
    if session_token:
        credentials["AWS_SESSION_TOKEN"] = session_token
    async with sigv4_emulator(tmp_path) as (emulator, info), relay_to(emulator.emulator_url or "") as relay:
        env = aws_env(tmp_path, **credentials)
        async with aws_mode_bot(tmp_path, relay, info["instanceId"], env) as bot:
            customer = signed_customer(emulator.emulator_url or "")
            await customer.start()
            try:
                intake(bot.bot_url)
                answer, _ = await invoke(contact_flow_event(customer.contact_id, info), LambdaContext(8000))

                assert_flat_strings(answer)
                assert answer["botkit"] == "joined", answer
                bots = await bot_participants(emulator.emulator_url or "", customer.contact_id)
                assert [p["ParticipantId"] for p in bots] == [answer["participantId"]]
                await customer.send("hello from a signed bot")
                await customer.wait_for(lambda _: "You said: hello from a signed bot" in customer.bot_messages(), 15)
            finally:
                await customer.close()
            assert await bot.stop(timeout=30) == 0, bot.stderr.decode()

    paths = [(request.method, request.path) for request in relay.seen]
    assert ("GET", "/") in paths, "the readiness probe of the control endpoint went elsewhere"
    assert ("POST", "/contact/create-participant") in paths
    assert not [path for _, path in paths if path.startswith("/emulator")], paths
    signed = relay.signed_calls()
    assert {(r.method, r.path, r.signature) for r in signed} >= {
        ("GET", "/", "valid"),
        ("POST", "/contact/create-participant", "valid"),
    }
    assert all(request.signature == "valid" for request in signed), [(r.path, r.signature) for r in signed]
    assert all(request.status < 400 or request.path == "/" for request in signed), [(r.path, r.status) for r in signed]
    for request in signed:
        scope = re.search(r"Credential=([^,]+)", request.headers["Authorization"])
        assert scope is not None and re.fullmatch(rf"{ACCESS_KEY_ID}/\d{{8}}/{REGION}/connect/aws4_request", scope[1])
        signed_headers = re.search(r"SignedHeaders=([^,]+)", request.headers["Authorization"])
        assert signed_headers is not None
        if session_token:
            assert request.headers["X-Amz-Security-Token"] == session_token
            assert "x-amz-security-token" in signed_headers[1].split(";")
        else:
            assert "X-Amz-Security-Token" not in request.headers
    log = bot.stderr.decode()
    assert SECRET_KEY not in log and SESSION_TOKEN not in log


async def test_a_wrong_secret_key_is_one_clear_log_line_and_a_502_with_a_reason(tmp_path: Path, intake: Any) -> None:
    credentials = {"AWS_ACCESS_KEY_ID": ACCESS_KEY_ID, "AWS_SECRET_ACCESS_KEY": WRONG_SECRET}
    async with sigv4_emulator(tmp_path) as (emulator, info), relay_to(emulator.emulator_url or "") as relay:
        async with aws_mode_bot(tmp_path, relay, info["instanceId"], aws_env(tmp_path, **credentials)) as bot:
            customer = signed_customer(emulator.emulator_url or "")
            await customer.start()
            try:
                intake(bot.bot_url)
                answer, _ = await invoke(contact_flow_event(customer.contact_id, info), LambdaContext(8000))
                assert await bot_participants(emulator.emulator_url or "", customer.contact_id) == []
            finally:
                await customer.close()
            assert await bot.stop(timeout=30) == 0, bot.stderr.decode()

    assert answer == {
        "botkit": "failed",
        "reason": "the bot answered HTTP 502: Amazon Connect refused the bot's AWS credentials: InvalidSignatureException",
    }
    refused = [r for r in relay.seen if r.path == "/contact/create-participant"]
    assert refused and all(r.status == 403 and r.signature == "InvalidSignatureException" for r in refused)
    log = bot.stderr.decode()
    problem_lines = {line.split(" ", 3)[-1] for line in log.splitlines() if "AWS credentials" in line}
    assert len(problem_lines) == 1, log
    assert "Amazon Connect refused the bot's AWS credentials: InvalidSignatureException" in problem_lines.pop()
    assert WRONG_SECRET not in log


async def test_aws_mode_without_credentials_exits_1_with_one_line_naming_the_problem(tmp_path: Path) -> None:
    config = tmp_path / "bot.yaml"
    config.write_text(
        "connect:\n  endpoint: http://127.0.0.1:9\n  credentials: aws\n  region: us-east-1\n  instance_id: i-1\n"
        "server: {host: 127.0.0.1, port: 0}\n",
        encoding="utf-8",
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "botkit", "serve", str(config),
        env=aws_env(tmp_path), cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)

    assert process.returncode == 1
    lines = stderr.decode().strip().splitlines()
    assert lines == [
        "botkit: no AWS credentials found for Amazon Connect: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
        "a profile (connect.profile or AWS_PROFILE), or give the bot an IAM role"
    ], stderr.decode()
    assert b"bot:" not in stdout

