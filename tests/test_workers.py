"""Three `botkit serve` workers on one Redis and a `botkit emulator`, all real processes on 127.0.0.1.

200 customers talk throughout; one worker is killed with SIGKILL and another stopped with SIGTERM mid-run.
Every message must be answered exactly once and in order, by a counter kept in `session.state` (a lost or
repeated event, or a state that did not move with its contact, shows as a wrong number), and no customer may
wait longer than lease_seconds + 5 s for an answer. The Redis is the test's own, so that it can be restarted.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import signal
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import boto3
import pytest

from botkit.connect import vocabulary as v
from botkit.connect.client import ParticipantClient
from botkit.connect.models import Item
from botkit.connect.secrets import Secret
from botkit.connect.websocket import ChatSocket
from tests.store.redis_server import RedisServer
from tests.test_cli import cli_env, read_line
from tests.test_resume import notes, write_counter_bot

LEASE = 3.0
CUSTOMERS = 200
MESSAGES = 5
ANSWER_TIMEOUT = LEASE + 5 + 15  # beyond the bound, so that a late answer is measured, not a hang


@dataclass
class Worker:
    process: asyncio.subprocess.Process
    url: str
    log: Path


async def spawn(directory: Path, *args: str, log: Path) -> tuple[asyncio.subprocess.Process, str]:
    """`python -m botkit <args>` with its first stdout line; stderr to `log` (a full pipe would stall it)."""
    with log.open("ab") as sink:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "botkit", *args,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=sink, cwd=directory, env=cli_env(),
        )
    assert process.stdout is not None
    try:
        line = await read_line(process.stdout, timeout=30)
    except AssertionError:
        raise AssertionError(log.read_text(errors="replace")[-3000:]) from None
    return process, line


async def start_worker(directory: Path, number: int) -> Worker:
    log = directory / f"worker-{number}.log"
    process, line = await spawn(directory, "serve", "bot.yaml", log=log)
    match = re.fullmatch(r"bot: (http://127\.0\.0\.1:\d+) \(plugins: counter\)", line)
    assert match, line
    return Worker(process, match.group(1), log)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis-data", durable=True)
    (tmp_path / "redis-data").mkdir(exist_ok=True)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextlib.asynccontextmanager
async def emulator_process(directory: Path) -> AsyncIterator[str]:
    process, line = await spawn(directory, "emulator", "--port", "0", log=directory / "emulator.log")
    try:
        assert line.startswith("emulator: "), line
        yield line.removeprefix("emulator: ")
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


@contextlib.asynccontextmanager
async def workers(directory: Path, count: int) -> AsyncIterator[list[Worker]]:
    started: list[Worker] = []
    try:
        for number in range(count):
            started.append(await start_worker(directory, number))
        yield started
    finally:
        for worker in started:
            if worker.process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    worker.process.send_signal(signal.SIGCONT)
                worker.process.kill()
                await worker.process.wait()


@dataclass
class Talker:
    """A customer on botkit's own wire client (one HTTP session for all), light enough to run 200 in one test."""

    participant: ParticipantClient
    contact_id: str = ""
    token: Secret = Secret("")
    answers: list[str] = field(default_factory=list)
    waits: list[float] = field(default_factory=list)
    sent_at: list[float] = field(default_factory=list)
    sent: int = 0
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)
    _reader: asyncio.Task[str] | None = None

    async def start(self, connect: Any, info: dict[str, Any]) -> None:
        chat = await asyncio.to_thread(
            lambda: connect.start_chat_contact(
                InstanceId=info["instanceId"], ContactFlowId=info["contactFlowId"],
                ParticipantDetails={"DisplayName": "Ada"},
            )
        )
        self.contact_id = chat["ContactId"]
        details = await self.participant.create_participant_connection(Secret(chat["ParticipantToken"]))
        assert details.websocket_url is not None and details.connection_token is not None
        self.token = details.connection_token
        socket = await ChatSocket.open(details.websocket_url)
        self._reader = asyncio.create_task(socket.run(self._heard))

    def _heard(self, item: Item) -> None:
        if item.type == v.MESSAGE and item.participant_role == v.CUSTOM_BOT and item.content is not None:
            self.answers.append(item.content)
            self._arrived.set()

    async def say(self, number: int) -> None:
        """Send message `number` and wait for its answer; the wait is recorded."""
        expected = f"{number}: m{number}"
        sent = time.monotonic()
        await self.participant.send_message(self.token, f"m{number}")
        self.sent += 1
        async with asyncio.timeout(ANSWER_TIMEOUT):
            while expected not in self.answers:
                self._arrived.clear()
                await self._arrived.wait()
        self.waits.append(time.monotonic() - sent)
        self.sent_at.append(sent)

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)


async def emulator_info(url: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http, http.get(f"{url}/emulator/info") as answer:
        return dict(await answer.json())


def connect_client(url: str) -> Any:
    return boto3.client(
        "connect", endpoint_url=url, region_name="us-east-1",
        aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="placeholder-secret",
    )


async def converse(talker: Talker, started: asyncio.Semaphore, connect: Any, info: dict[str, Any],
                   progress: dict[int, int]) -> None:
    async with started:
        await talker.start(connect, info)
    for number in range(1, MESSAGES + 1):
        await talker.say(number)
        progress[number] = progress.get(number, 0) + 1
        await asyncio.sleep(random.uniform(0.2, 0.6))  # a customer's pause between messages (not synchronisation)


async def until(condition: Any, timeout: float) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.05)


def bot_yaml(directory: Path, emulator_url: str, redis_url: str) -> Path:
    return write_counter_bot(
        directory, emulator_url, f"{{url: '{redis_url}', lease_seconds: {LEASE}}}",
        extra="runtime: {shutdown_grace_seconds: 5}\n",
    )


async def test_three_workers_one_killed_one_stopped_every_message_answered_once_in_order(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    async with emulator_process(tmp_path) as emulator_url:
        log = bot_yaml(tmp_path, emulator_url, redis_server.url)
        async with workers(tmp_path, 3) as running, ParticipantClient(emulator_url) as participant:
            info = await emulator_info(emulator_url)
            connect = connect_client(emulator_url)
            talkers = [Talker(participant) for _ in range(CUSTOMERS)]
            progress: dict[int, int] = {}
            starting = asyncio.Semaphore(16)
            chats = asyncio.gather(*(converse(t, starting, connect, info, progress) for t in talkers))
            try:
                # Every contact has its owner, and half the customers are on their second message: mid-run.
                await until(lambda: progress.get(1, 0) == CUSTOMERS and progress.get(2, 0) >= CUSTOMERS // 2, 40)
                killed_at = time.monotonic()
                running[0].process.kill()  # SIGKILL: its leases run out; the others take its contacts
                answered_at_kill = progress.get(3, 0)
                await until(lambda: progress.get(3, 0) >= answered_at_kill + CUSTOMERS // 10, timeout=20)
                stopped_at = time.monotonic()
                running[1].process.terminate()  # SIGTERM: it finishes, releases, and the last worker takes over
                assert await asyncio.wait_for(running[1].process.wait(), 15) == 0
                await asyncio.wait_for(chats, 60)
            finally:
                if not chats.done():
                    chats.cancel()
                await asyncio.gather(chats, return_exceptions=True)
                for talker in talkers:
                    await talker.close()
            elapsed = time.monotonic() - killed_at

    expected = [f"{n}: m{n}" for n in range(1, MESSAGES + 1)]
    duplicates = sum(max(0, len(t.answers) - len(set(t.answers))) for t in talkers)
    losses = sum(len(set(expected) - set(t.answers)) for t in talkers)
    longest = max(max(t.waits) for t in talkers)
    starts = [n for n in notes(log) if n["kind"] == "start"]
    resumes = [n for n in notes(log) if n["kind"] == "resume"]
    print(
        f"\n{CUSTOMERS} contacts, {sum(len(t.answers) for t in talkers)} answers to {CUSTOMERS * MESSAGES} messages;"
        f" duplicates {duplicates}, losses {losses}; longest wait for an answer {longest:.2f} s"
        f" (bound: lease {LEASE} s + 5 s); sessions started {len(starts)}, resumed {len(resumes)};"
        f" {elapsed:.1f} s from the kill to the last answer"
    )
    slowest = sorted(((w, s - killed_at) for t in talkers for w, s in zip(t.waits, t.sent_at, strict=True)), reverse=True)
    print(
        f"SIGTERM {stopped_at - killed_at:.2f} s after the SIGKILL; slowest answers (wait, sent after the SIGKILL):",
        [(round(w, 2), round(s, 2)) for w, s in slowest[:5]],
    )
    assert (duplicates, losses) == (0, 0)
    for talker in talkers:
        assert talker.answers == expected, (talker.contact_id, talker.answers)
    assert len(starts) == CUSTOMERS and len({n["contact"] for n in starts}) == CUSTOMERS
    assert resumes, "no contact changed worker: the kill and the stop came too late to test anything"
    assert longest <= LEASE + 5


async def metrics_of(url: str) -> str:
    async with aiohttp.ClientSession() as http, http.get(f"{url}/metrics") as answer:
        return await answer.text()


def metric(text: str, name: str) -> float:
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    assert found, f"{name} not in /metrics"
    return float(found.group(1))


async def counters(redis_url: str, contact_ids: list[str]) -> list[int]:
    """Each contact's counter as saved in the store."""
    from botkit.store.redis_store import RedisStore

    store = RedisStore(redis_url, LEASE)
    try:
        records = [await store.load(contact_id) for contact_id in contact_ids]
        return [record.state.get("count", 0) if record is not None else -1 for record in records]
    finally:
        await store.close()


async def owned_by(redis_url: str, pid: int) -> set[str]:
    """The contacts whose live lease a worker process holds (worker ids carry the pid)."""
    from botkit.store.redis_store import RedisStore

    store = RedisStore(redis_url, LEASE)
    try:
        return {lease.contact_id for lease in await store.leases() if f"/{pid}/" in lease.worker_id}
    finally:
        await store.close()


async def start_talkers(participant: ParticipantClient, emulator_url: str, count: int) -> list[Talker]:
    info = await emulator_info(emulator_url)
    connect = connect_client(emulator_url)
    talkers = [Talker(participant) for _ in range(count)]
    for talker in talkers:
        await talker.start(connect, info)
    return talkers


async def round_of(talkers: list[Talker], number: int) -> None:
    await asyncio.gather(*(t.say(number) for t in talkers))


async def test_a_paused_old_owner_sends_nothing_and_writes_nothing(tmp_path: Path, redis_server: RedisServer) -> None:
    async with emulator_process(tmp_path) as emulator_url:
        log = bot_yaml(tmp_path, emulator_url, redis_server.url)
        async with workers(tmp_path, 2) as running, ParticipantClient(emulator_url) as participant:
            talkers = await start_talkers(participant, emulator_url, 12)
            await round_of(talkers, 1)
            paused = running[0]
            its_contacts = await owned_by(redis_server.url, paused.process.pid)
            assert its_contacts, "the worker to pause owns no contact"
            paused.process.send_signal(signal.SIGSTOP)
            try:
                # The customers go on; the other worker takes the paused one's contacts once their leases expire.
                await round_of(talkers, 2)
                taken = await owned_by(redis_server.url, running[1].process.pid)
                assert its_contacts <= taken
                await round_of(talkers, 3)
            finally:
                paused.process.send_signal(signal.SIGCONT)
            # Woken, the old owner meets frames it buffered and renewals that are refused: it stops those sessions.
            async with asyncio.timeout(10):
                while paused.log.read_text(errors="replace").count("another worker owns the contact now") < len(its_contacts):
                    await asyncio.sleep(0.05)
            # It had handled m1 only; any write of its own would show as a counter below 3.
            assert await counters(redis_server.url, [t.contact_id for t in talkers]) == [3] * len(talkers)
            assert metric(await metrics_of(paused.url), "botkit_fenced_total") == len(its_contacts)
            assert metric(await metrics_of(running[1].url), 'botkit_takeovers_total{outcome="resumed"}') >= len(its_contacts)
            await round_of(talkers, 4)
            for talker in talkers:
                await talker.close()
    expected = [f"{n}: m{n}" for n in range(1, 5)]
    for talker in talkers:
        assert talker.answers == expected, (talker.contact_id in its_contacts, talker.answers)
    assert not [n for n in notes(log) if n["kind"] == "end"], "a fenced session must not run on_session_end"


async def test_redis_restarted_mid_run_workers_reconnect_and_no_chat_is_dropped(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    async with emulator_process(tmp_path) as emulator_url:
        log = bot_yaml(tmp_path, emulator_url, redis_server.url)
        async with workers(tmp_path, 2) as running, ParticipantClient(emulator_url) as participant:
            talkers = await start_talkers(participant, emulator_url, 12)
            await round_of(talkers, 1)
            await asyncio.to_thread(redis_server.stop)
            during = asyncio.gather(*(t.say(2) for t in talkers))  # sent while Redis is down
            await until(lambda: all(t.sent >= 2 for t in talkers), 10)
            await until(lambda: any("could not save" in w.log.read_text(errors="replace") for w in running), 10)
            await asyncio.to_thread(redis_server.start)
            await asyncio.wait_for(during, ANSWER_TIMEOUT)
            await round_of(talkers, 3)
            for talker in talkers:
                await talker.close()
    expected = [f"{n}: m{n}" for n in range(1, 4)]
    for talker in talkers:
        assert talker.answers == expected, talker.answers
    assert not [n for n in notes(log) if n["kind"] == "end"]


async def test_a_burst_of_new_contacts_on_a_small_redis_pool_joins_every_one(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    """40 contacts at once on a worker whose Redis pool has two connections: the intake's calls wait their turn
    for one (and the claim waiting for offers holds neither), so every contact is joined at the first try."""
    async with emulator_process(tmp_path) as emulator_url:
        bot_yaml(tmp_path, emulator_url, redis_server.url + "?max_connections=2")
        async with workers(tmp_path, 1) as running, ParticipantClient(emulator_url) as participant:
            info = await emulator_info(emulator_url)
            connect = connect_client(emulator_url)
            talkers = [Talker(participant) for _ in range(40)]
            try:
                await asyncio.gather(*(talker.start(connect, info) for talker in talkers))
                await round_of(talkers, 1)
            finally:
                for talker in talkers:
                    await talker.close()
            log = running[0].log.read_text(errors="replace")
    assert [talker.answers for talker in talkers] == [["1: m1"]] * len(talkers)
    assert "MaxConnectionsError" not in log and "could not join" not in log, log[-3000:]


async def test_status_lists_the_workers_their_contacts_and_the_orphans(tmp_path: Path) -> None:
    from botkit.store import ContactRecord, SqliteStore
    from tests.test_cli import run

    (tmp_path / "bot.yaml").write_text("store: {url: 'sqlite:sessions.db', lease_seconds: 30}\n", encoding="utf-8")
    store = SqliteStore(tmp_path / "sessions.db", 30)
    try:
        await store.heartbeat("worker-a", {"sessions": 2, "url": "http://127.0.0.1:1"})
        await store.heartbeat("worker-b", {"sessions": 0})
        leases = {c: await store.acquire(c, "worker-a") for c in ("contact-1", "contact-2", "contact-3")}
        for contact_id, lease in leases.items():
            assert lease is not None
            await store.save(contact_id, ContactRecord(contact_id, Secret("participant-token-value")), fence=lease.fence)
        await store.release(leases["contact-3"])  # worker-a let it go: nobody owns it now
    finally:
        await store.close()
    code, out, err = await run("status", "bot.yaml", cwd=tmp_path)
    assert code == 0, err
    assert "participant-token-value" not in out
    lines = out.splitlines()
    assert lines[0].startswith("store: sqlite:sessions.db (lease 30 s)")
    assert lines[1] == "workers: 2"
    assert re.fullmatch(r"  worker-a: 2 contact\(s\), last seen \d+\.\d s ago, http://127\.0\.0\.1:1", lines[2]), lines[2]
    assert lines[3:5] == ["    contact-1", "    contact-2"]
    assert re.fullmatch(r"  worker-b: 0 contact\(s\), last seen \d+\.\d s ago", lines[5]), lines[5]
    assert lines[6:] == ["orphans: 1", "  contact-3"]
