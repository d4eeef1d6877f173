"""Secrets stay secret: a whole chat with every logger at DEBUG, and no token in any log record.

The customer here is made of botkit's own clients (not boto3, whose DEBUG logs print request headers), so
every record in the process comes from botkit, aiohttp, websockets or asyncio, and every one is checked.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from botkit import hookimpl
from botkit.connect import vocabulary as v
from botkit.connect.client import ParticipantClient
from botkit.connect.control import ControlPlaneClient
from botkit.connect.models import Item
from botkit.connect.websocket import ChatSocket
from tests.runtime.harness import running_bot


class Chatty:
    """Greets, echoes, sends a file on request, acknowledges the customer's files, records the end."""

    def __init__(self) -> None:
        self.attachments: list[str] = []
        self.ended = asyncio.Event()

    @hookimpl
    async def on_session_start(self, session: Any) -> None:
        await session.send_message("hello")

    @hookimpl
    async def on_message(self, session: Any, message: Any) -> None:
        if message.content == "send me a file":
            await session.send_attachment("terms.txt", b"the terms and conditions", "text/plain")
        else:
            await session.send_message(f"echo: {message.content}")

    @hookimpl
    async def on_attachment(self, session: Any, attachment: Any) -> None:
        names = [a.attachment_name for a in attachment.attachments]
        self.attachments.extend(names)
        await session.send_message(f"got {', '.join(names)}")

    @hookimpl
    def on_session_end(self, reason: str) -> None:
        self.ended.set()


class TokenBook:
    """Every token the emulator hands out, as it hands it out (revocation later forgets them)."""

    def __init__(self, center: Any) -> None:
        self.connection_tokens: set[str] = set()
        self.socket_tickets: set[str] = set()
        self._center = center
        issue_connection, issue_ticket = center.issue_connection_token, center.issue_socket_ticket

        def connection_token(participant: Any) -> tuple[str, Any]:
            token, expiry = issue_connection(participant)
            self.connection_tokens.add(token)
            return token, expiry

        def socket_ticket(participant: Any) -> tuple[str, Any]:
            ticket, expiry = issue_ticket(participant)
            self.socket_tickets.add(ticket)
            return ticket, expiry

        center.issue_connection_token = connection_token
        center.issue_socket_ticket = socket_ticket

    def participant_tokens(self) -> set[str]:
        return {p.participant_token for c in self._center.contacts.values() for p in c.participants.values()}

    def secrets(self) -> set[str]:
        tokens = set(self.connection_tokens) | self.participant_tokens()
        for contact in self._center.contacts.values():
            for participant in contact.participants.values():
                tokens |= participant.connection_tokens
        return tokens


class Transcript:
    def __init__(self) -> None:
        self.items: list[Item] = []
        self._changed = asyncio.Condition()

    def __call__(self, item: Item) -> None:
        self.items.append(item)
        asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_for(self, condition: Any, timeout: float = 10) -> None:
        async with asyncio.timeout(timeout):
            async with self._changed:
                await self._changed.wait_for(lambda: condition(self.items))

    def bot_says(self, text: str) -> bool:
        return any(i.type == v.MESSAGE and i.participant_role == v.CUSTOM_BOT and i.content == text for i in self.items)


@pytest.fixture
def every_logger_at_debug(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Root and every named logger at DEBUG (some set their own level, e.g. botocore.auth), restored after."""
    loggers = [logging.getLogger(name) for name in ("aiohttp", "aiohttp.client", "aiohttp.server", "aiohttp.web",
                                                    "aiohttp.websocket", "aiohttp.access", "websockets",
                                                    "websockets.client", "websockets.server", "asyncio", "botkit",
                                                    "botocore", "botocore.auth")]
    loggers += [logger for logger in logging.root.manager.loggerDict.values() if isinstance(logger, logging.Logger)]
    saved = [(logger, logger.level, logger.disabled) for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
        logger.disabled = False
    caplog.set_level(logging.DEBUG)
    yield caplog
    for logger, level, disabled in saved:
        logger.setLevel(level)
        logger.disabled = disabled


async def test_a_whole_chat_logs_no_participant_or_connection_token(
    every_logger_at_debug: pytest.LogCaptureFixture,
) -> None:
    caplog = every_logger_at_debug
    chatty = Chatty()
    async with running_bot([chatty]) as bot:
        book = TokenBook(bot.emulator.center)
        base = bot.emulator.base_url
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/emulator/info") as answer:
                info = await answer.json()
        control = ControlPlaneClient(base, info["region"])
        client = ParticipantClient(base)
        transcript = Transcript()
        try:
            chat = await control.start_chat_contact(info["instanceId"], info["contactFlowId"], "Ada")
            details = await client.create_participant_connection(chat.participant_token)
            assert details.websocket_url and details.connection_token
            token = details.connection_token
            socket = await ChatSocket.open(details.websocket_url)
            listening = asyncio.create_task(socket.run(transcript))

            await client.send_message(token, "hi")
            await transcript.wait_for(lambda items: transcript.bot_says("echo: hi"))

            # The bot's socket drops; it reconnects (a new connection, a gap fill) and answers what it missed.
            async with aiohttp.ClientSession() as http:
                async with http.post(
                    f"{base}/emulator/faults/drop-websockets", json={"ParticipantRole": "CUSTOM_BOT"}
                ) as answer:
                    assert (await answer.json())["Dropped"] >= 1
            await client.send_message(token, "after the drop")
            await transcript.wait_for(lambda items: transcript.bot_says("echo: after the drop"))

            # Attachments both ways: the bot uploads one, the customer uploads one.
            await client.send_message(token, "send me a file")
            await transcript.wait_for(
                lambda items: any(
                    i.type == v.ATTACHMENT and i.participant_role == v.CUSTOM_BOT
                    and [a.attachment_name for a in i.attachments] == ["terms.txt"]
                    for i in items
                )
            )
            target = await client.start_attachment_upload(token, "text/plain", 5, "notes.txt")
            async with aiohttp.ClientSession() as http:
                async with http.put(target.url, data=b"notes", headers=dict(target.headers_to_include)) as answer:
                    assert answer.status == 200
            await client.complete_attachment_upload(token, target.attachment_id)
            await transcript.wait_for(lambda items: transcript.bot_says("got notes.txt"))

            secrets = book.secrets()  # before the chat ends and the emulator forgets its connection tokens
            await client.disconnect_participant(token)
            await asyncio.wait_for(chatty.ended.wait(), 10)
            await asyncio.wait_for(listening, 5)
        finally:
            await client.close()
            await control.close()

    assert chatty.attachments == ["notes.txt"]
    secrets |= book.secrets()
    # Tokens of the customer and the bot: two participant tokens, and connection tokens for the customer,
    # the bot, and the bot again after its reconnect.
    assert len(book.participant_tokens()) == 2 and len(book.connection_tokens) >= 3
    assert all(len(secret) >= 16 for secret in secrets)

    records = caplog.records
    loggers = {record.name for record in records}
    websocket_wire = "botkit.connect.websocket.wire"
    assert websocket_wire in loggers and any(n.startswith("botkit.runtime") for n in loggers), (
        f"the capture saw only {sorted(loggers)}"
    )
    assert any(r.name.startswith("botkit.connect.client") and r.levelno == logging.DEBUG for r in records)

    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    leaks = []
    for record in records:
        texts = [formatter.format(record), repr(record.msg)]
        args = record.args if isinstance(record.args, tuple) else (record.args,) if record.args else ()
        texts += [repr(arg) for arg in args] + [str(arg) for arg in args]
        for name in ("exc_text", "stack_info"):
            if getattr(record, name, None):
                texts.append(str(getattr(record, name)))
        for text in texts:
            for secret in secrets:
                if secret in text:
                    leaks.append(f"{record.name} {record.levelname}: {record.getMessage()[:200]}")
    assert not leaks, "tokens in the logs:\n" + "\n".join(sorted(set(leaks)))


async def test_the_websocket_url_credential_is_not_logged_either(every_logger_at_debug: pytest.LogCaptureFixture) -> None:
    caplog = every_logger_at_debug
    async with running_bot([]) as bot:
        book = TokenBook(bot.emulator.center)
        base = bot.emulator.base_url
        control = ControlPlaneClient(base, bot.emulator.config.region)
        client = ParticipantClient(base)
        try:
            chat = await control.start_chat_contact(bot.emulator.config.instance_id, bot.emulator.config.contact_flow_id, "Ada")
            details = await client.create_participant_connection(chat.participant_token)
            assert details.websocket_url is not None
            socket = await ChatSocket.open(details.websocket_url)
            await socket.close()
        finally:
            await client.close()
            await control.close()
    assert book.socket_tickets
    leaks = [r.getMessage() for r in caplog.records for ticket in book.socket_tickets if ticket in r.getMessage()]
    assert not leaks, "the websocket URL's credential is in the logs:\n" + "\n".join(leaks)
