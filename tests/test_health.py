"""Self-healing and the probes: a bot on an external emulator that restarts, /readyz following what the bot can do."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import yaml
from aiohttp import web

from botkit import hookimpl
from botkit.bot import BotProcess
from botkit.config import parse_config
from botkit.connect.secrets import Secret
from botkit.emulator import Emulator, EmulatorConfig
from botkit.monitor import ConnectMonitor, Webhook
from botkit.plugins import new_plugin_manager
from botkit.probes import Readiness
from tests.runtime.harness import Customer

CHECK_INTERVAL = 0.3


class Echo:
    @hookimpl
    async def on_message(self, session: Any, message: Any) -> None:
        await session.send_message(f"echo: {message.content}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@asynccontextmanager
async def bot_on(emulator_url: str, check_interval: float = CHECK_INTERVAL) -> AsyncIterator[BotProcess]:
    manager = new_plugin_manager()
    manager.register(Echo(), name="echo")
    config = parse_config(yaml.safe_dump({"connect": {"endpoint": emulator_url}, "server": {"port": 0}}))
    async with BotProcess(config, manager, check_interval=check_interval) as bot:
        yield bot


async def probe(url: str) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.get(url) as answer:
        return answer.status, await answer.json()


async def until(condition: Callable[[], Awaitable[bool]], timeout: float) -> None:
    """Re-checks `condition` until it holds; fails after `timeout` seconds."""
    async with asyncio.timeout(timeout):
        while not await condition():
            await asyncio.sleep(0.05)


async def chat_answered(emulator: Emulator) -> None:
    customer = Customer(emulator.base_url)
    try:
        await customer.start()
        await customer.send("anyone there?")
        await customer.wait_for(lambda items: "echo: anyone there?" in customer.bot_messages(), timeout=10)
    finally:
        await customer.close()


async def test_after_the_emulator_restarts_the_next_chat_gets_the_bot_within_10_s() -> None:
    port = free_port()
    first = Emulator(EmulatorConfig(port=port))
    await first.start()
    async with bot_on(first.base_url) as bot:
        await chat_answered(first)
        await first.stop()
        second = Emulator(EmulatorConfig(port=port))
        await second.start()
        restarted = time.monotonic()
        try:
            webhook = f"{bot.server_url}/contact-flow"

            async def registered() -> bool:
                return webhook in second.flow.webhooks

            await until(registered, 10)
            await chat_answered(second)
            assert time.monotonic() - restarted < 10
        finally:
            await second.stop()


async def test_readyz_is_503_naming_connect_and_webhook_while_the_emulator_is_down_and_200_once_back() -> None:
    port = free_port()
    first = Emulator(EmulatorConfig(port=port))
    await first.start()
    async with bot_on(first.base_url) as bot:
        status, body = await probe(f"{bot.server_url}/readyz")
        assert status == 200, body
        assert body["checks"] == {"accepting": True, "server": True, "connect": True, "webhook": True}
        assert await probe(f"{bot.server_url}/healthz") == (status, body)

        await first.stop()

        async def not_ready() -> bool:
            return (await probe(f"{bot.server_url}/readyz"))[0] == 503

        await until(not_ready, CHECK_INTERVAL * 10)
        status, body = await probe(f"{bot.server_url}/readyz")
        assert status == 503 and body["failing"] == ["connect", "webhook"], body
        assert await probe(f"{bot.server_url}/healthz") == (status, body)

        second = Emulator(EmulatorConfig(port=port))
        await second.start()
        try:

            async def ready() -> bool:
                return (await probe(f"{bot.server_url}/readyz"))[0] == 200

            await until(ready, CHECK_INTERVAL * 10)
        finally:
            await second.stop()


async def test_livez_is_200_with_the_loop_lag() -> None:
    async with Emulator(EmulatorConfig(port=0)) as emulator, bot_on(emulator.base_url) as bot:
        status, body = await probe(f"{bot.server_url}/livez")
    assert status == 200
    assert body["status"] == "ok"
    assert 0 <= body["loop_lag_seconds"] < 1
    assert body["stalls"] == 0


@asynccontextmanager
async def answering(status: int) -> AsyncIterator[str]:
    """A server that answers every request with `status`, as Amazon Connect answers an unsigned GET."""

    async def any_request(request: web.Request) -> web.Response:
        return web.json_response({"message": "Missing Authentication Token"}, status=status)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", any_request)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def test_connect_counts_as_reachable_on_any_answer_even_an_error_and_not_when_nothing_answers() -> None:
    async with answering(403) as participant, answering(500) as control:
        readiness = Readiness(accepting=True, server=True)
        monitor = ConnectMonitor(readiness, [participant, control], None, CHECK_INTERVAL)
        try:
            await monitor.check()
            assert readiness.connect and readiness.ready()
            assert readiness.checks() == {"accepting": True, "server": True, "connect": True}
        finally:
            await monitor.stop()
    gone = f"http://127.0.0.1:{free_port()}"
    readiness = Readiness(accepting=True, server=True, connect=True)
    monitor = ConnectMonitor(readiness, [gone], None, CHECK_INTERVAL)
    try:
        await monitor.check()
    finally:
        await monitor.stop()
    assert not readiness.connect and not readiness.ready()


async def test_the_webhook_is_registered_again_with_the_intake_secret_and_never_shown_in_probes() -> None:
    """The emulator signs its deliveries with the secret it was given, so every registration must carry it."""
    registrations: list[dict[str, Any]] = []

    async def list_webhooks(request: web.Request) -> web.Response:
        return web.json_response({"Webhooks": []})  # an emulator that has just restarted

    async def add_webhook(request: web.Request) -> web.Response:
        registrations.append(await request.json())
        return web.json_response({"Webhooks": [registrations[-1]["Url"]]})

    app = web.Application()
    app.router.add_get("/emulator/webhooks", list_webhooks)
    app.router.add_post("/emulator/webhooks", add_webhook)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    emulator = f"http://127.0.0.1:{runner.addresses[0][1]}"
    readiness = Readiness(accepting=True, server=True)
    webhook = Webhook(emulator, "http://127.0.0.1:1/contact-flow", Secret("intake-secret-value"))
    monitor = ConnectMonitor(readiness, [], webhook, CHECK_INTERVAL)
    try:
        await monitor.check()
        await monitor.check()
    finally:
        await monitor.stop()
        await runner.cleanup()
    assert registrations == [{"Url": webhook.url, "Secret": "intake-secret-value"}] * 2
    assert readiness.ready() and "intake-secret-value" not in repr(readiness.checks())


async def test_a_bot_with_an_intake_secret_registers_with_the_emulator_and_gets_its_chats() -> None:
    async with Emulator(EmulatorConfig(port=0)) as emulator:
        manager = new_plugin_manager()
        manager.register(Echo(), name="echo")
        config = parse_config(
            yaml.safe_dump(
                {"connect": {"endpoint": emulator.base_url}, "server": {"port": 0}, "intake": {"secret": "s3cret-value"}}
            )
        )
        async with BotProcess(config, manager, check_interval=CHECK_INTERVAL) as bot:
            status, body = await probe(f"{bot.server_url}/readyz")
            assert status == 200, body
            assert "s3cret-value" not in repr(body)
            await chat_answered(emulator)
