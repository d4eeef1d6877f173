"""The Lambda forwarder (deploy/aws/forwarder.py), called as Lambda calls it, against real HTTP servers on 127.0.0.1.

`handler()` blocks (urllib), so it runs in a thread while the servers it calls run on the test's loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import importlib.util
import json
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tests.deploy.processes import ROOT, clean_env, free_port, serving
from tests.runtime.harness import Customer

FORWARDER_PATH = ROOT / "deploy" / "aws" / "forwarder.py"
SECRET = "forwarder-test-secret-1f0c"


def _load_forwarder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("botkit_deploy_forwarder", FORWARDER_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


forwarder = _load_forwarder()


class LambdaContext:
    """The one part of Lambda's context the forwarder reads: the time left, counting down from now."""

    def __init__(self, remaining_ms: int) -> None:
        self._deadline = time.monotonic() + remaining_ms / 1000

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def flow_event(contact_id: str = "11111111-2222-3333-4444-555555555555") -> dict[str, Any]:
    return {"Name": "ContactFlowEvent", "Details": {"ContactData": {"ContactId": contact_id, "Channel": "CHAT"}}}


async def invoke(event: Any, context: Any = None) -> tuple[dict[str, str], float]:
    """The handler's answer and how long it took, called off the loop as Lambda's runtime would call it."""
    started = time.monotonic()
    answer = await asyncio.to_thread(forwarder.handler, event, context)
    return answer, time.monotonic() - started


def assert_flat_strings(answer: dict[str, str]) -> None:
    """What the flow's STRING_MAP validation accepts; and the secret is never in it."""
    assert isinstance(answer, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in answer.items())
    assert SECRET not in json.dumps(answer)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@asynccontextmanager
async def local_intake(handle: Handler, prefix: str = "") -> AsyncIterator[str]:
    """A stand-in for the bot's intake on 127.0.0.1; yields its base URL (with `prefix` as the base path)."""
    app = web.Application()
    app.router.add_post(f"{prefix}/contact-flow", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}{prefix}"
    finally:
        await runner.cleanup()


def verify_signature(request_headers: Any, body: bytes, secret: str) -> None:
    """The intake's scheme, recomputed here independently of the forwarder's code."""
    header = request_headers["X-Botkit-Signature"]
    fields = dict(part.split("=", 1) for part in header.split(","))
    assert set(fields) == {"t", "v1"}, header
    timestamp = fields["t"]
    assert timestamp.isdigit() and abs(int(timestamp) - time.time()) < 30
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(fields["v1"], expected), "the signature does not match the body"


@pytest.fixture
def intake_env(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    def point_at(url: str, secret: str = SECRET) -> None:
        monkeypatch.setenv("BOTKIT_INTAKE_URL", url)
        monkeypatch.setenv("BOTKIT_INTAKE_SECRET", secret)

    return point_at


# against a real `botkit serve` ---------------------------------------------------------------------------


@asynccontextmanager
async def served_bot(tmp_path: Path) -> AsyncIterator[Any]:
    """`botkit serve` with an intake secret, on its embedded emulator, both on free ports on 127.0.0.1."""
    config = tmp_path / "bot.yaml"
    config.write_text(
        textwrap.dedent(
            f"""\
            connect: {{endpoint: embedded}}
            emulator: {{host: 127.0.0.1, port: 0}}
            server: {{host: 127.0.0.1, port: 0}}
            intake: {{secret: {SECRET}}}
            plugins: [{ROOT / "plugins" / "echo.py"}]
            plugin_config:
              echo: {{prefix: "You said: "}}
            """
        ),
        encoding="utf-8",
    )
    async with serving([sys.executable, "-m", "botkit", "serve", str(config)], env=clean_env(), cwd=tmp_path) as bot:
        yield bot


@asynccontextmanager
async def flow_events_from(emulator_url: str) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
    """The emulator's own contact-flow events, caught by a webhook here in place of the bot's.

    The bot's webhook is removed first, so the bot can only learn of a contact through the forwarder.
    """
    caught: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def catch(request: web.Request) -> web.Response:
        await caught.put(await request.json())
        return web.json_response({})

    async with local_intake(catch) as url, aiohttp.ClientSession() as http:
        async with http.get(f"{emulator_url}/emulator/webhooks") as answer:
            registered = (await answer.json())["Webhooks"]
        for webhook in registered:
            webhook_url = webhook["Url"] if isinstance(webhook, dict) else webhook
            async with http.delete(f"{emulator_url}/emulator/webhooks", json={"Url": webhook_url}) as answer:
                assert answer.status == 200, await answer.text()
        async with http.post(f"{emulator_url}/emulator/webhooks", json={"Url": url + "/contact-flow"}) as answer:
            assert answer.status == 200, await answer.text()
        yield caught


async def bot_participants(emulator_url: str, contact_id: str) -> list[dict[str, Any]]:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{emulator_url}/emulator/contacts/{contact_id}") as answer:
            contact = await answer.json()
    return [p for p in contact["Participants"] if p["ParticipantRole"] == "CUSTOM_BOT"]


async def test_a_contact_flow_event_forwarded_to_a_real_bot_joins_it_and_the_customer_is_answered(
    tmp_path: Path, intake_env: Callable[[str], None]
) -> None:
    async with served_bot(tmp_path) as bot:
        assert bot.emulator_url is not None
        async with flow_events_from(bot.emulator_url) as events:
            customer = Customer(bot.emulator_url)
            await customer.start()
            try:
                event = await asyncio.wait_for(events.get(), 10)
                assert event["Details"]["ContactData"]["ContactId"] == customer.contact_id
                intake_env(bot.bot_url)

                answer, _ = await invoke(event, LambdaContext(8000))

                assert_flat_strings(answer)
                assert answer["botkit"] == "joined", answer
                bots = await bot_participants(bot.emulator_url, customer.contact_id)
                assert [p["ParticipantId"] for p in bots] == [answer["participantId"]]
                await customer.send("hello through Lambda")
                await customer.wait_for(lambda _: "You said: hello through Lambda" in customer.bot_messages(), 15)
            finally:
                await customer.close()
        assert await bot.stop(timeout=30) == 0, bot.stderr.decode()


async def test_a_wrong_secret_is_refused_by_a_real_bot_and_reported_without_the_secret(
    tmp_path: Path, intake_env: Callable[[str], None]
) -> None:
    """Needs the signed intake (issue 9): the bot answers 401, and the forwarder does not retry it."""
    async with served_bot(tmp_path) as bot:
        assert bot.emulator_url is not None
        async with flow_events_from(bot.emulator_url) as events:
            customer = Customer(bot.emulator_url)
            await customer.start()
            try:
                event = await asyncio.wait_for(events.get(), 10)
                intake_env(bot.bot_url, "not-the-bot-secret")

                answer, _ = await invoke(event, LambdaContext(8000))

                assert_flat_strings(answer)
                assert answer["botkit"] == "failed" and "HTTP 401" in answer["reason"], answer
                assert "not-the-bot-secret" not in answer["reason"]
                assert await bot_participants(bot.emulator_url, customer.contact_id) == []
            finally:
                await customer.close()


# against stand-ins, for the cases a real bot does not produce on demand ---------------------------------


async def test_the_request_is_a_signed_json_post_to_the_contact_flow_path_under_the_base_url(
    intake_env: Callable[[str], None],
) -> None:
    seen: list[tuple[str, str, bytes]] = []

    async def check(request: web.Request) -> web.Response:
        body = await request.read()
        verify_signature(request.headers, body, SECRET)
        seen.append((request.method, request.content_type, body))
        return web.json_response({"ContactId": "c-1", "ParticipantId": "bot-participant-1"})

    event = flow_event("c-1")
    async with local_intake(check, prefix="/bots/faq") as url:
        intake_env(url + "/")  # a trailing slash on the base URL is tolerated

        answer, _ = await invoke(event)

    assert answer == {"botkit": "joined", "participantId": "bot-participant-1"}
    assert [(method, content_type) for method, content_type, _ in seen] == [("POST", "application/json")]
    assert json.loads(seen[0][2]) == event


async def test_nothing_listening_fails_with_a_reason(intake_env: Callable[[str], None]) -> None:
    intake_env(f"http://127.0.0.1:{free_port()}")

    answer, elapsed = await invoke(flow_event(), LambdaContext(3000))

    assert_flat_strings(answer)
    assert answer["botkit"] == "failed" and "could not reach the bot" in answer["reason"], answer
    assert elapsed < 3


async def test_a_bot_slower_than_the_deadline_fails_within_the_lambda_budget_after_one_retry(
    intake_env: Callable[[str], None],
) -> None:
    released = asyncio.Event()
    arrivals = 0

    async def stall(request: web.Request) -> web.Response:
        nonlocal arrivals
        arrivals += 1
        await released.wait()
        return web.json_response({"ParticipantId": "too-late"})

    async with local_intake(stall) as url:
        intake_env(url)
        try:
            answer, elapsed = await invoke(flow_event(), LambdaContext(1500))
        finally:
            released.set()

    assert_flat_strings(answer)
    assert answer["botkit"] == "failed" and "did not answer" in answer["reason"], answer
    assert elapsed < 1.5, f"took {elapsed:.2f} s of a 1.5 s budget"
    assert arrivals == 2


async def test_a_5xx_is_retried_once_and_the_second_answer_counts(intake_env: Callable[[str], None]) -> None:
    answers = [
        web.json_response({"message": "not ready"}, status=503),
        web.json_response({"ContactId": "c-1", "ParticipantId": "bot-participant-2"}),
    ]
    bodies: list[bytes] = []

    async def flaky(request: web.Request) -> web.Response:
        body = await request.read()
        verify_signature(request.headers, body, SECRET)
        bodies.append(body)
        return answers[len(bodies) - 1]

    async with local_intake(flaky) as url:
        intake_env(url)
        answer, _ = await invoke(flow_event("c-1"), LambdaContext(8000))

    assert answer == {"botkit": "joined", "participantId": "bot-participant-2"}
    assert len(bodies) == 2 and bodies[0] == bodies[1]


async def test_a_5xx_twice_fails_with_the_bots_message(intake_env: Callable[[str], None]) -> None:
    arrivals = 0

    async def down(request: web.Request) -> web.Response:
        nonlocal arrivals
        arrivals += 1
        return web.json_response({"message": "could not reach Amazon Connect"}, status=502)

    async with local_intake(down) as url:
        intake_env(url)
        answer, _ = await invoke(flow_event(), LambdaContext(8000))

    assert answer == {"botkit": "failed", "reason": "the bot answered HTTP 502: could not reach Amazon Connect"}
    assert arrivals == 2


async def test_a_401_fails_at_once_without_a_retry(intake_env: Callable[[str], None]) -> None:
    arrivals = 0

    async def refuse(request: web.Request) -> web.Response:
        nonlocal arrivals
        arrivals += 1
        return web.json_response({"message": "bad signature"}, status=401)

    async with local_intake(refuse) as url:
        intake_env(url)
        answer, _ = await invoke(flow_event(), LambdaContext(8000))

    assert_flat_strings(answer)
    assert answer == {"botkit": "failed", "reason": "the bot answered HTTP 401: bad signature"}
    assert arrivals == 1


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (200, b"<html>a proxy page</html>", "the bot's answer is not a JSON object"),
        (200, b'{"ContactId": "c-1"}', "the bot's answer has no ParticipantId"),
        (302, b"", "the bot answered HTTP 302: no message"),
    ],
)
async def test_an_answer_that_is_not_the_bots_fails_without_a_retry(
    intake_env: Callable[[str], None], status: int, body: bytes, reason: str
) -> None:
    arrivals = 0

    async def odd(request: web.Request) -> web.Response:
        nonlocal arrivals
        arrivals += 1
        return web.Response(status=status, body=body, headers={"Location": "http://127.0.0.1:9/elsewhere"})

    async with local_intake(odd) as url:
        intake_env(url)
        answer, _ = await invoke(flow_event(), LambdaContext(8000))

    assert answer == {"botkit": "failed", "reason": reason}
    assert arrivals == 1


@pytest.mark.parametrize(
    ("environ", "reason"),
    [
        ({"BOTKIT_INTAKE_SECRET": SECRET}, "BOTKIT_INTAKE_URL is not set"),
        ({"BOTKIT_INTAKE_URL": "http://127.0.0.1:9"}, "BOTKIT_INTAKE_SECRET is not set"),
        (
            {"BOTKIT_INTAKE_URL": "ftp://127.0.0.1/bot", "BOTKIT_INTAKE_SECRET": SECRET},
            "BOTKIT_INTAKE_URL must be an http(s) base URL, such as https://bot.example.com",
        ),
        (
            {"BOTKIT_INTAKE_URL": "http://127.0.0.1:port", "BOTKIT_INTAKE_SECRET": SECRET},
            "BOTKIT_INTAKE_URL is not a valid URL",
        ),
    ],
)
async def test_missing_or_bad_settings_fail_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, environ: dict[str, str], reason: str
) -> None:
    monkeypatch.delenv("BOTKIT_INTAKE_URL", raising=False)
    monkeypatch.delenv("BOTKIT_INTAKE_SECRET", raising=False)
    for key, value in environ.items():
        monkeypatch.setenv(key, value)

    answer, _ = await invoke(flow_event())

    assert answer == {"botkit": "failed", "reason": reason}


async def test_an_event_that_is_not_json_fails_instead_of_raising(intake_env: Callable[[str], None]) -> None:
    intake_env("http://127.0.0.1:9")

    answer, _ = await invoke({"Details": {"ContactData": {"ContactId": object()}}})

    assert answer == {"botkit": "failed", "reason": "the event is not JSON"}


def test_importing_it_needs_no_configuration_and_only_the_standard_library() -> None:
    """A bare Lambda zip has no site-packages: run it with -S -I, outside this checkout, with no BOTKIT_* set."""
    script = (
        "import importlib.util, json, sys\n"
        f"spec = importlib.util.spec_from_file_location('forwarder', {str(FORWARDER_PATH)!r})\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "outside = [n for n in sys.modules if n.split('.')[0] not in sys.stdlib_module_names | {'__main__'}]\n"
        "print(json.dumps([sorted(outside), callable(module.handler)]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-S", "-I", "-c", script], env=clean_env(), cwd="/", capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [[], True]
