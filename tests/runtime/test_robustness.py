"""One contact's trouble stays there: malformed frames, unknown events, raising and blocking plugins.

Against the real emulator through a BotProcess, except the malformed frame: the emulator never sends
one, so the socket is tested against a tiny local server that does.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve

from botkit import hookimpl
from botkit.bot import BotProcess
from botkit.config import parse_config
from botkit.connect.models import Item
from botkit.connect.websocket import ChatSocket
from botkit.plugins import new_plugin_manager
from botkit.runtime.dispatch import HandlerTimeout
from tests.runtime.harness import Customer

EVENT = "application/vnd.amazonaws.connect.event."
UNKNOWN_TYPE = EVENT + "hologram.projected"


def bot_yaml(handler_timeout: float = 5.0) -> str:
    return f"""
connect: {{endpoint: embedded}}
emulator: {{port: 0}}
server: {{port: 0}}
receipts: {{throttle_seconds: 0}}
runtime: {{handler_timeout: {handler_timeout}, slow_handler_seconds: 10}}
"""


@asynccontextmanager
async def running(plugins: list[tuple[str, object]], handler_timeout: float = 5.0) -> AsyncIterator[BotProcess]:
    manager = new_plugin_manager()
    for name, plugin in plugins:
        manager.register(plugin, name=name)
    async with BotProcess(parse_config(bot_yaml(handler_timeout)), manager) as bot:
        yield bot


class Echo:
    @hookimpl(trylast=True)
    async def on_message(self, session: Any, message: Any) -> None:
        await session.send_message(f"echo: {message.content}")


class Errors:
    def __init__(self) -> None:
        self.seen: list[tuple[str, BaseException, Any]] = []

    @hookimpl
    def on_error(self, session: Any, error: BaseException, event: Any) -> None:
        self.seen.append((session.contact_id, error, event))


async def started(bot: BotProcess, **options: Any) -> Customer:
    customer = Customer(bot.emulator.base_url)
    await customer.start(**options)
    return customer


def echoes(customer: Customer) -> list[str]:
    return [text for text in customer.bot_messages() if text.startswith("echo: ")]


async def said(customer: Customer, text: str) -> None:
    await customer.send(text)
    await customer.wait_for(lambda items: f"echo: {text}" in echoes(customer))


# Malformed frames ------------------------------------------------------------------------------


async def test_the_socket_skips_malformed_frames_logs_them_and_delivers_the_next_item(
    caplog: pytest.LogCaptureFixture,
) -> None:
    valid = {"Id": "item-1", "Type": "MESSAGE", "ContentType": "text/plain", "Content": "still here"}

    async def peer(connection: ServerConnection) -> None:
        subscribe = json.loads(await connection.recv())
        assert subscribe["topic"] == "aws/subscribe"
        await connection.send(json.dumps({"topic": "aws/subscribe", "content": {"status": "success"}}))
        # Frames go out once the client reads (its first heartbeat): then the close below can only reach
        # the reader, never the heartbeat's send, and the socket's reason for ending is deterministic.
        assert json.loads(await connection.recv()) == {"topic": "aws/heartbeat"}
        await connection.send("{not json at all")
        await connection.send(b"\xff\xfe binary garbage")
        await connection.send(json.dumps(["a", "list"]))
        await connection.send(json.dumps({"topic": "aws/chat", "content": "{broken json"}))
        await connection.send(json.dumps({"topic": "aws/chat", "content": json.dumps({"NoId": True})}))
        await connection.send(json.dumps({"topic": "aws/chat", "content": json.dumps(valid)}))
        await connection.close()

    received: list[Item] = []
    async with serve(peer, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        socket = await ChatSocket.open(f"ws://127.0.0.1:{port}/", heartbeat_interval=30)
        with caplog.at_level(logging.DEBUG, logger="botkit"):
            reason = await asyncio.wait_for(socket.run(received.append), 5)

    assert [(i.id, i.content) for i in received] == [("item-1", "still here")]
    assert reason.startswith("closed by peer")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert sum("malformed websocket frame" in m for m in warnings) == 3
    assert sum("content is not an item" in m for m in warnings) == 2


# Unknown events --------------------------------------------------------------------------------


class EventRecorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str | None]] = []
        self.transfers: list[str | None] = []

    @hookimpl
    def on_event(self, event: Any) -> None:
        self.events.append((event.id, event.content_type))

    @hookimpl
    def on_transfer(self, session: Any, event: Any) -> None:
        self.transfers.append(event.content_type)


async def test_an_unknown_event_type_reaches_on_event_is_logged_and_the_session_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    recorder, errors = EventRecorder(), Errors()
    async with running([("echo", Echo()), ("recorder", recorder), ("errors", errors)]) as bot:
        customer = await started(bot)
        await said(customer, "before")  # the bot answered: its session is there
        session = bot.manager.sessions[customer.contact_id]
        with caplog.at_level(logging.DEBUG, logger="botkit"):
            session.feed(
                Item.from_wire(
                    {
                        "Id": "future-1",
                        "Type": "EVENT",
                        "ContentType": UNKNOWN_TYPE,
                        "Content": json.dumps({"beam": "on"}),
                        "ParticipantRole": "SYSTEM",
                        "ContactId": customer.contact_id,
                    }
                )
            )
            session.feed(Item.from_wire({"Id": "future-2", "Type": "HOLOGRAM", "ContactId": customer.contact_id}))
            session.feed(
                Item.from_wire(
                    {"Id": "transfer-1", "Type": "EVENT", "ContentType": EVENT + "transfer.succeeded", "ParticipantRole": "SYSTEM"}
                )
            )
            await said(customer, "after")
        await customer.close()

    assert ("future-1", UNKNOWN_TYPE) in recorder.events
    assert ("future-2", None) in recorder.events
    assert recorder.transfers == [EVENT + "transfer.succeeded"]
    assert ("transfer-1", EVENT + "transfer.succeeded") in recorder.events  # on_event follows the specific hook
    assert errors.seen == []
    logged = [r.getMessage() for r in caplog.records if r.name.startswith("botkit")]
    assert any(UNKNOWN_TYPE in m for m in logged)
    assert any("HOLOGRAM" in m for m in logged)
    assert echoes(customer) == ["echo: before", "echo: after"]


# Plugins in trouble -------------------------------------------------------------------------------


class Raiser:
    @hookimpl(tryfirst=True)
    async def on_message(self, message: Any) -> None:
        if "boom" in (message.content or ""):
            raise RuntimeError("the plugin broke")


async def test_a_raising_plugin_does_not_stop_the_others_nor_the_session_nor_other_contacts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    errors = Errors()
    with caplog.at_level(logging.DEBUG, logger="botkit"):
        async with running([("echo", Echo()), ("raiser", Raiser()), ("errors", errors)]) as bot:
            alice, bob = await started(bot), await started(bot)
            await said(alice, "boom")  # the raiser ran first, the echo still answered
            await said(bob, "hello")
            await said(alice, "and again")
            await said(bob, "boom too")
            await alice.close()
            await bob.close()

    assert echoes(alice) == ["echo: boom", "echo: and again"]
    assert echoes(bob) == ["echo: hello", "echo: boom too"]
    assert [(contact, str(error), event.content) for contact, error, event in errors.seen] == [
        (alice.contact_id, "the plugin broke", "boom"),
        (bob.contact_id, "the plugin broke", "boom too"),
    ]
    raised = [r for r in caplog.records if "on_message of plugin raiser raised" in r.getMessage()]
    assert len(raised) == 2 and all(r.exc_info for r in raised)


class Blocker:
    """A plain-function handler that blocks its thread on "block" until the test lets it go."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.release = threading.Event()
        self.entered = asyncio.Event()
        self.returned = threading.Event()
        self._loop = loop

    @hookimpl(tryfirst=True)
    def on_message(self, message: Any) -> None:
        if message.content == "block":
            self._loop.call_soon_threadsafe(self.entered.set)
            self.release.wait(20)
            self.returned.set()


async def test_a_blocking_plugin_times_out_and_the_others_the_session_and_other_contacts_go_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    errors = Errors()
    blocker = Blocker(asyncio.get_running_loop())
    try:
        with caplog.at_level(logging.DEBUG, logger="botkit"):
            async with running([("echo", Echo()), ("blocker", blocker), ("errors", errors)], handler_timeout=1.0) as bot:
                alice, bob = await started(bot), await started(bot)
                block_id = await alice.send("block")
                await asyncio.wait_for(blocker.entered.wait(), 10)

                # Alice's handler holds its thread; Bob is answered meanwhile.
                await said(bob, "are you there?")
                assert not blocker.returned.is_set()

                # Past handler_timeout Alice's session moves on: echo answers, though the handler still blocks.
                await alice.wait_for(lambda items: "echo: block" in echoes(alice))
                assert not blocker.returned.is_set()
                await said(alice, "next")
                await said(bob, "still fine")
                await alice.close()
                await bob.close()
    finally:
        blocker.release.set()

    assert echoes(alice) == ["echo: block", "echo: next"]
    assert echoes(bob) == ["echo: are you there?", "echo: still fine"]
    [(contact, error, event)] = errors.seen
    assert contact == alice.contact_id and isinstance(error, HandlerTimeout) and event.id == block_id
    assert any("on_message of plugin blocker exceeded 1.0 s" in r.getMessage() for r in caplog.records)
