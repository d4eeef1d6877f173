"""One bot process, wired from bot.yaml: plugins, clients, sessions, the intake server, and the embedded emulator."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import aiohttp
import botocore.session
import pluggy
from aiohttp import web

from botkit.config import BotConfig
from botkit.connect.client import ParticipantClient
from botkit.connect.control import ControlPlaneClient
from botkit.connect.endpoints import is_aws_host
from botkit.connect.retry import RetryPolicy
from botkit.emulator import Emulator, EmulatorConfig
from botkit.emulator.faults import FaultSpec, load_fault_file
from botkit.oslimits import raise_open_files_limit
from botkit.plugins import load_plugins, new_plugin_manager
from botkit.runtime import metrics
from botkit.runtime.connection import ConnectionSettings
from botkit.runtime.dispatch import Dispatcher, DispatchSettings
from botkit.runtime.manager import SessionManager
from botkit.runtime.policies import ReceiptSettings
from botkit.runtime.session import SessionSettings
from botkit.server import CONTACT_FLOW_PATH, build_intake_app

log = logging.getLogger(__name__)

INFO_ATTEMPTS = 20


class StartupError(Exception):
    """The bot cannot start: the message says what to fix."""


@dataclass(frozen=True, slots=True)
class Endpoints:
    participant: str
    control: str
    region: str
    instance_id: str
    emulator: bool


class BotProcess:
    """Start it, and every chat started on its Amazon Connect (or emulator) gets the bot."""

    def __init__(
        self,
        config: BotConfig,
        plugin_manager: pluggy.PluginManager | None = None,
        *,
        connection_settings: ConnectionSettings | None = None,
    ) -> None:
        """`connection_settings` (heartbeat, rotation, reconnect backoff) are not in bot.yaml; tests pass faster ones."""
        self.config = config
        self.plugin_manager = plugin_manager or new_plugin_manager()
        self.connection_settings = connection_settings or ConnectionSettings()
        self.emulator: Emulator | None = None
        self.endpoints: Endpoints | None = None
        self.manager: SessionManager | None = None
        self.server_url: str | None = None
        self.plugin_names: list[str] = []
        self._ready = False
        self._runner: web.AppRunner | None = None
        self._clients: list[Any] = []
        self._dispatcher: Dispatcher | None = None
        self._webhook: str | None = None

    @property
    def ready(self) -> bool:
        return self._ready

    async def start(self) -> None:
        raise_open_files_limit()
        self.plugin_names = load_plugins(self.plugin_manager, self.config.plugins, self.config.base_dir)
        if self.config.connect.embedded:
            self.emulator = Emulator(
                EmulatorConfig(host=self.config.emulator.host, port=self.config.emulator.port),
                _faults(self.config),
            )
            await self.emulator.start()
        self.endpoints = await self._endpoints()
        retry = self.config.connect.retry
        policy = RetryPolicy(retry.max_attempts, retry.base_delay, retry.max_delay)
        participant_client = ParticipantClient(self.endpoints.participant, retry=policy, observer=metrics.CONNECT_OBSERVER)
        control_client = ControlPlaneClient(
            self.endpoints.control,
            self.endpoints.region,
            None if self.endpoints.emulator else _aws_credentials(),
            retry=policy,
            observer=metrics.CONNECT_OBSERVER,
        )
        self._clients = [participant_client, control_client]
        runtime = self.config.runtime
        self._dispatcher = Dispatcher(
            self.plugin_manager,
            DispatchSettings(runtime.handler_threads, runtime.handler_timeout, runtime.slow_handler_seconds),
        )
        receipts = self.config.receipts
        self.manager = SessionManager(
            participant_client,
            control_client,
            self._dispatcher,
            instance_id=self.endpoints.instance_id,
            settings=SessionSettings(
                receipts=ReceiptSettings(receipts.enabled, receipts.delivered, receipts.read, receipts.throttle_seconds),
                typing_throttle_seconds=self.config.typing.throttle_seconds,
                connection=self.connection_settings,
                dispatch_bot_messages=runtime.dispatch_bot_messages,
            ),
            plugin_config=self.config.plugin_config,
            max_sessions=runtime.max_sessions,
        )
        await self._serve_intake()
        if self.endpoints.emulator:
            await self._register_webhook()
        self._ready = True

    async def _endpoints(self) -> Endpoints:
        connect = self.config.connect
        base = self.emulator.base_url if self.emulator else str(connect.endpoint).rstrip("/")
        if self.emulator is None and is_aws_host(base):
            if not connect.region or not connect.instance_id:
                raise StartupError("connect.region and connect.instance_id are required for Amazon Connect")
            return Endpoints(base, f"https://connect.{connect.region}.amazonaws.com", connect.region, connect.instance_id, False)
        info = await _emulator_info(base)
        return Endpoints(
            base,
            base,
            connect.region or info["region"],
            connect.instance_id or info["instanceId"],
            True,
        )

    async def _serve_intake(self) -> None:
        assert self.manager is not None
        app = build_intake_app(self.manager, lambda: self._ready)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        server = self.config.server
        site = web.TCPSite(self._runner, server.host, server.port, reuse_address=True)
        await site.start()
        port = self._runner.addresses[0][1]
        host = "127.0.0.1" if server.host in ("0.0.0.0", "::") else server.host
        self.server_url = (server.public_url or f"http://{host}:{port}").rstrip("/")

    async def _register_webhook(self) -> None:
        """Pointed at an emulator, the bot asks to be told of every new chat there."""
        assert self.endpoints is not None and self.server_url is not None
        self._webhook = self.server_url + CONTACT_FLOW_PATH
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{self.endpoints.control}/emulator/webhooks", json={"Url": self._webhook}) as answer:
                if answer.status >= 300:
                    raise StartupError(f"the emulator refused the webhook: HTTP {answer.status}")

    async def stop(self) -> None:
        self._ready = False
        if self._webhook and self.endpoints is not None and self.emulator is None:
            try:
                async with aiohttp.ClientSession() as http:
                    await http.delete(f"{self.endpoints.control}/emulator/webhooks", json={"Url": self._webhook})
            except aiohttp.ClientError:
                log.info("could not unregister the webhook from the emulator")
        if self.manager is not None:
            await self.manager.shutdown()
        if self._runner is not None:
            await self._runner.cleanup()
        for client in self._clients:
            await client.close()
        if self._dispatcher is not None:
            await self._dispatcher.close()
        if self.emulator is not None:
            await self.emulator.stop()

    async def __aenter__(self) -> BotProcess:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


async def _emulator_info(base: str) -> dict[str, Any]:
    """The emulator's region and ids; waits a little, since it may be starting beside the bot."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
        for attempt in range(INFO_ATTEMPTS):
            try:
                async with http.get(f"{base}/emulator/info") as answer:
                    if answer.status == 200:
                        return await answer.json()
                    raise StartupError(f"{base} is not a botkit emulator (GET /emulator/info answered {answer.status})")
            except (aiohttp.ClientConnectionError, asyncio.TimeoutError):
                await asyncio.sleep(min(0.1 * 2**attempt, 2.0))
    raise StartupError(f"no emulator answers at {base}")


def _aws_credentials() -> Any:
    credentials = botocore.session.get_session().get_credentials()
    if credentials is None:
        raise StartupError("no AWS credentials found for the Amazon Connect control plane")
    return credentials


def _faults(config: BotConfig) -> FaultSpec | None:
    path = config.emulator.faults
    return load_fault_file(config.base_dir / path) if path else None
