"""An SNS subscriber for the tests: a real HTTP server on 127.0.0.1, and a verifier written from AWS's documentation.

The verifier is deliberately the tests' own (not the emulator's string to sign):
it follows "Verifying the signatures of Amazon SNS messages" step by step, so a
signature it accepts is one any standard SNS verifier accepts.
"""

from __future__ import annotations

import asyncio
import base64
import inspect
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from xml.etree import ElementTree

import aiohttp
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

TIMEOUT = 5.0
SNS_XMLNS = "{http://sns.amazonaws.com/doc/2010-03-31/}"

Answer = Callable[[dict[str, Any]], "int | Awaitable[int]"]


def verify(message: dict[str, Any], certificate_pem: bytes) -> None:
    """Raises cryptography's InvalidSignature unless the message is signed by the certificate's key."""
    if message["Type"] == "Notification":
        names = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
    else:  # SubscriptionConfirmation and UnsubscribeConfirmation
        names = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
    canonical = "".join(f"{name}\n{message[name]}\n" for name in names if name in message)
    digest = {"1": hashes.SHA1(), "2": hashes.SHA256()}[message["SignatureVersion"]]
    public_key = x509.load_pem_x509_certificate(certificate_pem).public_key()
    public_key.verify(base64.b64decode(message["Signature"]), canonical.encode(), padding.PKCS1v15(), digest)


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    message: dict[str, Any]
    at: float
    status: int = 0

    @property
    def kind(self) -> str:
        return self.message["Type"]

    @property
    def item(self) -> dict[str, Any]:
        return json.loads(self.message["Message"])


class SnsSubscriber:
    """Records every request SNS makes to it, and answers each as `answer` says (200 unless told)."""

    def __init__(self, answer: Answer | None = None) -> None:
        self.answer = answer or (lambda message: 200)
        self.requests: list[Received] = []
        self._arrived = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/sns"

    async def _receive(self, request: web.Request) -> web.Response:
        body = await request.read()
        received = Received(dict(request.headers), body, json.loads(body), time.monotonic())
        async with self._arrived:
            self.requests.append(received)
            self._arrived.notify_all()
        status = self.answer(received.message)
        if inspect.isawaitable(status):
            status = await status
        received.status = status
        return web.Response(status=status)

    async def start(self) -> None:
        """Listens on a free port, or again on the one it had, as a bot restarting in place."""
        app = web.Application()
        app.router.add_post("/sns", self._receive)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True).start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> SnsSubscriber:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = TIMEOUT) -> None:
        async with self._arrived:
            await asyncio.wait_for(self._arrived.wait_for(predicate), timeout)

    async def wait_for(self, count: int, kind: str = "Notification", timeout: float = TIMEOUT) -> list[Received]:
        await self.wait_until(lambda: len(self.of_type(kind)) >= count, timeout)
        return self.of_type(kind)

    def of_type(self, kind: str) -> list[Received]:
        return [r for r in self.requests if r.kind == kind]

    @property
    def notifications(self) -> list[Received]:
        return self.of_type("Notification")

    def contents(self) -> list[str]:
        return [n.item.get("Content", n.item["ContentType"]) for n in self.notifications]

    async def confirm(self, http: aiohttp.ClientSession) -> str:
        """Does what a subscriber must: fetch the SubscribeURL of its SubscriptionConfirmation; the SubscriptionArn."""
        confirmation = (await self.wait_for(1, "SubscriptionConfirmation"))[-1].message
        async with http.get(confirmation["SubscribeURL"]) as answer:
            assert answer.status == 200, await answer.text()
            document = ElementTree.fromstring(await answer.text())
        arn = document.findtext(f"{SNS_XMLNS}ConfirmSubscriptionResult/{SNS_XMLNS}SubscriptionArn")
        assert arn
        return arn


async def eventually(predicate: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    """Waits for state in the in-process emulator that no request announces (its counters)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.01)
