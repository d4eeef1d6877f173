"""One bot process, wired from bot.yaml: plugins, clients, sessions, the intake server, and the embedded emulator."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import botocore.session
import pluggy
from aiohttp import web
from botocore.credentials import Credentials
from botocore.exceptions import BotoCoreError

from botkit.config import BotConfig, ConnectConfig, plugin_settings
from botkit.connect.client import ParticipantClient
from botkit.connect.control import ControlPlaneClient
from botkit.connect.endpoints import control_endpoint_for
from botkit.connect.outbound import CA_BUNDLE_VARIABLE, ssl_context
from botkit.connect.retry import RetryPolicy
from botkit.connect.sns import SnsVerifier
from botkit.emulator import Emulator, EmulatorConfig
from botkit.emulator.faults import FaultSpec, load_fault_file
from botkit.monitor import ConnectMonitor, Webhook, WebhookRefused
from botkit.oslimits import raise_open_files_limit
from botkit.plugins import config_models, load_plugins, new_plugin_manager, reload_plugins
from botkit.probes import Readiness, add_probe_routes
from botkit.reload import LivePluginConfig
from botkit.runtime import metrics
from botkit.runtime.connection import ConnectionSettings
from botkit.runtime.dispatch import Dispatcher, DispatchSettings
from botkit.runtime.fleet import Fleet
from botkit.runtime.manager import SessionManager
from botkit.runtime.ownership import Ownership, new_worker_id
from botkit.runtime.policies import ReceiptSettings
from botkit.runtime.relay import Relay
from botkit.runtime.session import SessionSettings
from botkit.runtime.streaming import Streaming, StreamingSettings
from botkit.runtime.watchdog import LoopWatchdog
from botkit.server import CONTACT_FLOW_PATH, SnsRoute, build_intake_app
from botkit.store import Store, open_store

log = logging.getLogger(__name__)

INFO_ATTEMPTS = 20
CHECK_INTERVAL = 3.0
"""Seconds between checks that Amazon Connect answers and the emulator still has the bot's webhook."""
SUBSCRIBE_TIMEOUT = 10.0
"""Seconds an emulator has, at start, to send the SubscriptionConfirmation the bot's SNS route confirms."""
STREAMING_ENDPOINTS_PATH = "/emulator/streaming-endpoints"


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
        check_interval: float = CHECK_INTERVAL,
        emulator_overrides: Mapping[str, Any] | None = None,
    ) -> None:
        """`connection_settings` (heartbeat, rotation, reconnect backoff), `check_interval` and `emulator_overrides`
        (EmulatorConfig fields of an embedded emulator, e.g. a shorter SNS retry delay) are not in bot.yaml;
        tests pass shorter ones."""
        self.config = config
        self.plugin_manager = plugin_manager or new_plugin_manager()
        self.connection_settings = connection_settings or ConnectionSettings()
        self.emulator: Emulator | None = None
        self.endpoints: Endpoints | None = None
        self.manager: SessionManager | None = None
        self.server_url: str | None = None
        self.plugin_names: list[str] = []
        self.readiness = Readiness()
        self.watchdog: LoopWatchdog | None = None
        self._check_interval = check_interval
        self._monitor: ConnectMonitor | None = None
        self._runner: web.AppRunner | None = None
        self._clients: list[Any] = []
        self._dispatcher: Dispatcher | None = None
        self._webhook: Webhook | None = None
        self._plugin_config = LivePluginConfig(config.plugin_config)
        self._emulator_overrides = dict(emulator_overrides or {})
        self.streaming: Streaming | None = None
        self.sns_route: SnsRoute | None = None
        self.store: Store | None = None
        self.ownership: Ownership | None = None
        self.fleet: Fleet | None = None
        self.relay: Relay | None = None

    @property
    def ready(self) -> bool:
        """Whether contacts can be taken now: what `GET /readyz` answers."""
        return self.readiness.ready()

    async def start(self) -> None:
        _refuse_an_open_intake(self.config)
        raise_open_files_limit()
        self.plugin_names = load_plugins(self.plugin_manager, self.config.plugins, self.config.base_dir)
        self._plugin_config.replace(plugin_settings(self.config, config_models(self.plugin_manager)))
        if self.config.connect.embedded:
            self.emulator = Emulator(
                EmulatorConfig(host=self.config.emulator.host, port=self.config.emulator.port, **self._emulator_overrides),
                _faults(self.config),
            )
            await self.emulator.start()
        self.endpoints = await self._endpoints()
        _check_ca_bundle()
        retry = self.config.connect.retry
        policy = RetryPolicy(retry.max_attempts, retry.base_delay, retry.max_delay)
        participant_client = ParticipantClient(self.endpoints.participant, retry=policy, observer=metrics.CONNECT_OBSERVER)
        credentials = None if self.endpoints.emulator else await _aws_credentials(self.config.connect)
        control_client = ControlPlaneClient(
            self.endpoints.control,
            self.endpoints.region,
            credentials,
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
        if self.config.transport == "streaming":
            self.streaming, self.sns_route = self._streaming(participant_client, control_client)
        self.store = open_store(self.config.store, base_dir=self.config.base_dir)
        if self.store.shared:  # in memory nothing could be read back: sessions are not saved, as before stores
            self.ownership = Ownership(
                self.store, new_worker_id(self.store), on_lost=self._lost, info=self._worker_info
            )
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
            plugin_config=self._plugin_config,
            max_sessions=runtime.max_sessions,
            transports=self.streaming,
            ownership=self.ownership,
        )
        self.watchdog = LoopWatchdog(self.config.runtime.max_loop_lag_seconds)
        await self._take_part()
        await self._serve_intake()
        await self._watch_connect(control_client)
        self.watchdog.start()  # from here on, a blocked loop is a chat kept waiting
        self.readiness.accepting = True

    async def _take_part(self) -> None:
        """Announce this worker in the store and keep its leases; on a shared store, take back the live contacts
        it can and take part in the intake (runtime/fleet.py)."""
        assert self.store is not None and self.manager is not None
        if self.ownership is None:
            return
        try:
            await self.ownership.beat()
        except Exception as error:
            raise StartupError(f"the store {self.config.store!r} cannot be reached: {type(error).__name__}: {error}") from None
        self.ownership.start()
        self.fleet = Fleet(self.manager, self.ownership, max_sessions=self.config.runtime.max_sessions)
        await self.fleet.start()
        if self.streaming is not None and self.sns_route is not None:
            self.relay = Relay(self.streaming, self.ownership)
            self.relay.start()
            self.sns_route.relay = self.relay

    def _lost(self, contact_id: str) -> None:
        if self.manager is not None:
            self.manager.lost(contact_id)

    def _worker_info(self) -> dict[str, Any]:
        return {
            "sessions": len(self.manager.sessions) if self.manager is not None else 0,
            "url": self.server_url,
            "pid": os.getpid(),
        }

    def reload(self, config: BotConfig) -> list[str]:
        """Live reload: freshly imported plugins and `config`'s plugin_config take over from the next event on.

        Sessions keep their connections and state. If a plugin fails to import, PluginLoadError is raised, and if
        its `Config` model rejects its settings, ConfigError; either way the running plugins stay. Returns the
        plugin names, as `start` sets them.
        """
        manager, names = reload_plugins(config.plugins, config.base_dir)
        settings = plugin_settings(config, config_models(manager))
        if self._dispatcher is not None:
            self._dispatcher.use(manager)
        self._plugin_config.replace(settings)
        self.plugin_manager, self.plugin_names = manager, names
        self.config = self.config.model_copy(update={"plugins": config.plugins, "plugin_config": config.plugin_config})
        return names

    def _streaming(
        self, participant_client: ParticipantClient, control_client: ControlPlaneClient
    ) -> tuple[Streaming, SnsRoute]:
        """Message streaming, and the SNS route it is fed through. Certificates are trusted from SNS's own host for
        the topic's region and `streaming.trusted_cert_hosts`; over plain http from an emulator the bot is pointed
        at (never in `credentials: aws` mode, where the host is not an emulator of the bot's choosing)."""
        assert self.endpoints is not None
        streaming = self.config.streaming
        assert streaming.topic_arn is not None
        settings = StreamingSettings(streaming.topic_arn, token_refresh_margin=self.connection_settings.token_refresh_margin)
        hub = Streaming(participant_client, control_client, self.endpoints.instance_id, settings)
        plain_http = (urlsplit(self.endpoints.control).netloc,) if self.endpoints.emulator else ()
        verifier = SnsVerifier(
            topic_arns=(streaming.topic_arn,),
            trusted_cert_hosts=streaming.trusted_cert_hosts,
            region=streaming.region,
            plain_http_hosts=plain_http,
        )
        return hub, SnsRoute(streaming.path, verifier, hub)

    async def _endpoints(self) -> Endpoints:
        """On AWS (or with `credentials: aws`) everything comes from bot.yaml; an emulator is asked what it lacks."""
        connect = self.config.connect
        base = self.emulator.base_url if self.emulator else str(connect.endpoint).rstrip("/")
        if self.emulator is None and connect.uses_aws:
            if not connect.region or not connect.instance_id:
                raise StartupError("connect.region and connect.instance_id are required for Amazon Connect")
            control = connect.control_endpoint or control_endpoint_for(connect.region, base)
            return Endpoints(base, control.rstrip("/"), connect.region, connect.instance_id, False)
        info = await _emulator_info(base)
        return Endpoints(
            base,
            (connect.control_endpoint or base).rstrip("/"),
            connect.region or info["region"],
            connect.instance_id or info["instanceId"],
            True,
        )

    async def _serve_intake(self) -> None:
        assert self.manager is not None
        app = build_intake_app(
            self.manager, lambda: self.readiness.accepting, self.config.intake, sns=self.sns_route
        )
        assert self.watchdog is not None
        manager = self.manager
        add_probe_routes(app, self.readiness, self.watchdog, lambda: len(manager.sessions))
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
        await self._runner.setup()
        server = self.config.server
        site = web.TCPSite(self._runner, server.host, server.port, reuse_address=True)
        await site.start()
        port = self._runner.addresses[0][1]
        host = "127.0.0.1" if server.host in ("0.0.0.0", "::") else server.host
        self.server_url = (server.public_url or f"http://{host}:{port}").rstrip("/")
        self.readiness.server = True

    async def _watch_connect(self, control_client: ControlPlaneClient) -> None:
        """Pointed at an emulator, the bot asks to be told of every new chat there, and asks again whenever the
        emulator forgets it; against Amazon Connect, it only checks that the service answers, signed where it must be
        (there, contacts arrive through the intake only)."""
        assert self.endpoints is not None and self.server_url is not None
        if self.endpoints.emulator:
            self._webhook = Webhook(self.endpoints.control, self.server_url + CONTACT_FLOW_PATH, self.config.intake.secret)
            bind = self._bind_sns_route if self.sns_route is not None else None
            self._monitor = ConnectMonitor(
                self.readiness, [], self._webhook, self._check_interval, after_register=bind
            )
        else:
            # The control endpoint is probed signed, by its client; the participant one plainly, unless they are one.
            unsigned = [] if self.endpoints.participant == self.endpoints.control else [self.endpoints.participant]
            self._monitor = ConnectMonitor(
                self.readiness, unsigned, None, self._check_interval, signed_probe=control_client.answers
            )
        try:
            await self._monitor.check()
        except WebhookRefused as error:
            raise StartupError(str(error)) from None
        except (aiohttp.ClientError, TimeoutError) as error:
            raise StartupError(f"could not register the webhook with the emulator: {error}") from None
        if self.sns_route is not None and self.endpoints.emulator:
            await self._until_subscribed()
        self._monitor.start()

    @property
    def sns_url(self) -> str | None:
        """Where SNS delivers to this bot (`server_url` + `streaming.path`), on message streaming."""
        if self.sns_route is None or self.server_url is None:
            return None
        return self.server_url + self.sns_route.path

    async def _bind_sns_route(self) -> None:
        """Pointed at an emulator, the bot subscribes its SNS route to the topic there itself, as SNS's Subscribe
        does; the emulator then sends the SubscriptionConfirmation, which the route confirms."""
        assert self.endpoints is not None and self.sns_url is not None
        body = {"StreamingEndpointArn": self.config.streaming.topic_arn, "Urls": [self.sns_url]}
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
            async with http.put(self.endpoints.control + STREAMING_ENDPOINTS_PATH, json=body) as answer:
                if answer.status >= 300:
                    raise WebhookRefused(f"the emulator refused to subscribe the SNS route: HTTP {answer.status}")
        log.info("subscribed %s to %s on the emulator", self.sns_url, self.config.streaming.topic_arn)

    async def _until_subscribed(self) -> None:
        """Wait for the subscription's confirmation (the emulator delivers nothing before), or find it confirmed
        already (a bot restarted on the same URL)."""
        assert self.sns_route is not None and self.endpoints is not None
        if self.sns_route.confirmed.is_set() or await self._listed_as_confirmed():
            return
        try:
            async with asyncio.timeout(SUBSCRIBE_TIMEOUT):
                await self.sns_route.confirmed.wait()
        except TimeoutError:
            raise StartupError(
                f"the emulator sent no SubscriptionConfirmation to {self.sns_url} within {SUBSCRIBE_TIMEOUT:g} s"
            ) from None

    async def _listed_as_confirmed(self) -> bool:
        assert self.endpoints is not None
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
            async with http.get(self.endpoints.control + STREAMING_ENDPOINTS_PATH) as answer:
                if answer.status != 200:
                    return False
                listed = (await answer.json()).get("Subscriptions", [])
        return any(
            isinstance(entry, dict) and entry.get("Url") == self.sns_url and entry.get("Confirmed") is True
            for entry in listed
        )

    async def stop(self) -> None:
        """Refuse new contacts at once, give running handlers the grace, end or abandon every session, then close."""
        self.readiness.accepting = False
        if self._monitor is not None:
            await self._monitor.stop()
        if self._webhook is not None and self.emulator is None:
            try:
                async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1)) as http:
                    await http.delete(self._webhook.emulator + "/emulator/webhooks", json={"Url": self._webhook.url})
            except (aiohttp.ClientError, TimeoutError):
                log.info("could not unregister the webhook from the emulator")
            await self._unbind_sns_route()
        if self.fleet is not None:
            await self.fleet.stop(self.config.runtime.shutdown_grace_seconds)
        if self.manager is not None:
            runtime = self.config.runtime
            await self.manager.shutdown(runtime.shutdown_grace_seconds, leave=self.config.on_shutdown == "disconnect")
        if self.relay is not None:
            await self.relay.stop()
        if self.ownership is not None:
            await self.ownership.stop()
            await self.ownership.depart()
        if self.store is not None:
            await self.store.close()
        if self.streaming is not None:
            await self.streaming.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self.readiness.server = False
        if self.sns_route is not None:
            await self.sns_route.close()
        for client in self._clients:
            await client.close()
        if self._dispatcher is not None:
            await self._dispatcher.close()
        if self.emulator is not None:
            await self.emulator.stop()
        if self.watchdog is not None:
            self.watchdog.stop()

    async def __aenter__(self) -> BotProcess:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


    async def _unbind_sns_route(self) -> None:
        if self._webhook is None or self.sns_url is None:
            return
        body = {"StreamingEndpointArn": self.config.streaming.topic_arn, "Url": self.sns_url}
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1)) as http:
                await http.delete(self._webhook.emulator + STREAMING_ENDPOINTS_PATH, json=body)
        except (aiohttp.ClientError, TimeoutError):
            log.info("could not unsubscribe the SNS route from the emulator")


def _refuse_an_open_intake(config: BotConfig) -> None:
    """Anyone who reaches an unsigned intake can make the bot join any contact: only loopback may go unsigned.

    An embedded emulator is the exception (nothing real can be reached through it), and so is a deliberate
    `intake.allow_unauthenticated: true` (say, behind a proxy that authenticates).
    """
    intake = config.intake
    if intake.secret is not None or intake.allow_unauthenticated or config.connect.embedded:
        return
    host = config.server.host
    if host == "localhost":
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    raise StartupError(
        f"server.host {host!r} is not a loopback address, so intake.secret must be set "
        "(use ${BOTKIT_INTAKE_SECRET}), or intake.allow_unauthenticated: true"
    )


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


async def _aws_credentials(connect: ConnectConfig) -> Credentials:
    """botocore's whole chain (environment, shared config and `connect.profile`, web identity, container and
    instance roles), looked up once, off the loop since it may call out. The object is kept, not frozen: the
    control client freezes it per call, so refreshable credentials (roles, SSO) stay fresh."""

    def look_up() -> Credentials | None:
        return botocore.session.Session(profile=connect.profile).get_credentials()

    try:
        credentials = await asyncio.to_thread(look_up)
    except BotoCoreError as error:
        raise StartupError(f"could not load AWS credentials for Amazon Connect: {error}") from None
    if credentials is None:
        raise StartupError(
            "no AWS credentials found for Amazon Connect: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
            "a profile (connect.profile or AWS_PROFILE), or give the bot an IAM role"
        )
    return credentials


def _check_ca_bundle() -> None:
    """A bad AWS_CA_BUNDLE would fail every call to Connect later, one by one: say so once, at start."""
    try:
        ssl_context()
    except (OSError, ssl.SSLError) as error:
        raise StartupError(f"{CA_BUNDLE_VARIABLE} cannot be loaded: {error}") from None


def _faults(config: BotConfig) -> FaultSpec | None:
    path = config.emulator.faults
    return load_fault_file(config.base_dir / path) if path else None
