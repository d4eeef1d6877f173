"""Exactly once, in order, through faults: every customer message handled once and answered once.

Each scenario runs a bot (embedded emulator, fast reconnects) with an echo plugin
that records every `on_message` and answers `reply:<content>`, and a customer that
behaves like chatjs: boto3 with retries, a websocket that comes back after a drop
and fills its gap from GetTranscript. Faults are thrown at both through the
emulator's fault injection and its control API.

What is asserted, from the emulator's own transcript (the ground truth) and the
plugin's record:
- every customer message is in the transcript once (boto3 fills a ClientToken per
  call and reuses it on every retry, so a retried send never delivers twice; the
  test checks that reuse on the wire rather than assuming it);
- the plugin saw exactly those items (by Id), each once, in transcript order;
- the bot's messages in the transcript are exactly `reply:<n>` for each, in order;
- the customer received exactly those replies (distinct item Ids), in order.

Every test prints (always, even without -s) how many messages it sent and how many
faults of each kind it threw; the counts come from counting wrappers around the
embedded emulator's fault decisions, the control API's answers, and the logs.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import json
import logging
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import boto3
import pytest
import websockets
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from botocore.retries import standard
from prometheus_client import REGISTRY

from botkit import hookimpl
from botkit.bot import BotProcess
from botkit.connect.websocket import ChatSocket
from botkit.emulator.server import Emulator
from botkit.runtime.connection import ConnectionSettings
from tests.runtime.harness import running_bot

CUSTOM_BOT = "CUSTOM_BOT"

TUNING = """
connect: {retry: {max_attempts: 12, base_delay: 0.01, max_delay: 0.2}}
"""

FAST = ConnectionSettings(
    heartbeat_interval=1.0,
    backoff_base=0.05,
    backoff_max=0.4,
    transcript_page=7,  # small pages, so gap fills page backward
)


class Echo:
    """Records every message it is handed (Id, content) and answers `reply:<content>`."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []
        self.ended = asyncio.Event()
        self.end_reason: str | None = None

    @hookimpl
    async def on_message(self, session: Any, message: Any) -> None:
        self.seen.append((message.id, message.content))
        await session.send_message(f"reply:{message.content}")

    @hookimpl
    def on_session_end(self, reason: str) -> None:
        self.end_reason = reason
        self.ended.set()


# Counting the faults -------------------------------------------------------------

_operation: contextvars.ContextVar[str] = contextvars.ContextVar("operation", default="?")


class FaultLedger:
    """Counts every fault the embedded emulator decides to throw, by kind and operation.

    Wraps the decisions of the emulator's `Faults` object (each request runs in its
    own task, so the operation name set by `applies_to` is still there when the
    request's fault is drawn); the decisions themselves are unchanged.
    """

    def __init__(self, emulator: Emulator) -> None:
        self.errors: Counter[str] = Counter()
        self.lost: Counter[str] = Counter()
        self.dropped_by_rate = 0
        self.dropped_on_demand = 0
        self.refused_upgrades = 0
        self.refused = asyncio.Event()
        self.replayed: Counter[str] = Counter()
        self._faults = faults = emulator.faults
        applies_to, error_before = faults.applies_to, faults.error_before
        lose_response, drop_now, refusing = faults.lose_response, faults.drop_websocket_now, faults.refusing_websockets
        self.refusing = refusing

        def counted_applies_to(operation: str) -> bool:
            _operation.set(operation)
            return applies_to(operation)

        def counted_error_before() -> tuple[int, str] | None:
            error = error_before()
            if error is not None:
                self.errors[f"{_operation.get()} {error[0]}"] += 1
            return error

        def counted_lose_response() -> bool:
            lost = lose_response()
            if lost:
                self.lost[_operation.get()] += 1
            return lost

        def counted_drop_now() -> bool:
            drop = drop_now()
            self.dropped_by_rate += drop
            return drop

        def counted_refusing() -> bool:
            refuse = refusing()
            if refuse:
                self.refused_upgrades += 1
                self.refused.set()
            return refuse

        center = emulator.center
        remembered = center.remembered

        def counted_remembered(participant: Any, operation: str, client_token: str | None, body: bytes) -> Any:
            reply = remembered(participant, operation, client_token, body)
            if reply is not None:
                self.replayed[f"{participant.role} {operation}"] += 1
            return reply

        center.remembered = counted_remembered  # type: ignore[method-assign]
        faults.applies_to = counted_applies_to  # type: ignore[method-assign]
        faults.error_before = counted_error_before  # type: ignore[method-assign]
        faults.lose_response = counted_lose_response  # type: ignore[method-assign]
        faults.drop_websocket_now = counted_drop_now  # type: ignore[method-assign]
        faults.refusing_websockets = counted_refusing  # type: ignore[method-assign]

    def summary(self) -> str:
        errors = sum(self.errors.values())
        by_status: Counter[str] = Counter()
        for key, count in self.errors.items():
            by_status[key.rsplit(" ", 1)[1]] += count
        return (
            f"REST errors injected {errors} ({', '.join(f'{s}: {n}' for s, n in sorted(by_status.items())) or 'none'};"
            f" by operation {dict(sorted(self.errors.items()))}),"
            f" lost responses {sum(self.lost.values())} {dict(sorted(self.lost.items()))},"
            f" sockets dropped by rate {self.dropped_by_rate}, on demand {self.dropped_on_demand},"
            f" websocket upgrades refused {self.refused_upgrades};"
            f" retries answered from a ClientToken's first answer {dict(sorted(self.replayed.items()))}"
        )


class BotLog(logging.Handler):
    """The bot's own account: socket lives ended, failed connection attempts, retried calls."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.sockets_ended = 0
        self.silent_sockets = 0
        self.connect_failures = 0
        self.retried: Counter[str] = Counter()
        self.gave_up: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.name == "botkit.runtime.connection":
            if "socket ended" in message:
                self.sockets_ended += 1
                self.silent_sockets += "heartbeat unanswered" in message
            elif "connection failed" in message:
                self.connect_failures += 1
        elif record.name == "botkit.connect.client":
            if " attempt " in message and " failed " in message:
                self.retried[message.split(" ", 1)[0]] += 1
            elif "gave up" in message:
                self.gave_up.append(message)

    def summary(self) -> str:
        return (
            f"bot: {self.sockets_ended} socket lives ended ({self.silent_sockets} found silent by the heartbeat),"
            f" {self.connect_failures} failed (re)connects,"
            f" retried calls {dict(sorted(self.retried.items()))}"
        )


@pytest.fixture
def bot_log() -> Any:
    handler = BotLog()
    loggers = [logging.getLogger("botkit.runtime.connection"), logging.getLogger("botkit.connect.client")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    yield handler
    for logger, level in zip(loggers, levels, strict=True):
        logger.removeHandler(handler)
        logger.setLevel(level)


# A customer that survives faults, as chatjs does --------------------------------------

_DISCONNECTED = (OSError, TimeoutError, websockets.exceptions.WebSocketException, BotoCoreError, ClientError)


class _QuickBackoff(standard.ExponentialBackoff):
    """AWS's standard retry backoff with a 50 ms base after throttling too, so a test is not paced by 429s."""

    _DEFAULT_BACKOFF_CONFIG = {"throttling_base_scale": 0.05, "non_throttling_base_scale": 0.05}  # noqa: RUF012


class ResilientCustomer:
    """The customer: boto3 with standard retries, a websocket that comes back and fills its gap.

    Items are kept once per Id in the order they reached the customer (live frames
    wait while a gap fill runs, as the bot's do). Every SendMessage attempt's
    ClientToken is recorded on the wire, so a test can show that retries reuse it.
    """

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        options: dict[str, Any] = {
            "endpoint_url": base_url,
            "region_name": "us-east-1",
            "aws_access_key_id": "AKIDEXAMPLE",
            "aws_secret_access_key": "placeholder-secret",
            "config": Config(retries={"max_attempts": 10, "mode": "standard"}),
        }
        # boto3's standard retries, only sooner after a 429 (its base is 1 s there, 50 ms otherwise).
        standard_backoff, standard.ExponentialBackoff = standard.ExponentialBackoff, _QuickBackoff
        try:
            self.connect = boto3.client("connect", **options)
            self.participant = boto3.client("connectparticipant", **options)
        finally:
            standard.ExponentialBackoff = standard_backoff
        self.participant.meta.events.register("before-send.connectparticipant", self._count_attempt)
        self.attempts: Counter[str] = Counter()
        self.send_tokens: list[str] = []
        self.items: list[dict[str, Any]] = []
        self.redelivered = 0
        self.reconnects = 0
        self.contact_id = ""
        self.participant_id = ""
        self.token = ""
        self._participant_token = ""
        self._ids: set[str] = set()
        self._changed = asyncio.Condition()
        self._live = asyncio.Event()
        self._leaving = False
        self._runner: asyncio.Task[None] | None = None
        self._random = random.Random(7)

    def _count_attempt(self, request: Any, event_name: str, **_: Any) -> None:
        operation = event_name.rsplit(".", 1)[-1]
        self.attempts[operation] += 1
        if operation == "SendMessage":
            self.send_tokens.append(json.loads(request.body)["ClientToken"])

    async def start(self) -> None:
        async with aiohttp.ClientSession() as http, http.get(f"{self.base_url}/emulator/info") as answer:
            info = await answer.json()
        chat = await asyncio.to_thread(
            lambda: self.connect.start_chat_contact(
                InstanceId=info["instanceId"],
                ContactFlowId=info["contactFlowId"],
                ParticipantDetails={"DisplayName": "Ada"},
            )
        )
        self.contact_id, self.participant_id = chat["ContactId"], chat["ParticipantId"]
        self._participant_token = chat["ParticipantToken"]
        self._runner = asyncio.create_task(self._stay_connected())
        async with asyncio.timeout(10):
            await self._live.wait()

    async def _stay_connected(self) -> None:
        failures = 0
        while not self._leaving:
            try:
                await self._connect_once()
                failures = 0
            except _DISCONNECTED:
                if self._leaving:
                    return
                failures += 1
                # chatjs backs off between failed reconnects; a short pause, not a synchronisation.
                await asyncio.sleep(self._random.uniform(0, min(0.05 * 2**failures, 0.4)))
            if not self._leaving:
                self.reconnects += 1

    async def _connect_once(self) -> None:
        connection = await asyncio.to_thread(
            lambda: self.participant.create_participant_connection(
                ParticipantToken=self._participant_token, Type=["WEBSOCKET", "CONNECTION_CREDENTIALS"]
            )
        )
        self.token = connection["ConnectionCredentials"]["ConnectionToken"]
        async with websockets.connect(connection["Websocket"]["Url"], open_timeout=5) as socket:
            await socket.send(json.dumps({"topic": "aws/subscribe", "content": {"topics": ["aws/chat"]}}))
            async with asyncio.timeout(5):
                while json.loads(await socket.recv()).get("topic") != "aws/subscribe":
                    pass
            held: list[dict[str, Any]] = []
            gate: list[Callable[[dict[str, Any]], Any] | None] = [None]

            async def read() -> None:
                async for frame in socket:
                    decoded = json.loads(frame)
                    if decoded.get("topic") == "aws/chat":
                        item = json.loads(decoded["content"])
                        if gate[0] is None:
                            held.append(item)
                        else:
                            await gate[0](item)

            reader = asyncio.create_task(read())
            try:
                for item in await self._missed(self.token):
                    await self._keep(item)
                for item in held:
                    await self._keep(item)
                gate[0] = self._keep
                self._live.set()
                await reader
            finally:
                reader.cancel()
                await asyncio.gather(reader, return_exceptions=True)

    async def _missed(self, token: str) -> list[dict[str, Any]]:
        """GetTranscript backward from the newest item to one already kept, oldest first."""
        missed: list[dict[str, Any]] = []
        next_token: str | None = None
        while True:
            request: dict[str, Any] = {
                "ConnectionToken": token,
                "ScanDirection": "BACKWARD",
                "SortOrder": "DESCENDING",
                "MaxResults": 100,
            }
            if next_token:
                request["NextToken"] = next_token
            page = await asyncio.to_thread(self.participant.get_transcript, **request)
            for item in page["Transcript"]:
                if item["Id"] in self._ids:
                    return missed[::-1]
                missed.append(item)
            next_token = page.get("NextToken")
            if not next_token or not page["Transcript"]:
                return missed[::-1]

    async def _keep(self, item: dict[str, Any]) -> None:
        async with self._changed:
            if item["Id"] in self._ids:
                self.redelivered += 1
                return
            self._ids.add(item["Id"])
            self.items.append(item)
            self._changed.notify_all()

    async def send(self, text: str) -> str:
        answer = await asyncio.to_thread(
            lambda: self.participant.send_message(ConnectionToken=self.token, ContentType="text/plain", Content=text)
        )
        return answer["Id"]

    def bot_messages(self) -> list[str]:
        return [i["Content"] for i in self.items if i["Type"] == "MESSAGE" and i.get("ParticipantRole") == CUSTOM_BOT]

    async def wait_for(self, condition: Callable[[list[dict[str, Any]]], bool], timeout: float = 15) -> None:
        async with asyncio.timeout(timeout):
            async with self._changed:
                await self._changed.wait_for(lambda: condition(self.items))

    async def wait_for_reply(self, content: str, timeout: float = 15) -> None:
        await self.wait_for(lambda _: f"reply:{content}" in self.bot_messages(), timeout)

    async def leave(self) -> None:
        self._leaving = True
        await asyncio.to_thread(lambda: self.participant.disconnect_participant(ConnectionToken=self.token))
        if self._runner is not None:
            await asyncio.wait_for(asyncio.gather(self._runner, return_exceptions=True), 10)

    async def close(self) -> None:
        self._leaving = True
        if self._runner is not None:
            self._runner.cancel()
            await asyncio.gather(self._runner, return_exceptions=True)

    def summary(self) -> str:
        retries = len(self.send_tokens) - len(set(self.send_tokens))
        return (
            f"customer: {self.reconnects} reconnects, {self.redelivered} items received again (kept once),"
            f" SendMessage {len(self.send_tokens)} attempts for {len(set(self.send_tokens))} messages"
            f" ({retries} retries, each with its first attempt's ClientToken),"
            f" all attempts {dict(sorted(self.attempts.items()))}"
        )


# One scenario: a bot, a customer, the faults thrown, and the exactly-once checks ---------------


class Scenario:
    def __init__(self, bot: BotProcess, echo: Echo, bot_log: BotLog, capsys: pytest.CaptureFixture[str]) -> None:
        assert bot.emulator is not None
        self.bot = bot
        self.emulator = bot.emulator
        self.echo = echo
        self.bot_log = bot_log
        self.ledger = FaultLedger(bot.emulator)
        self.customer = ResilientCustomer(bot.emulator.base_url)
        self._capsys = capsys
        self._started = time.monotonic()
        self.streamed: dict[str, int] = {}
        self._reads_before = REGISTRY.get_sample_value("botkit_streaming_reads_total") or 0.0
        self.refused_by_bot = 0
        """Notifications the bot's SNS route was made to answer 500 (SNS then delivers them again)."""

    async def put_faults(self, spec: dict[str, Any]) -> None:
        async with (
            aiohttp.ClientSession() as http,
            http.put(f"{self.emulator.base_url}/emulator/faults", json=spec) as answer,
        ):
            assert answer.status == 200, await answer.text()

    async def drop_bot_sockets(self) -> int:
        """The control API's drop, narrowed to the bot's sockets; returns how many it closed."""
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"{self.emulator.base_url}/emulator/faults/drop-websockets", json={"ParticipantRole": CUSTOM_BOT}
            ) as answer,
        ):
            assert answer.status == 200, await answer.text()
            dropped: int = (await answer.json())["Dropped"]
        self.ledger.dropped_on_demand += dropped
        return dropped

    async def send_all(self, texts: list[str]) -> None:
        for text in texts:
            await self.customer.send(text)

    async def finish(self, expected: list[str], title: str) -> None:
        """Faults off, a last message to flush the bot's queue, the customer leaves; then the exactly-once checks."""
        customer, echo = self.customer, self.echo
        await self.put_faults({})
        await customer.send("end")
        await customer.wait_for_reply("end", timeout=20)
        await customer.leave()
        await asyncio.wait_for(echo.ended.wait(), 10)
        assert echo.end_reason == "chat_ended"
        expected = [*expected, "end"]

        transcript = self.emulator.center.contacts[customer.contact_id].transcript
        messages = [i for i in transcript if i["Type"] == "MESSAGE"]
        from_customer = [(i["Id"], i["Content"]) for i in messages if i["ParticipantRole"] == "CUSTOMER"]
        from_bot = [i["Content"] for i in messages if i["ParticipantRole"] == CUSTOM_BOT]
        replies = [f"reply:{text}" for text in expected]

        # Each customer message reached the chat once: boto3 reused each call's ClientToken on its retries.
        assert [text for _, text in from_customer] == expected
        assert len(set(customer.send_tokens)) == len(expected)
        # Handled exactly once, in order: the plugin saw exactly the transcript's customer messages, by Id.
        assert echo.seen == from_customer
        # Answered exactly once, in order: in the chat, and as the customer received them (distinct Ids).
        assert from_bot == replies
        assert customer.bot_messages() == replies
        # No reply was left to chance: no SendMessage of the bot ran out of retries.
        assert not [line for line in self.bot_log.gave_up if line.startswith("SendMessage")], self.bot_log.gave_up

        streamed = ""
        if self.bot.streaming is not None:
            async with aiohttp.ClientSession() as http, http.get(f"{self.emulator.base_url}/emulator/faults/stats") as answer:
                self.streamed = (await answer.json())["streaming"]
            reads = REGISTRY.get_sample_value("botkit_streaming_reads_total") or 0.0
            streamed = (
                f"\n  {streaming_summary(self.streamed, self.refused_by_bot)};"
                f" the bot read the transcript {reads - self._reads_before:.0f} times"
            )
        with self._capsys.disabled():
            print(
                f"\n[reliability] {title}: {len(expected)} customer messages, {len(from_bot)} replies,"
                f" {time.monotonic() - self._started:.1f} s\n  faults: {self.ledger.summary()}"
                f"\n  {self.bot_log.summary()}\n  {customer.summary()}{streamed}"
            )


@asynccontextmanager
async def scenario(
    echo: Echo,
    bot_log: BotLog,
    capsys: pytest.CaptureFixture[str],
    connection: ConnectionSettings = FAST,
    *,
    transport: str = "websocket",
    prepare: Callable[[Scenario], None] | None = None,
    tuning: str = TUNING,
) -> AsyncIterator[Scenario]:
    """A bot with `echo` and fast reconnects, and a customer in a chat it has joined; no faults yet.

    `prepare` runs before the chat starts; `tuning` is the bot.yaml laid over the harness's."""
    async with running_bot([echo], tuning, connection=connection, transport=transport) as bot:
        chat = Scenario(bot, echo, bot_log, capsys)
        if prepare is not None:
            prepare(chat)
        try:
            await chat.customer.start()
            await chat.customer.wait_for(
                lambda items: any(
                    i["ContentType"].endswith("participant.joined") and i.get("ParticipantRole") == CUSTOM_BOT
                    for i in items
                )
            )
            yield chat
        finally:
            await chat.customer.close()


def numbered(count: int) -> list[str]:
    return [str(n) for n in range(1, count + 1)]


# The scenarios ------------------------------------------------------------------------------


async def test_bot_socket_dropped_again_and_again(bot_log: BotLog, capsys: pytest.CaptureFixture[str]) -> None:
    """60 messages in bursts of 4; after each burst's last reply the bot's socket is dropped on demand
    (15 drops), and the next burst is sent while it comes back. 3 % of all chat frames close the
    socket they were meant for instead (`drop_websocket_rate`, the customer's sockets too)."""
    async with scenario(Echo(), bot_log, capsys) as chat:
        await chat.put_faults({"drop_websocket_rate": 0.03, "seed": 1})
        expected = numbered(60)
        for first in range(0, len(expected), 4):
            burst = expected[first : first + 4]
            await chat.send_all(burst)
            await chat.customer.wait_for_reply(burst[-1])
            await chat.drop_bot_sockets()
        await chat.finish(expected, "bot socket dropped again and again")
    assert chat.ledger.dropped_on_demand >= 10
    assert bot_log.sockets_ended >= chat.ledger.dropped_on_demand


async def test_throttling_and_server_errors(bot_log: BotLog, capsys: pytest.CaptureFixture[str]) -> None:
    """80 messages. First 40: 20 % of every REST call (the bot's and the customer's, every operation)
    answer 429 or 500 before doing anything. Last 40: 20 % of SendMessage calls fail before, and 15 %
    are done and then answered 500, so a retry must get the first answer by its ClientToken: the bot's
    replies (token derived from contact, item and ordinal) and the customer's messages (boto3's token,
    reused on retry, as the wire shows)."""
    async with scenario(Echo(), bot_log, capsys) as chat:
        expected = numbered(80)
        await chat.put_faults({"error_rate": 0.2, "seed": 2})
        await chat.send_all(expected[:40])
        await chat.customer.wait_for_reply(expected[39], timeout=20)
        await chat.put_faults({"error_rate": 0.2, "lost_response_rate": 0.15, "operations": ["SendMessage"], "seed": 3})
        await chat.send_all(expected[40:])
        await chat.customer.wait_for_reply(expected[-1], timeout=20)
        await chat.finish(expected, "429s, 500s and lost responses")
    ledger = chat.ledger
    assert sum(ledger.errors.values()) >= 20
    assert ledger.lost["SendMessage"] >= 3
    assert bot_log.retried["SendMessage"] >= 3
    # Both sides had a send done-then-500'd, and its retry got the first answer back.
    assert ledger.replayed["CUSTOM_BOT SendMessage"] >= 1
    assert ledger.replayed["CUSTOMER SendMessage"] >= 1


async def test_reconnect_refused_for_two_seconds(bot_log: BotLog, capsys: pytest.CaptureFixture[str]) -> None:
    """Websocket upgrades are refused (503) for 2 s and the bot's socket is dropped; the customer sends
    20 messages while the bot cannot get back in. Then everything sent meanwhile comes from the gap
    fill (backward, 7 items a page) and is handled once, in order; 5 more follow live."""
    async with scenario(Echo(), bot_log, capsys) as chat:
        expected = numbered(30)
        await chat.send_all(expected[:5])
        await chat.customer.wait_for_reply(expected[4])

        await chat.put_faults({"refuse_websockets_seconds": 2})
        assert await chat.drop_bot_sockets() == 1
        async with asyncio.timeout(5):
            await chat.ledger.refused.wait()  # the bot tried to come back, and was refused
        sent_while_refused = 0
        for text in expected[5:25]:
            await chat.customer.send(text)
            sent_while_refused += chat.ledger.refusing()
        assert sent_while_refused >= 10, "the refusal window ended before the messages were sent"

        await chat.customer.wait_for_reply(expected[24], timeout=15)
        await chat.send_all(expected[25:])
        await chat.customer.wait_for_reply(expected[-1])
        await chat.finish(expected, f"reconnect refused for 2 s ({sent_while_refused} messages sent while refused)")
    assert chat.ledger.refused_upgrades >= 2
    assert bot_log.connect_failures >= 2


async def test_everything_at_once(bot_log: BotLog, capsys: pytest.CaptureFixture[str]) -> None:
    """250 messages under one seeded spec: 10 % of every REST call fails (429/500), 5 % are done and
    then answered 500, 0-10 ms latency, 2 % of chat frames close their socket; the bot's socket is
    also dropped on demand after every 10th message without waiting for it, and after the 130th
    websocket upgrades are refused for 1 s."""
    spec: dict[str, Any] = {
        "error_rate": 0.1,
        "lost_response_rate": 0.05,
        "latency_ms": [0, 10],
        "drop_websocket_rate": 0.02,
        "seed": 4,
    }
    async with scenario(Echo(), bot_log, capsys) as chat:
        expected = numbered(250)
        await chat.put_faults(spec)
        for first in range(0, len(expected), 10):
            await chat.send_all(expected[first : first + 10])
            if first == 120:
                await chat.put_faults({**spec, "refuse_websockets_seconds": 1.0, "seed": 5})
            await chat.drop_bot_sockets()
        await chat.customer.wait_for_reply(expected[-1], timeout=30)
        await chat.finish(expected, "everything at once (seeded)")
    ledger = chat.ledger
    assert sum(ledger.errors.values()) >= 20
    assert sum(ledger.lost.values()) >= 5
    assert ledger.dropped_by_rate + ledger.dropped_on_demand >= 10
    assert ledger.refused_upgrades >= 1


# A socket that goes silent ----------------------------------------------------------------------


class Relay:
    """A TCP relay in front of the emulator for the bot's websockets, which can go silent.

    `silence()` makes the connections open at that moment drop every byte both ways while
    neither end is told: a half-open socket, as a NAT timeout or a dead route leaves it.
    Connections made afterwards pass. No emulator fault knob does this.
    """

    def __init__(self, emulator_port: int) -> None:
        self._target = emulator_port
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()
        self._silent: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def rewrite(self, url: str) -> str:
        return url.replace(f"//127.0.0.1:{self._target}/", f"//127.0.0.1:{self.port}/", 1)

    def silence(self) -> int:
        self._silent |= self._open
        return len(self._open)

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self._target)
        self._open.add(client_writer)
        pipes = [
            asyncio.create_task(self._pipe(client_reader, upstream_writer, client_writer)),
            asyncio.create_task(self._pipe(upstream_reader, client_writer, client_writer)),
        ]
        self._tasks.update(pipes)
        await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        for pipe in pipes:
            pipe.cancel()
        self._open.discard(client_writer)
        for writer in (client_writer, upstream_writer):
            writer.close()

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, key: asyncio.StreamWriter) -> None:
        while data := await source.read(65536):
            if key not in self._silent:
                sink.write(data)
                await sink.drain()

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for writer in self._open:
            writer.close()
        if self._server is not None:
            self._server.close()


async def test_bot_socket_goes_silent(
    bot_log: BotLog, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bot's websocket goes silent three times (half-open: no close, no error, bytes vanish both
    ways) with 10 messages sent into each silence. The heartbeat (every 0.3 s here) finds it dead; the
    bot must come back at once, not after a closing handshake nobody will answer, and handle the 30
    messages once, in order."""
    silent_fast = dataclasses.replace(FAST, heartbeat_interval=0.3)
    async with scenario(Echo(), bot_log, capsys, connection=silent_fast) as chat:
        relay = Relay(chat.emulator.port)
        await relay.start()
        open_socket = ChatSocket.open
        monkeypatch.setattr(ChatSocket, "open", lambda url, **options: open_socket(relay.rewrite(url), **options))
        try:
            expected = numbered(35)
            await chat.drop_bot_sockets()  # the bot comes back through the relay
            await chat.send_all(expected[:5])
            await chat.customer.wait_for_reply(expected[4])
            recoveries = []
            for first in (5, 15, 25):
                assert relay.silence() == 1
                silenced = time.monotonic()
                await chat.send_all(expected[first : first + 10])
                # Found dead within two heartbeats, then reconnect and gap fill: far less than the
                # 10 s a closing handshake with a silent peer would wait.
                await chat.customer.wait_for_reply(expected[first + 9], timeout=4)
                recoveries.append(time.monotonic() - silenced)
            await chat.finish(
                expected, f"bot socket silent 3 times (back after {', '.join(f'{r:.1f}' for r in recoveries)} s)"
            )
        finally:
            await relay.close()
    assert bot_log.silent_sockets == 3


# A handler slower than the customer: the session's bounded queue overflows ---------------------


class StuckEcho(Echo):
    """Echo whose first message blocks until released: the customer gets far ahead of the bot."""

    def __init__(self) -> None:
        super().__init__()
        self.stuck = asyncio.Event()
        self.release = asyncio.Event()

    @hookimpl
    async def on_message(self, session: Any, message: Any) -> None:
        self.seen.append((message.id, message.content))
        self.stuck.set()
        await self.release.wait()
        await session.send_message(f"reply:{message.content}")


class BusyEcho(Echo):
    """Echo whose every message takes a few milliseconds of work: slower than the customer types."""

    @hookimpl
    async def on_message(self, session: Any, message: Any) -> None:
        self.seen.append((message.id, message.content))
        await asyncio.sleep(0.004)  # the handler's own work, not a synchronisation
        await session.send_message(f"reply:{message.content}")


class QueueFullLog(logging.Handler):
    """Counts the session's "event queue full" episodes."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0
        self.happened = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if "queue full" in record.getMessage():
            self.count += 1
            self.happened.set()


@pytest.fixture
def queue_full(monkeypatch: pytest.MonkeyPatch) -> Iterator[QueueFullLog]:
    """A session queue of 4 items, and a count of its overflows."""
    monkeypatch.setattr("botkit.runtime.session.QUEUE_LIMIT", 4)
    handler = QueueFullLog()
    logger = logging.getLogger("botkit.runtime.session")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


async def test_handler_stuck_while_the_customer_goes_on(
    bot_log: BotLog, queue_full: QueueFullLog, capsys: pytest.CaptureFixture[str]
) -> None:
    """40 messages while the handler is stuck on the first, against a session queue of 4: the queue
    overflows; what it refuses is not marked seen, nothing later is taken before it, and it all comes
    back from the transcript once the handler catches up. No reconnect while the handler is stuck.

    The rest go out once the handler is stuck on the first: with items still ahead of it, the queue may
    drain to half, and a reconnect to read back what it refused is then right."""
    echo = StuckEcho()
    # The handler stays stuck until released, however slowly the 40 messages go out on a loaded machine.
    patient = TUNING + "runtime: {handler_timeout: 120, slow_handler_seconds: 60}\n"
    async with scenario(echo, bot_log, capsys, tuning=patient) as chat:
        expected = numbered(40)
        await chat.send_all(expected[:1])
        async with asyncio.timeout(10):
            await echo.stuck.wait()
        await chat.send_all(expected[1:20])
        async with asyncio.timeout(10):
            await queue_full.happened.wait()
        await chat.send_all(expected[20:])
        assert bot_log.sockets_ended == 0, "the bot reconnected while its queue could take nothing"
        echo.release.set()
        await chat.customer.wait_for_reply(expected[-1], timeout=20)
        await chat.finish(expected, f"handler stuck, queue of 4 ({queue_full.count} overflows)")


async def test_handler_slower_than_the_customer(
    bot_log: BotLog, queue_full: QueueFullLog, capsys: pytest.CaptureFixture[str]
) -> None:
    """120 messages sent as fast as boto3 goes to a handler that works 4 ms on each, against a session
    queue of 4: it overflows again and again while live frames keep coming; each time the refused
    items come back from the transcript, once, in order."""
    async with scenario(BusyEcho(), bot_log, capsys) as chat:
        expected = numbered(120)
        await chat.send_all(expected)
        await chat.customer.wait_for_reply(expected[-1], timeout=20)
        await chat.finish(expected, f"handler slower than the customer, queue of 4 ({queue_full.count} overflows)")
    assert queue_full.count >= 3


# Message streaming: SNS repeats, reorders and delays notifications; the bot's route fails some -----------------


def streaming_summary(stats: dict[str, int], refused_by_bot: int) -> str:
    return (
        f"streaming: {stats['notifications']} notifications, {stats['duplicated']} duplicated,"
        f" {stats['reordered']} reordered, {stats['delayed']} delayed; the bot's route answered 500 to"
        f" {refused_by_bot}, SNS retried {stats['retries']} ({stats['failed_attempts']} failed attempts,"
        f" {stats['dropped']} dropped, {stats['refused']} refused); {stats['delivered']} requests answered 2xx"
    )


def fail_some_deliveries(chat: Scenario, rate: float, seed: int) -> None:
    """The bot's SNS route answers 500 to a seeded fraction of notifications, as a bot that cannot queue one does:
    `Streaming.deliver` raises before taking it, so SNS must deliver it again. One message fails at most twice,
    so SNS's 3 retries always get it through (a message SNS gives up on is only read when a later one comes)."""
    assert chat.bot.streaming is not None
    deliver = chat.bot.streaming.deliver
    draw = random.Random(seed).random
    failures: Counter[str] = Counter()

    def failing(message_id: str, item: Any) -> Any:
        if failures[message_id] < 2 and draw() < rate:
            failures[message_id] += 1
            chat.refused_by_bot += 1
            raise RuntimeError("injected: could not queue")
        return deliver(message_id, item)

    chat.bot.streaming.deliver = failing  # type: ignore[method-assign]


async def test_streaming_notifications_repeated_reordered_and_delayed(
    bot_log: BotLog, capsys: pytest.CaptureFixture[str]
) -> None:
    """120 messages on message streaming while SNS (the emulator) sends 25 % of notifications twice, holds 20 %
    back behind the contact's next one, and delays 10 % by 0.3 s; 30 % of GetTranscript calls fail (429/500).
    Every message is handled once and answered once, in order."""
    async with scenario(Echo(), bot_log, capsys, transport="streaming") as chat:
        expected = numbered(120)
        await chat.put_faults(
            {
                "streaming": {
                    "duplicate_rate": 0.25,
                    "reorder_rate": 0.2,
                    "reorder_hold_seconds": 0.3,
                    "delay_rate": 0.1,
                    "delay_seconds": 0.3,
                },
                "error_rate": 0.3,
                "operations": ["GetTranscript"],
                "seed": 11,
            }
        )
        for first in range(0, len(expected), 10):
            await chat.send_all(expected[first : first + 10])
        await chat.customer.wait_for_reply(expected[-1], timeout=30)
        await chat.finish(expected, "streaming: notifications repeated, reordered and delayed (seeded)")
    stats = chat.streamed
    assert stats["duplicated"] >= 20 and stats["reordered"] >= 20 and stats["delayed"] >= 10, stats
    assert sum(chat.ledger.errors.values()) >= 3


async def test_streaming_route_fails_and_sns_delivers_again(
    bot_log: BotLog, capsys: pytest.CaptureFixture[str]
) -> None:
    """80 messages while the bot's SNS route answers 500 to 30 % of notifications (it could not queue them; one
    message at most twice) and SNS repeats 10 %: SNS delivers the failed ones again, each message handled once."""
    async with scenario(Echo(), bot_log, capsys, transport="streaming") as chat:
        expected = numbered(80)
        fail_some_deliveries(chat, 0.3, seed=12)
        await chat.put_faults({"streaming": {"duplicate_rate": 0.1}, "seed": 13})
        await chat.send_all(expected)
        await chat.customer.wait_for_reply(expected[-1], timeout=30)
        chat.bot.streaming.deliver = type(chat.bot.streaming).deliver.__get__(chat.bot.streaming)  # type: ignore[method-assign]
        # The last reply can come from a transcript read before SNS's retry of an earlier failure has gone out.
        streaming = chat.emulator.streaming
        async with asyncio.timeout(10):
            while streaming.stats.retries + streaming.stats.dropped < streaming.stats.failed_attempts:
                await asyncio.sleep(0.05)
        await chat.finish(expected, "streaming: the bot's route answers 500 to 30 %, SNS retries")
    stats = chat.streamed
    assert chat.refused_by_bot >= 20
    assert stats["failed_attempts"] == chat.refused_by_bot and stats["retries"] >= chat.refused_by_bot, stats
    assert stats["dropped"] == 0, stats


async def test_streaming_connection_replaced_mid_chat(bot_log: BotLog, capsys: pytest.CaptureFixture[str]) -> None:
    """The bot's connection tokens live 1.5 s, so it replaces its token (a new CreateParticipantConnection, then a
    read forward from where it was) again and again while 60 messages arrive with SNS repeating and reordering
    notifications. Nothing is handled twice or skipped across a replacement.

    A bot process restarted mid-chat cannot be tested yet: without a store, a new process does not know the
    contacts the old one was in (that is the store issue's); the replacement is what a restart keeps of it."""
    async with scenario(Echo(), bot_log, capsys, transport="streaming", prepare=short_lived_bot_tokens) as chat:
        refreshed = CallCount(chat.bot, "create_participant_connection")
        expected = numbered(60)
        await chat.put_faults({"streaming": {"duplicate_rate": 0.2, "reorder_rate": 0.2, "reorder_hold_seconds": 0.2}, "seed": 14})
        for first in range(0, len(expected), 6):
            await chat.send_all(expected[first : first + 6])
            await chat.customer.wait_for_reply(expected[first + 5], timeout=15)
            await refreshed.more_than(first // 6)
        await chat.finish(expected, f"streaming: connection token replaced {refreshed.count} times mid-chat")


def short_lived_bot_tokens(chat: Scenario) -> None:
    """The bot's connection tokens live 1.5 s (the customer's keep the emulator's day)."""
    center = chat.emulator.center
    issue = center.issue_connection_token

    def issue_for(participant: Any) -> Any:
        if participant.role != CUSTOM_BOT:
            return issue(participant)
        ttl, center.config.connection_token_ttl = center.config.connection_token_ttl, 1.5
        try:
            return issue(participant)
        finally:
            center.config.connection_token_ttl = ttl

    center.issue_connection_token = issue_for  # type: ignore[method-assign]


class CallCount:
    """Counts calls of one method of the bot's participant client, and waits for more of them."""

    def __init__(self, bot: BotProcess, name: str) -> None:
        assert bot.streaming is not None
        client = bot.streaming.participants
        original = getattr(client, name)
        self.count = 0
        self._changed = asyncio.Condition()

        async def counted(*args: Any, **kwargs: Any) -> Any:
            answer = await original(*args, **kwargs)
            async with self._changed:
                self.count += 1
                self._changed.notify_all()
            return answer

        setattr(client, name, counted)

    async def more_than(self, count: int, timeout: float = 10) -> None:
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: self.count > count)
