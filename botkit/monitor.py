"""Watching, in the background, what the bot needs to take contacts: Amazon Connect (or the emulator) answers,
and the emulator still has the bot's webhook.

An emulator that restarts forgets its webhooks, and from then on no chat would get the bot: the monitor
registers the webhook again at its next check. The probes read its findings; they never call out themselves.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from botkit.connect.outbound import client_session
from botkit.connect.secrets import Secret
from botkit.probes import Readiness

log = logging.getLogger(__name__)

WEBHOOKS_PATH = "/emulator/webhooks"


class WebhookRefused(Exception):
    """The emulator answered the registration with an error."""


@dataclass(frozen=True, slots=True)
class Webhook:
    """Where the emulator delivers new contacts, and the secret it signs them with."""

    emulator: str
    url: str
    secret: Secret | None


SignedProbe = Callable[..., Awaitable[bool]]
"""Whether a signed request to an endpoint got any HTTP answer, given `timeout=` seconds."""


class ConnectMonitor:
    def __init__(
        self,
        readiness: Readiness,
        endpoints: list[str],
        webhook: Webhook | None,
        interval: float,
        *,
        signed_probe: SignedProbe | None = None,
        after_register: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """`endpoints` are base URLs of Amazon Connect to GET plainly; `signed_probe` checks one that takes only
        SigV4-signed requests (the `connect` API on AWS). With a `webhook`, its emulator's answer is enough.
        `after_register` runs each time the webhook is registered: what else an emulator forgets when it
        restarts is bound again there (the bot's SNS route, on message streaming)."""
        self._readiness = readiness
        self._endpoints = [webhook.emulator] if webhook else list(dict.fromkeys(endpoints))
        self._webhook = webhook
        self._signed_probe = None if webhook else signed_probe
        self._after_register = after_register
        self._interval = interval
        self._timeout = min(5.0, max(1.0, interval))
        self._http = client_session(timeout=aiohttp.ClientTimeout(total=self._timeout))
        self._task: asyncio.Task[None] | None = None
        readiness.webhook = False if webhook else None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._every_interval(), name="connect-monitor")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._http.close()

    async def check(self) -> None:
        """One round: is every endpoint answering, and is the webhook still there (registered again if not)?"""
        if self._webhook is None:
            probes = [self._answers(url) for url in self._endpoints]
            if self._signed_probe is not None:
                probes.append(self._signed_probe(timeout=self._timeout))
            answered = await asyncio.gather(*probes)
            self._set_reachable(all(answered))
            return
        answered, registered = await self._registered_webhooks()
        self._set_reachable(answered)
        if not answered:
            self._readiness.webhook = False
        elif self._webhook.url in registered:
            self._readiness.webhook = True
        else:
            if self._readiness.webhook:
                log.warning("the emulator at %s no longer has the bot's webhook (restarted?): registering it again",
                            self._webhook.emulator)
            await self.register()

    async def register(self) -> None:
        """Ask the emulator to deliver every new chat to the bot; raises WebhookRefused when it answers an error."""
        assert self._webhook is not None
        body: dict[str, Any] = {"Url": self._webhook.url}
        if self._webhook.secret is not None:
            body["Secret"] = self._webhook.secret.reveal()
        async with self._http.post(self._webhook.emulator + WEBHOOKS_PATH, json=body) as answer:
            if answer.status >= 300:
                self._readiness.webhook = False
                raise WebhookRefused(f"the emulator refused the webhook: HTTP {answer.status}")
        if self._after_register is not None:
            await self._after_register()
        self._readiness.webhook = True

    async def _every_interval(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.check()
            except (aiohttp.ClientError, asyncio.TimeoutError, WebhookRefused) as error:
                self._readiness.webhook = False
                log.warning("could not register the webhook with the emulator: %s", error)

    async def _answers(self, url: str) -> bool:
        try:
            async with self._http.get(url):
                return True
        except (aiohttp.ClientError, asyncio.TimeoutError):
            return False

    async def _registered_webhooks(self) -> tuple[bool, list[str]]:
        """Whether the emulator answered, and the webhook URLs it lists (as strings, or as `{"Url"}` objects)."""
        assert self._webhook is not None
        try:
            async with self._http.get(self._webhook.emulator + WEBHOOKS_PATH) as answer:
                if answer.status != 200:
                    return True, []
                listed = (await answer.json()).get("Webhooks", [])
        except (aiohttp.ClientError, asyncio.TimeoutError):
            return False, []
        except ValueError:
            return True, []
        return True, [entry.get("Url") if isinstance(entry, dict) else entry for entry in listed]

    def _set_reachable(self, reachable: bool) -> None:
        if reachable != self._readiness.connect:
            log.log(logging.INFO if reachable else logging.WARNING, "Amazon Connect %s",
                    "answers again" if reachable else "does not answer")
        self._readiness.connect = reachable
