"""The contact flow: as soon as a chat starts, hand it to every registered webhook.

The payload is the event a Connect contact flow gives a Lambda function, so a
bot's intake works the same against the emulator and in production. A webhook
registered with a secret gets each delivery signed (`X-Botkit-Signature`), as a
bot with `intake.secret` requires; one without a secret gets them unsigned.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import aiohttp

from botkit.connect.secrets import Secret
from botkit.connect.signature import HEADER, sign
from botkit.emulator.config import EmulatorConfig
from botkit.emulator.contacts import Contact, ContactCenter

log = logging.getLogger(__name__)

POST_TIMEOUT = aiohttp.ClientTimeout(total=10)


def flow_event(contact: Contact, config: EmulatorConfig) -> dict[str, Any]:
    return {
        "Name": "ContactFlowEvent",
        "Details": {
            "ContactData": {
                "Attributes": dict(contact.attributes),
                "Channel": "CHAT",
                "ContactId": contact.contact_id,
                "CustomerEndpoint": None,
                "InitialContactId": contact.initial_contact_id,
                "InitiationMethod": "API",
                "InstanceARN": config.instance_arn,
                "PreviousContactId": contact.contact_id,
                "Queue": None,
                "SystemEndpoint": None,
                "MediaStreams": {},
            },
            "Parameters": {},
        },
    }


class ContactFlow:
    def __init__(self, center: ContactCenter, config: EmulatorConfig) -> None:
        self._config = config
        self._secrets: dict[str, Secret | None] = dict.fromkeys(config.webhooks)
        self._http: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        center.on_contact_started(self._hand_off)

    @property
    def webhooks(self) -> list[str]:
        """The registered URLs, in the order they came; never their secrets."""
        return list(self._secrets)

    def register(self, url: str, secret: Secret | None = None) -> None:
        """Registering a URL again replaces its secret (or drops it), as when a bot restarts with a new one."""
        self._secrets[url] = secret

    def unregister(self, url: str) -> bool:
        return self._secrets.pop(url, False) is not False

    def _hand_off(self, contact: Contact) -> None:
        event = flow_event(contact, self._config)
        for url in self.webhooks:
            task = asyncio.get_running_loop().create_task(self._post(url, event))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _post(self, url: str, event: dict[str, Any]) -> None:
        """Retried with backoff like a Lambda invocation; a bot that never answers is logged, not fatal."""
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=POST_TIMEOUT)
        contact_id = event["Details"]["ContactData"]["ContactId"]
        body = json.dumps(event).encode()
        for attempt in range(self._config.webhook_attempts):
            if url not in self._secrets:
                return  # removed while retrying
            headers = {"Content-Type": "application/json"}
            secret = self._secrets[url]
            if secret is not None:  # signed at each attempt, with the secret registered now and a fresh time
                headers[HEADER] = sign(secret, body, int(time.time()))
            try:
                async with self._http.post(url, data=body, headers=headers) as response:
                    if response.status < 300:
                        return
                    if 400 <= response.status < 500 and response.status != 429:
                        log.warning("webhook %s refused contact %s: HTTP %s", url, contact_id, response.status)
                        return
                    log.info("webhook %s answered HTTP %s for contact %s", url, response.status, contact_id)
            except (aiohttp.ClientError, asyncio.TimeoutError) as error:
                log.info("webhook %s unreachable for contact %s: %s", url, contact_id, error)
            await asyncio.sleep(min(0.2 * 2**attempt, 5.0))
        log.warning("webhook %s never took contact %s", url, contact_id)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._http is not None:
            await self._http.close()
