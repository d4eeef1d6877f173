"""Load generator for botkit: an emulator and a bot in their own processes, N customers, measured.

    .venv/bin/python benchmarks/loadgen.py idle    -n 300 --steps 3
    .venv/bin/python benchmarks/loadgen.py steady  -n 100 --rate 50,100,200 --duration 10
    .venv/bin/python benchmarks/loadgen.py burst   -n 300 --rounds 3
    .venv/bin/python benchmarks/loadgen.py plugins -n 100 --rate 100 --duration 10
    .venv/bin/python benchmarks/loadgen.py storm   -n 300 --rate 100 --duration 10
    .venv/bin/python benchmarks/loadgen.py steady  -n 200 --rate 500 --store redis://127.0.0.1:6379/0
    add --bot botkit,minimal,threaded (or --bot all) to run the same load against the baselines
    add --transport streaming (or websocket,streaming) to run botkit on message streaming (SNS)

Each run starts a fresh `botkit emulator --port 0` and a fresh bot (botkit serve, or a
baseline from benchmarks/baselines/), pinned by default: the bot alone on CPU 1, the
emulator and this load generator on CPU 0 (see --pin). Customers start chats with
StartChatContact and take CONNECTION_CREDENTIALS only (no customer sockets); they send
with SendMessage. Reply latency is measured on the service side: the reply item's
AbsoluteTime minus the customer message's (milliseconds, read back with GetTranscript),
i.e. emulator → bot websocket → handler → SendMessage back at the emulator.
Bot CPU is utime+stime from /proc/<pid>/stat; memory is VmRSS / VmHWM from /proc/<pid>/status.

Prints a table and writes JSON to benchmarks/results/. Every run is bounded (--max-seconds)
and every child process is stopped at the end, on failure and on Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

from procs import Proc, ProcError, git_revision, install_cleanup, machine, stop_all

RESULTS = BENCH / "results"
PYTHON = sys.executable
BOTKIT = str(Path(sys.executable).with_name("botkit"))
JOINED = "application/vnd.amazonaws.connect.event.participant.joined"

BOTS = ("botkit", "minimal", "threaded")
TRANSPORTS = ("websocket", "streaming")
TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:botkit-bench"
PLUGINS: dict[str, tuple[Path, str, dict[str, Any]]] = {
    "echo": (ROOT / "plugins" / "echo.py", "echo", {}),
    "async50": (BENCH / "plugins" / "async_sleep.py", "async_sleep", {"delay_ms": 50}),
    "sync0": (BENCH / "plugins" / "sync_echo.py", "sync_echo", {"block_ms": 0}),
    "sync50": (BENCH / "plugins" / "sync_echo.py", "sync_echo", {"block_ms": 50}),
}
PREFIX = "echo: "
CPUS = frozenset(os.sched_getaffinity(0))  # before this process pins itself


class BenchError(RuntimeError):
    """The run could not be measured; the message says why."""


# Processes -------------------------------------------------------------------------------


@dataclass
class Pinning:
    emulator: frozenset[int] | None
    bot: frozenset[int] | None
    loadgen: frozenset[int] | None

    @classmethod
    def parse(cls, text: str) -> Pinning:
        if text in ("none", "off", ""):
            return cls(None, None, None)
        available = CPUS
        chosen: dict[str, frozenset[int]] = {}
        for part in text.split(","):
            name, _, cpus = part.partition("=")
            if name not in ("emulator", "bot", "loadgen") or not cpus:
                raise SystemExit(f"--pin: expected emulator=0,bot=1,loadgen=0, got {part!r}")
            wanted = frozenset(int(c) for c in cpus.split("+"))
            if not wanted <= available:
                raise SystemExit(f"--pin: CPUs {sorted(wanted - available)} are not available (have {sorted(available)})")
            chosen[name] = wanted
        return cls(chosen.get("emulator"), chosen.get("bot"), chosen.get("loadgen"))

    def describe(self) -> dict[str, Any]:
        return {k: sorted(v) if v else "any" for k, v in vars(self).items()}


def default_pinning() -> str:
    if len(CPUS) < 2:
        return "none"
    first, second = sorted(CPUS)[:2]
    return f"emulator={first},loadgen={first},bot={second}"


@dataclass
class Stack:
    """One emulator and one bot, started fresh for a run."""

    bot_kind: str
    plugin: str
    pinning: Pinning
    log_dir: Path
    receipts: bool = False
    store: str | None = None
    profile: bool = False
    tracemalloc: bool = False
    callgrind: str | None = None
    rig_loop: str = "asyncio"
    bot_loop: str = "asyncio"
    transport: str = "websocket"
    sns_key_size: int = 2048
    emulator: Proc | None = None
    bot: Proc | None = None
    endpoint: str = ""
    info: dict[str, Any] = field(default_factory=dict)

    def _counted(self, target: str, argv: list[str]) -> list[str]:
        """`argv` under valgrind's callgrind when --callgrind names `target`."""
        if self.callgrind != target:
            return argv
        return ["valgrind", "--tool=callgrind", f"--callgrind-out-file={self.log_dir}/callgrind.out", *argv]

    @property
    def counted(self) -> Proc:
        """The process --callgrind counts the instructions of."""
        proc = self.bot if self.callgrind == "bot" else self.emulator
        assert proc is not None
        return proc

    def start(self) -> None:
        self.emulator = Proc(
            "emulator",
            self._counted("emulator", [
                BOTKIT, "--log-level", "WARNING", "emulator", "--port", "0", "--event-loop", self.rig_loop,
                "--sns-key-size", str(self.sns_key_size),
            ]),
            ready_prefix="emulator:",
            log_dir=self.log_dir,
            cpus=self.pinning.emulator,
        )
        self.endpoint = self.emulator.start(timeout=300 if self.callgrind == "emulator" else 20)
        argv = self._bot_argv()
        env = None
        if self.tracemalloc and self.bot_kind == "botkit":
            argv = [PYTHON, str(BENCH / "tracemalloc_bot.py"), *argv[1:]]
            env = {**os.environ, "BENCH_TRACEMALLOC_DIR": str(self.log_dir)}
        if self.profile:
            # cProfile sees only the main thread: fine for the asyncio bots, useless for `threaded`.
            argv = [PYTHON, "-m", "cProfile", "-o", str(self.profile_path), *argv[1 if argv[0] == PYTHON else 0 :]]
        argv = self._counted("bot", argv)
        self.bot = Proc(
            f"bot-{self.bot_kind}",
            argv,
            ready_prefix="bot:",
            log_dir=self.log_dir,
            cpus=self.pinning.bot,
            cwd=ROOT,
            env=env,
        )
        self.bot.start(timeout=300 if self.callgrind else 30)

    def _bot_argv(self) -> list[str]:
        if self.bot_kind == "minimal":
            return [PYTHON, str(BENCH / "baselines" / "minimal_bot.py"), "--endpoint", self.endpoint, "--prefix", PREFIX]
        if self.bot_kind == "threaded":
            return [PYTHON, str(BENCH / "baselines" / "threaded_bot.py"), "--endpoint", self.endpoint, "--prefix", PREFIX]
        path, name, config = PLUGINS[self.plugin]
        bot_yaml = {
            "connect": {"endpoint": self.endpoint},
            "server": {"host": "127.0.0.1", "port": 0},
            "plugins": [str(path)],
            "plugin_config": {name: {"prefix": PREFIX, **config}},
            "receipts": {"enabled": self.receipts},
            "runtime": {"max_sessions": 100_000, "event_loop": self.bot_loop},
            "logging": {"level": "WARNING"},
        }
        if self.transport == "streaming":
            # pointed at the emulator, the bot binds its SNS route to the topic there itself
            bot_yaml |= {"transport": "streaming", "streaming": {"topic_arn": TOPIC_ARN}}
        if self.store is not None:
            bot_yaml["store"] = self.store
        config_path = self.log_dir / "bot.yaml"
        config_path.write_text(json.dumps(bot_yaml, indent=2))  # JSON is YAML
        return [BOTKIT, "serve", str(config_path)]

    @property
    def profile_path(self) -> Path:
        return self.log_dir / "bot.prof"

    def stop(self) -> None:
        for proc in (self.bot, self.emulator):
            if proc is not None:
                proc.stop(grace=60.0 if self.callgrind else 15.0 if self.profile else 5.0)
        if self.profile and self.profile_path.exists():
            import pstats

            text = self.log_dir / "bot-profile.txt"
            with text.open("w") as out:
                stats = pstats.Stats(str(self.profile_path), stream=out)
                stats.sort_stats("tottime").print_stats(40)
                stats.sort_stats("cumulative").print_stats(40)
            print(f"   profile of the bot: {text} (raw: {self.profile_path})", flush=True)

    def check(self) -> None:
        for proc in (self.emulator, self.bot):
            if proc is not None:
                proc.check_alive()


# The customers ---------------------------------------------------------------------------


@dataclass(slots=True)
class Customer:
    index: int
    contact_id: str
    connection_token: str
    started: float  # wall clock, seconds
    probe: Probe | None = None


class Probe:
    """A customer holding a subscribed websocket: client-side round trip, send → the bot's reply frame arriving."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.pending: dict[str, float] = {}
        self.round_trips: dict[str, list[float]] = {}
        self.reader = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def open(cls, url: str) -> Probe:
        from websockets.asyncio.client import connect

        connection = await connect(url, compression=None, ping_interval=None, proxy=None, open_timeout=10)
        await connection.send(json.dumps({"topic": "aws/subscribe", "content": {"topics": ["aws/chat"]}}))
        return cls(connection)

    def sending(self, content: str) -> None:
        self.pending[content] = time.perf_counter()

    async def _read(self) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            async for raw in self.connection:
                arrived = time.perf_counter()
                frame = json.loads(raw)
                if frame.get("topic") != "aws/chat":
                    continue
                item = json.loads(frame["content"])
                if item.get("Type") != "MESSAGE" or item.get("ParticipantRole") != "CUSTOM_BOT":
                    continue
                key = item.get("Content", "").rsplit(" ", 1)[-1]
                sent = self.pending.pop(key, None)
                if sent is not None:
                    self.round_trips.setdefault(key.split(".", 1)[0], []).append(arrived - sent)
        except ConnectionClosed:
            return

    async def close(self) -> None:
        self.reader.cancel()
        await self.connection.close()


@dataclass
class Counters:
    start_errors: int = 0
    send_errors: int = 0
    send_ok: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)
    send_seconds: list[float] = field(default_factory=list)

    def error(self, kind: str) -> None:
        self.error_kinds[kind] = self.error_kinds.get(kind, 0) + 1


class Driver:
    """The customers' side, over plain HTTP (no signing: the emulator accepts any or none)."""

    def __init__(self, endpoint: str, concurrency: int, transport: str = "websocket") -> None:
        self.endpoint = endpoint
        self.concurrency = concurrency
        self.transport = transport
        self.http: aiohttp.ClientSession | None = None
        self.info: dict[str, Any] = {}
        self.counters = Counters()
        self.probes: list[Probe] = []

    async def __aenter__(self) -> Driver:  # noqa: PYI034
        self.http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self.concurrency, force_close=False),
            timeout=aiohttp.ClientTimeout(total=30),
        )
        async with self.http.get(self.endpoint + "/emulator/info") as answer:
            self.info = await answer.json()
        return self

    async def __aexit__(self, *exc: object) -> None:
        for probe in self.probes:
            await probe.close()
        if self.http is not None:
            await self.http.close()

    async def _call(self, method: str, path: str, body: dict[str, Any], bearer: str | None = None) -> dict[str, Any]:
        assert self.http is not None
        headers = {"X-Amz-Bearer": bearer} if bearer else None
        async with self.http.request(method, self.endpoint + path, json=body, headers=headers) as answer:
            data = await answer.json(content_type=None)
            if answer.status >= 300:
                kind = answer.headers.get("x-amzn-ErrorType", "") or str(answer.status)
                raise BenchError(f"{path}: HTTP {answer.status} {kind}")
            return data

    async def start_customer(self, index: int, probe: bool = False) -> Customer | None:
        started = time.time()
        types = ["WEBSOCKET", "CONNECTION_CREDENTIALS"] if probe else ["CONNECTION_CREDENTIALS"]
        try:
            chat = await self._call(
                "PUT",
                "/contact/chat",
                {
                    "InstanceId": self.info["instanceId"],
                    "ContactFlowId": self.info["contactFlowId"],
                    "ParticipantDetails": {"DisplayName": f"Customer {index}"},
                },
            )
            connection = await self._call(
                "POST", "/participant/connection", {"Type": types}, bearer=chat["ParticipantToken"]
            )
            watcher = await Probe.open(connection["Websocket"]["Url"]) if probe else None
        except (TimeoutError, OSError, BenchError, aiohttp.ClientError) as error:
            self.counters.start_errors += 1
            self.counters.error(f"start: {error}"[:120])
            return None
        if watcher is not None:
            self.probes.append(watcher)
        token = connection["ConnectionCredentials"]["ConnectionToken"]
        return Customer(index, chat["ContactId"], token, started, watcher)

    async def start_customers(self, first: int, count: int, probes: int = 0) -> list[Customer]:
        """Customers `first`… ; the first `probes` of all customers hold a websocket."""
        gate = asyncio.Semaphore(self.concurrency)

        async def one(index: int) -> Customer | None:
            async with gate:
                return await self.start_customer(index, probe=index < probes)

        started = await asyncio.gather(*(one(first + i) for i in range(count)))
        return [c for c in started if c is not None]

    async def send(self, customer: Customer, content: str) -> None:
        if customer.probe is not None:
            customer.probe.sending(content)
        began = time.perf_counter()
        try:
            await self._call(
                "POST",
                "/participant/message",
                {"ContentType": "text/plain", "Content": content},
                bearer=customer.connection_token,
            )
        except (TimeoutError, BenchError, aiohttp.ClientError) as error:
            self.counters.send_errors += 1
            self.counters.error(f"send: {error}"[:120])
            return
        self.counters.send_ok += 1
        self.counters.send_seconds.append(time.perf_counter() - began)

    async def contacts(self) -> list[dict[str, Any]]:
        assert self.http is not None
        async with self.http.get(self.endpoint + "/emulator/contacts") as answer:
            return (await answer.json())["Contacts"]

    async def drop_bot_sockets(self) -> int:
        """Every bot's websocket closed at once, as a network blink would; returns how many."""
        dropped = await self._call("POST", "/emulator/faults/drop-websockets", {"ParticipantRole": "CUSTOM_BOT"})
        return int(dropped["Dropped"])

    async def bots_up(self, wanted: set[str]) -> int:
        """How many of `wanted` contacts have a CUSTOM_BOT participant holding a websocket or, on streaming
        (no socket), connected with ConnectParticipant."""
        up = self._streaming_bot_up if self.transport == "streaming" else self._websocket_bot_up
        return sum(
            1
            for contact in await self.contacts()
            if contact["ContactId"] in wanted and any(up(p) for p in contact["Participants"])
        )

    @staticmethod
    def _websocket_bot_up(participant: dict[str, Any]) -> bool:
        return participant["ParticipantRole"] == "CUSTOM_BOT" and participant["Sockets"] > 0

    @staticmethod
    def _streaming_bot_up(participant: dict[str, Any]) -> bool:
        return participant["ParticipantRole"] == "CUSTOM_BOT" and participant["Active"]

    async def item_count(self, wanted: set[str]) -> int:
        return sum(c["ItemCount"] for c in await self.contacts() if c["ContactId"] in wanted)

    async def transcript(self, customer: Customer, limit: int | None = None) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        body: dict[str, Any] = {"ScanDirection": "FORWARD", "SortOrder": "ASCENDING", "MaxResults": 100}
        while True:
            page = await self._call("POST", "/participant/transcript", body, bearer=customer.connection_token)
            items.extend(page.get("Transcript", []))
            token = page.get("NextToken")
            if not token or (limit is not None and len(items) >= limit):
                return items
            body = {**body, "NextToken": token}

    async def transcripts(self, customers: Sequence[Customer], limit: int | None = None) -> dict[str, list[dict[str, Any]]]:
        gate = asyncio.Semaphore(min(self.concurrency, 32))
        found: dict[str, list[dict[str, Any]]] = {}

        async def one(customer: Customer) -> None:
            async with gate:
                try:
                    found[customer.contact_id] = await self.transcript(customer, limit)
                except (TimeoutError, BenchError, aiohttp.ClientError) as error:
                    self.counters.error(f"transcript: {error}"[:120])

        await asyncio.gather(*(one(c) for c in customers))
        return found


# Measuring -------------------------------------------------------------------------------


def wire_ms(text: str) -> int:
    """`2026-11-23T19:22:07.123Z` → milliseconds since the epoch."""
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def percentiles(values: Sequence[float]) -> dict[str, float | None]:
    if not values:
        return {"n": 0, "p50": None, "p95": None, "p99": None, "max": None, "mean": None}
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]

    return {
        "n": len(ordered),
        "p50": at(0.50),
        "p95": at(0.95),
        "p99": at(0.99),
        "max": ordered[-1],
        "mean": round(statistics.fmean(ordered), 2),
    }


def replies_by_phase(transcripts: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Match each customer message (`<phase>.<contact>.<seq>`) with the bot reply ending in the same text.

    A second reply to the same message counts as a duplicate: exactly once is part of what is measured.
    """
    phases: dict[str, dict[str, Any]] = {}
    for items in transcripts.values():
        asked: dict[str, int] = {}
        answered: dict[str, int] = {}
        replies: dict[str, int] = {}
        for item in items:
            if item.get("Type") != "MESSAGE":
                continue
            content = item.get("Content", "")
            if item.get("ParticipantRole") == "CUSTOMER":
                asked[content] = wire_ms(item["AbsoluteTime"])
            elif item.get("ParticipantRole") == "CUSTOM_BOT":
                answered_text = content.rsplit(" ", 1)[-1]
                answered.setdefault(answered_text, wire_ms(item["AbsoluteTime"]))
                replies[answered_text] = replies.get(answered_text, 0) + 1
        for content, sent_ms in asked.items():
            phase = phases.setdefault(
                content.split(".", 1)[0],
                {"latencies": [], "missing": 0, "duplicates": 0, "first_ms": None, "last_ms": None},
            )
            reply_ms = answered.get(content)
            if reply_ms is None:
                phase["missing"] += 1
                continue
            phase["duplicates"] += replies[content] - 1
            phase["latencies"].append(reply_ms - sent_ms)
            phase["first_ms"] = sent_ms if phase["first_ms"] is None else min(phase["first_ms"], sent_ms)
            phase["last_ms"] = reply_ms if phase["last_ms"] is None else max(phase["last_ms"], reply_ms)
    return phases


def join_latencies(transcripts: dict[str, list[dict[str, Any]]]) -> list[int]:
    """Per contact: the bot's participant.joined minus the customer's (both service timestamps, ms)."""
    found = []
    for items in transcripts.values():
        joined = {i.get("ParticipantRole"): wire_ms(i["AbsoluteTime"]) for i in items if i.get("ContentType") == JOINED}
        if "CUSTOMER" in joined and "CUSTOM_BOT" in joined:
            found.append(joined["CUSTOM_BOT"] - joined["CUSTOMER"])
    return found


class Run:
    """One stack under one load; holds what was measured."""

    def __init__(self, args: argparse.Namespace, bot_kind: str, plugin: str, log_dir: Path, transport: str = "websocket") -> None:
        self.args = args
        self.label = bot_kind if bot_kind != "botkit" else f"botkit/{plugin}" + ("+receipts" if args.receipts else "")
        if transport != "websocket":
            self.label += f"+{transport}"
        if bot_kind == "botkit" and args.store:
            self.label += f"+store({args.store.split(':', 1)[0]})"
        self.stack = Stack(
            bot_kind,
            plugin,
            args.pinning,
            log_dir,
            receipts=args.receipts,
            store=args.store,
            profile=args.profile,
            tracemalloc=getattr(args, "tracemalloc", False),
            callgrind=args.callgrind,
            rig_loop=args.rig_loop,
            bot_loop=args.bot_loop,
            transport=transport,
            sns_key_size=args.sns_key_size,
        )
        if self.stack.tracemalloc:
            self.label += "+tracemalloc"
        if self.stack.callgrind:
            self.label += f"+callgrind({self.stack.callgrind})"
        if bot_kind == "botkit" and args.bot_loop != "asyncio":
            self.label += f"+{args.bot_loop}"
        self.result: dict[str, Any] = {
            "bot": bot_kind,
            "plugin": plugin if bot_kind == "botkit" else "echo (built in)",
            "transport": transport,
            "sns_key_size": args.sns_key_size if transport == "streaming" else None,
        }
        self.customers: list[Customer] = []
        self.driver: Driver | None = None

    @property
    def bot(self) -> Proc:
        assert self.stack.bot is not None
        return self.stack.bot

    def sample(self) -> dict[str, Any]:
        """CPU seconds of the three processes and the bot's memory, now."""
        assert self.stack.emulator is not None
        return {
            "bot_cpu": self.bot.cpu_seconds(),
            "emulator_cpu": self.stack.emulator.cpu_seconds(),
            "loadgen_cpu": sum(os.times()[:2]),
            "wall": time.monotonic(),
            **self.bot.memory(),
        }

    async def bring_up(self, count: int, timeout: float) -> dict[str, Any]:
        """Start `count` more chats and wait until the bot holds a websocket in each (on streaming: has connected)."""
        assert self.driver is not None
        began = time.monotonic()
        fresh = await self.driver.start_customers(len(self.customers), count, getattr(self.args, "probes", 0))
        started_in = time.monotonic() - began
        self.customers.extend(fresh)
        wanted = {c.contact_id for c in fresh}
        interval = max(0.1, len(self.customers) / 5000)
        up = 0
        while time.monotonic() - began < timeout:
            self.stack.check()
            up = await self.driver.bots_up(wanted)
            if up >= len(wanted):
                break
            await asyncio.sleep(interval)
        elapsed = time.monotonic() - began
        return {
            "requested": count,
            "started": len(fresh),
            "bots_up": up,
            "start_seconds": round(started_in, 3),
            "all_up_seconds": round(elapsed, 3) if up >= len(wanted) else None,
            "sessions_per_second": round(up / elapsed, 1) if elapsed > 0 else None,
        }

    async def drain(self, expected_items: int, timeout: float) -> tuple[int, float]:
        """Wait until the contacts hold `expected_items` items (every message answered) or `timeout` passes."""
        assert self.driver is not None
        wanted = {c.contact_id for c in self.customers}
        began = time.monotonic()
        count = 0
        interval = max(0.1, len(wanted) / 5000)  # each poll lists every contact: keep its cost small
        while time.monotonic() - began < timeout:
            self.stack.check()
            count = await self.driver.item_count(wanted)
            if count >= expected_items:
                break
            await asyncio.sleep(interval)
        return count, time.monotonic() - began


def cpu_delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, float]:
    wall = after["wall"] - before["wall"]
    return {
        f"{name}_cpu_percent": round(100 * (after[f"{name}_cpu"] - before[f"{name}_cpu"]) / wall, 1) if wall > 0 else 0.0
        for name in ("bot", "emulator", "loadgen")
    }


# Scenarios -------------------------------------------------------------------------------


async def scenario_idle(run: Run) -> None:
    """N sessions doing nothing but heartbeats: time to bring them up, memory per session, idle CPU."""
    args = run.args
    assert run.driver is not None
    base = run.sample()
    run.result["bot_rss_kib_before"] = base["rss_kib"]
    steps = max(1, args.steps)
    sizes = [args.sessions * (i + 1) // steps - args.sessions * i // steps for i in range(steps)]
    points = [{"sessions": 0, "rss_kib": base["rss_kib"], "threads": base.get("threads")}]
    ups: list[dict[str, Any]] = []
    run.result["bring_up"] = ups  # kept as they come, so a run cut short still shows them
    run.result["memory_points"] = points
    for size in sizes:
        up = await run.bring_up(size, args.up_timeout)
        ups.append(up)
        if up["all_up_seconds"] is None:
            raise BenchError(f"only {up['bots_up']} of {up['started']} sessions came up within {args.up_timeout} s")
        await asyncio.sleep(args.settle)
        now = run.sample()
        points.append({"sessions": len(run.customers), "rss_kib": now["rss_kib"], "threads": now.get("threads")})
        if run.stack.tracemalloc and run.stack.bot_kind == "botkit":
            await request_snapshot(run, len(points) - 1)
    before_idle = run.sample()
    await asyncio.sleep(args.idle)
    after_idle = run.sample()
    n = len(run.customers)
    run.result["bring_up"] = ups
    run.result["sessions"] = n
    run.result["all_up_seconds"] = round(sum(u["all_up_seconds"] for u in ups), 3)
    run.result["memory_points"] = points
    run.result["bot_rss_kib"] = after_idle["rss_kib"]
    run.result["bot_peak_rss_kib"] = after_idle["hwm_kib"]
    run.result["bot_threads"] = after_idle.get("threads")
    run.result["rss_per_session_kib"] = round((after_idle["rss_kib"] - base["rss_kib"]) / n, 2) if n else None
    if len(points) >= 3:
        xs = [p["sessions"] for p in points[1:]]
        ys = [p["rss_kib"] for p in points[1:]]
        run.result["rss_slope_kib_per_session"] = round(statistics.linear_regression(xs, ys).slope, 2)
    idle_cpu = after_idle["bot_cpu"] - before_idle["bot_cpu"]
    idle_wall = after_idle["wall"] - before_idle["wall"]
    run.result["idle_seconds"] = round(idle_wall, 1)
    run.result["idle_bot_cpu_percent"] = round(100 * idle_cpu / idle_wall, 2)
    run.result["idle_bot_cpu_us_per_session_second"] = round(1e6 * idle_cpu / idle_wall / n, 2) if n else None
    emulator_cpu = after_idle["emulator_cpu"] - before_idle["emulator_cpu"]
    run.result["idle_emulator_cpu_percent"] = round(100 * emulator_cpu / idle_wall, 2)
    every = max(1, n // args.join_sample)
    transcripts = await run.driver.transcripts(run.customers[::every], limit=10)
    run.result["join_ms"] = percentiles(join_latencies(transcripts))
    if run.stack.tracemalloc and run.stack.bot_kind == "botkit" and len(points) >= 3:
        run.result["tracemalloc"] = compare_snapshots(run, points)


async def request_snapshot(run: Run, number: int) -> None:
    """Ask tracemalloc_bot.py for snapshot `number` and wait until it is written."""
    path = run.stack.log_dir / f"snapshot-{number}.pickle"
    os.kill(run.bot.pid, signal.SIGUSR1)
    for _ in range(600):
        if path.exists():
            return
        run.stack.check()
        await asyncio.sleep(0.1)
    raise BenchError(f"the bot wrote no tracemalloc snapshot {number} within 60 s")


def compare_snapshots(run: Run, points: list[dict[str, Any]]) -> dict[str, Any]:
    """What grew between the first batch and the last, per session, by source line and by file."""
    import tracemalloc

    first = tracemalloc.Snapshot.load(str(run.stack.log_dir / "snapshot-1.pickle"))
    last = tracemalloc.Snapshot.load(str(run.stack.log_dir / f"snapshot-{len(points) - 1}.pickle"))
    sessions = points[-1]["sessions"] - points[1]["sessions"]
    ignore = [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, "<frozen importlib._bootstrap*>")]
    first, last = first.filter_traces(ignore), last.filter_traces(ignore)

    def top(key: str, limit: int) -> list[dict[str, Any]]:
        stats = sorted(last.compare_to(first, key), key=lambda s: s.size_diff, reverse=True)[:limit]
        return [
            {
                "where": str(stat.traceback[0]) if key == "lineno" else stat.traceback[0].filename,
                "bytes_per_session": round(stat.size_diff / sessions),
                "blocks_per_session": round(stat.count_diff / sessions, 2),
            }
            for stat in stats
        ]

    total = sum(s.size_diff for s in last.compare_to(first, "filename"))
    found = {
        "sessions_between_snapshots": sessions,
        "traced_bytes_per_session": round(total / sessions),
        "by_line": top("lineno", 30),
        "by_file": top("filename", 15),
    }
    text = run.stack.log_dir / "tracemalloc.txt"
    with text.open("w") as out:
        out.write(f"traced Python memory per session: {found['traced_bytes_per_session']} B over {sessions} sessions\n")
        for section in ("by_file", "by_line"):
            out.write(f"\n{section}:\n")
            for row in found[section]:
                out.write(f"  {row['bytes_per_session']:>7} B  {row['blocks_per_session']:>6} blocks  {row['where']}\n")
    print(f"   tracemalloc: {found['traced_bytes_per_session']} B of Python objects per session; details in {text}")
    return found


async def _phase(run: Run, name: str, send: Callable[[], Awaitable[None]], expected_items: int) -> dict[str, Any]:
    """Send (as `send` does), wait for every reply, and measure the CPU spent meanwhile."""
    assert run.driver is not None
    counters = run.driver.counters
    ok_before, errors_before = counters.send_ok, counters.send_errors
    counters.send_seconds = []
    if run.stack.callgrind:
        await callgrind_command(run, "--zero")
    before = run.sample()
    await send()
    sent_at = run.sample()
    sent_ok = counters.send_ok - ok_before
    items, drain_seconds = await run.drain(expected_items + 2 * sent_ok, run.args.drain_timeout)
    after = run.sample()
    bot_cpu = after["bot_cpu"] - before["bot_cpu"]
    instructions = await callgrind_command(run, "--dump") if run.stack.callgrind else None
    return {
        "phase": name,
        "sent": sent_ok,
        "send_errors": counters.send_errors - errors_before,
        "send_seconds": round(sent_at["wall"] - before["wall"], 3),
        "sent_per_second": round(sent_ok / (sent_at["wall"] - before["wall"]), 1),
        "drain_seconds": round(drain_seconds, 2),
        "items_after": items,
        "bot_cpu_seconds": round(bot_cpu, 3),
        "bot_cpu_us_per_message": round(1e6 * bot_cpu / sent_ok, 1) if sent_ok else None,
        f"{run.stack.callgrind}_instructions_per_message": round(instructions / sent_ok) if instructions and sent_ok else None,
        "bot_rss_kib": after["rss_kib"],
        "send_ms": percentiles([round(s * 1000, 2) for s in counters.send_seconds]),
        **cpu_delta(before, after),
    }


async def callgrind_command(run: Run, command: str) -> int | None:
    """Zero the counted process's callgrind counters, or dump them and return the instructions counted since.

    Instruction counts do not depend on what else the machine is doing: the figure to compare
    bots by on a shared 2-core machine, where CPU seconds swing from run to run.
    """
    before = set(run.stack.log_dir.glob("callgrind.out.*"))
    control = await asyncio.create_subprocess_exec(
        "callgrind_control", command, str(run.stack.counted.pid), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    _, error = await control.communicate()
    if control.returncode != 0:
        raise BenchError(f"callgrind_control {command} failed: {error.decode(errors='replace').strip()}")
    if command != "--dump":
        return None
    for _ in range(600):
        fresh = set(run.stack.log_dir.glob("callgrind.out.*")) - before
        for dump in fresh:
            for line in dump.read_text(errors="replace").splitlines():
                if line.startswith("summary:"):
                    return int(line.split()[1])
        await asyncio.sleep(0.1)
    raise BenchError("callgrind wrote no dump within 60 s")


async def _items_now(run: Run) -> int:
    assert run.driver is not None
    return await run.driver.item_count({c.contact_id for c in run.customers})


def _finish_phases(run: Run, phases: list[dict[str, Any]], transcripts: dict[str, list[dict[str, Any]]]) -> None:
    matched = replies_by_phase(transcripts)
    for phase in phases:
        found = matched.get(phase["phase"], {"latencies": [], "first_ms": None, "last_ms": None})
        phase["replies"] = len(found["latencies"])
        phase["missing_replies"] = phase["sent"] - phase["replies"]
        phase["duplicate_replies"] = found.get("duplicates", 0)
        phase["latency_ms"] = percentiles(found["latencies"])
        span = (found["last_ms"] - found["first_ms"]) / 1000 if found["first_ms"] is not None else 0
        phase["reply_span_seconds"] = round(span, 3)
        phase["throughput_per_second"] = round(phase["replies"] / span, 1) if span > 0 else None
        assert run.driver is not None
        trips = [t for p in run.driver.probes for t in p.round_trips.get(phase["phase"], [])]
        phase["client_round_trip_ms"] = percentiles([round(t * 1000, 2) for t in trips])
    run.result["phases"] = phases
    run.result["join_ms"] = percentiles(join_latencies(transcripts))


async def _up_for_messages(run: Run) -> None:
    up = await run.bring_up(run.args.sessions, run.args.up_timeout)
    run.result["bring_up"] = [up]
    run.result["sessions"] = len(run.customers)
    run.result["all_up_seconds"] = up["all_up_seconds"]
    if up["all_up_seconds"] is None:
        raise BenchError(f"only {up['bots_up']} of {up['started']} sessions came up within {run.args.up_timeout} s")
    await asyncio.sleep(run.args.settle)
    run.result["bot_rss_kib_idle"] = run.bot.memory()["rss_kib"]


async def _send_at_rate(run: Run, rate: float, total: int, tag: str) -> None:
    """Open loop: customers take turns so that `rate` messages a second go out in all, `total` of them."""
    assert run.driver is not None
    driver = run.driver
    gate = asyncio.Semaphore(run.args.concurrency * 4)
    tasks: list[asyncio.Task[None]] = []
    loop = asyncio.get_running_loop()
    began = loop.time()
    for i in range(total):
        delay = began + i / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        await gate.acquire()
        customer = run.customers[i % len(run.customers)]
        task = loop.create_task(driver.send(customer, f"{tag}.{customer.index}.{i}"))
        task.add_done_callback(lambda _: gate.release())
        tasks.append(task)
    await asyncio.gather(*tasks)


async def scenario_steady(run: Run) -> None:
    """N sessions; customers take turns so that R messages a second go out in all (open loop)."""
    args = run.args
    assert run.driver is not None
    await _up_for_messages(run)
    phases: list[dict[str, Any]] = []
    run.result["phases"] = phases  # kept as they finish, so a run cut short still shows them
    for number, rate in enumerate(args.rate):
        total = max(1, int(rate * args.duration))
        tag = f"r{number}"

        async def send(rate: float = rate, total: int = total, tag: str = tag) -> None:
            await _send_at_rate(run, rate, total, tag)

        phase = await _phase(run, tag, send, await _items_now(run))
        phase["offered_per_second"] = rate
        phase["per_customer_interval_seconds"] = round(len(run.customers) / rate, 2)
        phases.append(phase)
    _finish_phases(run, phases, await run.driver.transcripts(run.customers))


async def scenario_storm(run: Run) -> None:
    """Steady load, and halfway through every bot socket dropped at once: how fast the bot is back, and
    whether every message is still answered exactly once."""
    args = run.args
    assert run.driver is not None
    driver = run.driver
    await _up_for_messages(run)
    wanted = {c.contact_id for c in run.customers}
    storm: dict[str, Any] = {}
    run.result["storm"] = storm

    async def drop_then_watch() -> None:
        await asyncio.sleep(args.duration / 2)
        began = time.monotonic()
        storm["dropped"] = await driver.drop_bot_sockets()
        storm["drop_seconds"] = round(time.monotonic() - began, 3)
        while time.monotonic() - began < args.up_timeout:
            if await driver.bots_up(wanted) >= len(wanted):
                storm["all_back_seconds"] = round(time.monotonic() - began, 3)
                return
            await asyncio.sleep(0.1)

    async def send() -> None:
        watcher = asyncio.get_running_loop().create_task(drop_then_watch())
        await _send_at_rate(run, args.rate, max(1, int(args.rate * args.duration)), "s0")
        await watcher

    phase = await _phase(run, "s0", send, await _items_now(run))
    phase["offered_per_second"] = args.rate
    _finish_phases(run, [phase], await driver.transcripts(run.customers))


async def scenario_burst(run: Run) -> None:
    """All N customers send one message at once; as many rounds as asked, each drained before the next."""
    args = run.args
    assert run.driver is not None
    driver = run.driver
    await _up_for_messages(run)
    phases: list[dict[str, Any]] = []
    run.result["phases"] = phases
    for number in range(args.rounds):
        tag = f"b{number}"

        async def send(tag: str = tag) -> None:
            await asyncio.gather(*(driver.send(c, f"{tag}.{c.index}.0") for c in run.customers))

        phases.append(await _phase(run, tag, send, await _items_now(run)))
    _finish_phases(run, phases, await driver.transcripts(run.customers))


SCENARIOS: dict[str, Callable[[Run], Awaitable[None]]] = {
    "idle": scenario_idle,
    "steady": scenario_steady,
    "burst": scenario_burst,
    "storm": scenario_storm,
}


async def execute(run: Run, scenario: str) -> None:
    args = run.args
    pin = run.stack.pinning
    if pin.loadgen:
        os.sched_setaffinity(0, pin.loadgen)
    await asyncio.to_thread(run.stack.start)
    run.result["pinning"] = pin.describe()
    run.result["pids"] = {"emulator": run.stack.emulator.pid, "bot": run.bot.pid}  # type: ignore[union-attr]
    async with Driver(run.stack.endpoint, args.concurrency, run.stack.transport) as driver:
        run.driver = driver
        began = time.monotonic()
        try:
            async with asyncio.timeout(args.max_seconds):
                await SCENARIOS[scenario](run)
        except TimeoutError:
            raise BenchError(f"the run passed its limit of {args.max_seconds} s (--max-seconds)") from None
        finally:
            run.result["run_seconds"] = round(time.monotonic() - began, 1)
            counters = driver.counters
            run.result["errors"] = {
                "start": counters.start_errors,
                "send": counters.send_errors,
                "kinds": counters.error_kinds,
            }
    if run.stack.emulator is not None and run.stack.emulator.alive():
        run.result["emulator_rss_kib"] = run.stack.emulator.memory()["rss_kib"]
    final = run.bot.memory()
    run.result["bot_peak_rss_kib"] = final["hwm_kib"]
    run.result["bot_log_problems"] = log_problems(run.bot.stderr_path)
    run.result["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    run.result.setdefault("bot_threads", final.get("threads"))
    run.stack.check()


def log_problems(path: Path) -> int:
    """Lines of the bot's stderr that report a problem (botkit logs at WARNING and up here)."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return 0
    return sum(1 for line in lines if any(word in line for word in ("ERROR", "WARNING", "Traceback", "contact ")))


# Reporting -------------------------------------------------------------------------------


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.2f}".rstrip("0").rstrip(".") if value else "0"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def rows_for(result: dict[str, Any], scenario: str) -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = [("sessions", result.get("sessions"))]
    if result.get("sns_key_size"):
        rows.append(("SNS signing key (RSA bits)", result["sns_key_size"]))
    rows.append(("time to bring all up (s)", result.get("all_up_seconds")))
    ups = result.get("bring_up") or []
    if ups:
        rows.append(("sessions up per second", ups[-1].get("sessions_per_second")))
    join = result.get("join_ms") or {}
    rows += [("join p50 / p99 (ms)", f"{_fmt(join.get('p50'))} / {_fmt(join.get('p99'))}")]
    storm = result.get("storm")
    if storm is not None:
        rows += [
            ("bot sockets dropped at once", storm.get("dropped")),
            ("all back subscribed after (s)", storm.get("all_back_seconds")),
        ]
    if scenario == "idle":
        rows += [
            ("bot RSS before (KiB)", result.get("bot_rss_kib_before")),
            ("bot RSS with N idle (KiB)", result.get("bot_rss_kib")),
            ("RSS per idle session (KiB)", result.get("rss_per_session_kib")),
            ("RSS slope (KiB/session)", result.get("rss_slope_kib_per_session")),
            ("bot peak RSS (KiB)", result.get("bot_peak_rss_kib")),
            ("bot threads", result.get("bot_threads")),
            ("idle bot CPU (%)", result.get("idle_bot_cpu_percent")),
            ("idle CPU µs/session/s", result.get("idle_bot_cpu_us_per_session_second")),
            ("emulator CPU % while idle", result.get("idle_emulator_cpu_percent")),
        ]
    for phase in result.get("phases") or []:
        lat = phase.get("latency_ms") or {}
        name = phase["phase"]
        if "offered_per_second" in phase:
            rows.append((f"[{name}] offered / sent msg/s", f"{_fmt(phase['offered_per_second'])} / {_fmt(phase['sent_per_second'])}"))
        rows += [
            (f"[{name}] messages sent", phase.get("sent")),
            (f"[{name}] reply throughput (msg/s)", phase.get("throughput_per_second")),
            (f"[{name}] latency p50/p95/p99 (ms)", f"{_fmt(lat.get('p50'))} / {_fmt(lat.get('p95'))} / {_fmt(lat.get('p99'))}"),
            (f"[{name}] latency max (ms)", lat.get("max")),
            (f"[{name}] probe round trip p50/p99 (ms)", _trip(phase)),
            (f"[{name}] customers' SendMessage p50/p99 (ms)", _send(phase)),
            (f"[{name}] errors / missing / duplicate replies", f"{phase.get('send_errors')} / {phase.get('missing_replies')} / {phase.get('duplicate_replies')}"),
            (f"[{name}] bot CPU µs/message", phase.get("bot_cpu_us_per_message")),
            *[(f"[{name}] {who} instructions/message", phase[f"{who}_instructions_per_message"]) for who in ("bot", "emulator") if phase.get(f"{who}_instructions_per_message")],
            (f"[{name}] ⇒ msg/s per bot core", round(1e6 / phase["bot_cpu_us_per_message"]) if phase.get("bot_cpu_us_per_message") else None),
            (f"[{name}] CPU % bot/emulator/loadgen", f"{_fmt(phase.get('bot_cpu_percent'))} / {_fmt(phase.get('emulator_cpu_percent'))} / {_fmt(phase.get('loadgen_cpu_percent'))}"),
        ]
    if scenario != "idle":
        rows.append(("bot RSS idle (KiB)", result.get("bot_rss_kib_idle")))
        rows.append(("bot peak RSS (KiB)", result.get("bot_peak_rss_kib")))
        rows.append(("bot threads", result.get("bot_threads")))
    rows.append(("emulator RSS at end (KiB)", result.get("emulator_rss_kib")))
    errors = result.get("errors") or {}
    rows.append(("start / send errors", f"{errors.get('start', 0)} / {errors.get('send', 0)}"))
    rows.append(("bot log warnings/errors", result.get("bot_log_problems")))
    rows.append(("machine load avg (1 min, at end)", (result.get("loadavg_after") or [None])[0]))
    if result.get("failed"):
        rows.append(("FAILED", result["failed"][:40]))
    return rows


def _trip(phase: dict[str, Any]) -> str | None:
    trip = phase.get("client_round_trip_ms") or {}
    if not trip.get("n"):
        return None
    return f"{_fmt(trip['p50'])} / {_fmt(trip['p99'])} (n={trip['n']})"


def _send(phase: dict[str, Any]) -> str | None:
    send = phase.get("send_ms") or {}
    if not send.get("n"):
        return None
    return f"{_fmt(send['p50'])} / {_fmt(send['p99'])}"


def print_table(results: list[dict[str, Any]], scenario: str) -> None:
    labels = [r["label"] for r in results]
    columns = [dict(rows_for(r, scenario)) for r in results]
    keys: list[str] = []
    for r in results:
        for key, _ in rows_for(r, scenario):
            if key not in keys:
                keys.append(key)
    width = max(len(k) for k in keys) + 2
    cells = [[_fmt(col.get(k)) for col in columns] for k in keys]
    widths = [max(len(labels[i]), *(len(row[i]) for row in cells)) + 2 for i in range(len(labels))]
    print()
    print("".ljust(width) + "".join(label.rjust(w) for label, w in zip(labels, widths)))
    for key, row in zip(keys, cells):
        print(key.ljust(width) + "".join(cell.rjust(w) for cell, w in zip(row, widths)))
    ratios = ratio_lines(results, scenario)
    if ratios:
        print()
        for line in ratios:
            print(line)


def print_spread(results: list[dict[str, Any]]) -> None:
    """With --repeat: each bot's p99, CPU per message and throughput per phase as min / median / max over the repeats."""
    print("\nover the repeats (min / median / max):")
    kinds = list(dict.fromkeys(r["kind"] for r in results if not r.get("failed")))
    for kind in kinds:
        mine = [r for r in results if r.get("kind") == kind and not r.get("failed")]
        for number, phase in enumerate(mine[0].get("phases") or []):
            same = [r["phases"][number] for r in mine if len(r.get("phases") or []) > number]
            figures = {
                "p99 ms": [(p.get("latency_ms") or {}).get("p99") for p in same],
                "CPU µs/msg": [p.get("bot_cpu_us_per_message") for p in same],
                "msg/s": [p.get("throughput_per_second") for p in same],
            }
            parts = []
            for name, values in figures.items():
                known = sorted(v for v in values if v is not None)
                if known:
                    parts.append(f"{name} {_fmt(known[0])} / {_fmt(statistics.median(known))} / {_fmt(known[-1])}")
            print(f"  {kind} [{phase.get('phase')}]: " + ", ".join(parts))


def headline(result: dict[str, Any], scenario: str) -> dict[str, float | None]:
    """The few figures the targets are about, for the ratio lines."""
    phases = result.get("phases") or [{}]
    last = phases[-1]
    return {
        "throughput": last.get("throughput_per_second"),
        "p99_ms": (last.get("latency_ms") or {}).get("p99"),
        "cpu_us_per_msg": last.get("bot_cpu_us_per_message"),
        "instructions_per_msg": last.get("bot_instructions_per_message"),
        "emulator_instructions_per_msg": last.get("emulator_instructions_per_message"),
        "rss_per_session_kib": result.get("rss_per_session_kib"),
        "peak_rss_kib": result.get("bot_peak_rss_kib"),
        "all_up_seconds": result.get("all_up_seconds"),
    }


def ratio_lines(results: list[dict[str, Any]], scenario: str) -> list[str]:
    """botkit's headline figures over each baseline's, and on streaming over the websocket's, run against run
    of the same repeat."""
    by_bot = {(r["bot"], r.get("repeat", 0)): r for r in results if not r.get("failed") and r.get("transport", "websocket") == "websocket"}
    ours = [r for r in results if r["bot"] == "botkit" and not r.get("failed")]
    lines = []
    on_websocket = {(r["plugin"], r.get("repeat", 0)): r for r in ours if r.get("transport", "websocket") == "websocket"}
    for mine in ours:
        base = on_websocket.get((mine["plugin"], mine.get("repeat", 0)))
        if mine.get("transport") == "streaming" and base is not None:
            lines.append(_ratio_line(mine, base, scenario))
    for base_name in ("minimal", "threaded"):
        for mine in ours:
            base = by_bot.get((base_name, mine.get("repeat", 0)))
            if base is None:
                continue
            lines.append(_ratio_line(mine, base, scenario))
    return [line for line in lines if line]


def _ratio_line(mine: dict[str, Any], base: dict[str, Any], scenario: str) -> str:
    a, b = headline(mine, scenario), headline(base, scenario)
    parts = [f"{key} ×{value / b[key]:.2f}" for key, value in a.items() if value is not None and b.get(key)]
    return f"{mine['label']} ÷ {base['label']}: " + ", ".join(parts) if parts else ""


# Command line ----------------------------------------------------------------------------


def _rates(text: str) -> list[float]:
    try:
        rates = [float(part) for part in text.split(",") if part]
    except ValueError:
        raise argparse.ArgumentTypeError("rates are numbers separated by commas, e.g. 50,100,200") from None
    if not rates or any(r <= 0 for r in rates):
        raise argparse.ArgumentTypeError("rates must be positive")
    return rates


def _choices(allowed: Sequence[str]) -> Callable[[str], list[str]]:
    def parse(text: str) -> list[str]:
        chosen = list(allowed) if text == "all" else [p for p in text.split(",") if p]
        unknown = [c for c in chosen if c not in allowed]
        if unknown or not chosen:
            raise argparse.ArgumentTypeError(f"choose from {', '.join(allowed)} or all")
        return chosen

    return parse


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="loadgen.py", description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = top.add_subparsers(dest="scenario", required=True)

    def common(sub: argparse.ArgumentParser, sessions: int) -> None:
        sub.add_argument("-n", "--sessions", type=int, default=sessions, help=f"concurrent chats (default {sessions})")
        sub.add_argument("--bot", type=_choices(BOTS), default=["botkit"], help="botkit, minimal, threaded, a list, or all")
        sub.add_argument("--transport", type=_choices(TRANSPORTS), default=["websocket"], help="botkit's transport: websocket (default), streaming (SNS notifications, no socket per chat), or both (the baselines have websockets only)")
        sub.add_argument("--sns-key-size", type=int, default=2048, help="bits of the emulator's SNS signing key (`botkit emulator --sns-key-size`; default 2048)")
        sub.add_argument("--plugin", type=_choices(tuple(PLUGINS)), default=["echo"], help=f"botkit's plugin: {', '.join(PLUGINS)} (list or all)")
        sub.add_argument("--pin", default=default_pinning(), help="CPU pinning, e.g. emulator=0,loadgen=0,bot=1 (default), or none")
        sub.add_argument("--concurrency", type=int, default=64, help="HTTP connections the customers share (default 64)")
        sub.add_argument("--up-timeout", type=float, default=60.0, help="seconds for N sessions to come up (default 60)")
        sub.add_argument("--settle", type=float, default=1.0, help="pause after bring-up before measuring (default 1 s)")
        sub.add_argument("--drain-timeout", type=float, default=20.0, help="seconds to wait for the last replies (default 20)")
        sub.add_argument("--max-seconds", type=float, default=180.0, help="hard limit per run (default 180)")
        sub.add_argument("--receipts", action="store_true", help="let botkit send delivered/read receipts (off by default: the baselines send none)")
        sub.add_argument("--store", default=None, help="botkit's session store, as bot.yaml's `store:` (e.g. redis://127.0.0.1:6379/0); the default is memory, which saves nothing")
        sub.add_argument("--profile", action="store_true", help="run the bot under cProfile (slower!) and write the top functions to its log directory")
        sub.add_argument("--rig-loop", choices=("asyncio", "uvloop"), default="asyncio", help="event loop of the emulator and this load generator (default asyncio)")
        sub.add_argument("--bot-loop", choices=("asyncio", "uvloop"), default="asyncio", help="botkit's event loop (runtime.event_loop); the baselines keep asyncio's")
        sub.add_argument("--callgrind", choices=("bot", "emulator"), default=None, help="run the bot (or the emulator) under valgrind's callgrind and report its instructions per message (50x slower: use a low --rate)")
        sub.add_argument("--repeat", type=int, default=1, help="run every bot this many times, interleaved, and report the spread (default 1)")
        sub.add_argument("--out", type=Path, default=None, help="JSON file to write (default benchmarks/results/<scenario>-<time>.json)")

    idle = commands.add_parser("idle", help="N sessions, heartbeats only: bring-up time, RSS per session, idle CPU")
    common(idle, 300)
    idle.add_argument("--steps", type=int, default=3, help="bring N up in this many batches, sampling RSS after each")
    idle.add_argument("--tracemalloc", action="store_true", help="botkit only: snapshot its Python allocations after each batch and show what each session holds (slow; distorts RSS)")
    idle.add_argument("--join-sample", type=int, default=2000, help="read the join time of at most this many chats, evenly spread (default 2000)")
    idle.add_argument("--idle", type=float, default=12.0, help="seconds to sit idle at N (default 12: a heartbeat cycle)")

    steady = commands.add_parser("steady", help="N sessions, R messages/s in all (several rates: a sweep)")
    common(steady, 100)
    steady.add_argument("--rate", type=_rates, default=[50.0], help="aggregate messages/s, e.g. 50,100,200 (default 50)")
    steady.add_argument("--duration", type=float, default=10.0, help="seconds per rate (default 10)")

    burst = commands.add_parser("burst", help="all N customers send at once")
    common(burst, 300)
    for sub in (steady, burst):
        sub.add_argument("--probes", type=int, default=10, help="customers that hold a websocket and time each round trip client-side (default 10)")
    burst.add_argument("--rounds", type=int, default=3, help="bursts, each drained before the next (default 3)")

    storm = commands.add_parser("storm", help="steady load; halfway through, every bot socket is dropped at once")
    common(storm, 300)
    storm.add_argument("--rate", type=float, default=100.0, help="aggregate messages/s (default 100)")
    storm.add_argument("--duration", type=float, default=10.0, help="seconds of load; the drop comes halfway (default 10)")
    storm.add_argument("--probes", type=int, default=10, help="customers that hold a websocket and time each round trip client-side (default 10)")

    plugins = commands.add_parser("plugins", help="botkit with echo, async 50 ms, sync 0 ms and sync 50 ms plugins (steady load)")
    common(plugins, 100)
    plugins.add_argument("--rate", type=_rates, default=[100.0], help="aggregate messages/s (default 100)")
    plugins.add_argument("--duration", type=float, default=10.0, help="seconds per rate (default 10)")
    plugins.add_argument("--probes", type=int, default=10, help="customers that hold a websocket and time each round trip client-side (default 10)")
    plugins.set_defaults(plugin=list(PLUGINS))
    return top


def run_loop(main: Coroutine[Any, Any, None], loop: str) -> None:
    """The load generator on asyncio's loop, or on uvloop's to leave more of its CPU to the emulator."""
    if loop == "uvloop":
        import uvloop

        uvloop.run(main)
    else:
        asyncio.run(main)


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if not Path(BOTKIT).exists():
        raise SystemExit(f"loadgen.py: no `botkit` beside {PYTHON}; run it with the project's .venv/bin/python")
    if args.sessions < 1:
        raise SystemExit("loadgen.py: --sessions must be at least 1")
    if args.scenario == "storm" and "streaming" in args.transport:
        raise SystemExit("loadgen.py: storm drops the bot's websockets; on streaming the bot holds none")
    args.pinning = Pinning.parse(args.pin)
    install_cleanup()
    scenario = "steady" if args.scenario == "plugins" else args.scenario
    bots = ["botkit"] if args.scenario == "plugins" else args.bot
    kinds = [
        (bot, plugin, transport)
        for bot in bots
        for plugin in (args.plugin if bot == "botkit" else ["echo"])
        for transport in (args.transport if bot == "botkit" else ["websocket"])
    ]
    runs = [(*kind, repeat) for repeat in range(args.repeat) for kind in kinds]  # interleaved
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    out = args.out or RESULTS / f"{args.scenario}-{stamp}.json"
    report: dict[str, Any] = {
        "scenario": args.scenario,
        "argv": sys.argv,
        "started": datetime.now().isoformat(timespec="seconds"),
        "machine": machine(),
        "revision": git_revision(ROOT),
        "runs": [],
    }
    failures = 0
    try:
        for bot_kind, plugin, transport, repeat in runs:
            log_dir = Path(tempfile.mkdtemp(prefix=f"bench-{bot_kind}-"))
            run = Run(args, bot_kind, plugin, log_dir, transport)
            run.result["repeat"] = repeat
            if args.repeat > 1:
                run.label += f" #{repeat + 1}"
                run.result["kind"] = run.label.rsplit(" #", 1)[0]
            print(f"== {args.scenario}: {run.label}, N={args.sessions} (logs in {log_dir})", flush=True)
            try:
                run_loop(execute(run, scenario), args.rig_loop)
            except (BenchError, ProcError, OSError, aiohttp.ClientError) as error:
                failures += 1
                run.result["failed"] = str(error)
                print(f"   failed: {error}", file=sys.stderr, flush=True)
            finally:
                run.stack.stop()
            run.result["label"] = run.label
            run.result["logs"] = str(log_dir)
            report["runs"].append(run.result)
    except KeyboardInterrupt:
        print("\ninterrupted: stopping every child process", file=sys.stderr)
        stop_all()
        failures += 1
        report["interrupted"] = True
    finally:
        stop_all()
    report["finished"] = datetime.now().isoformat(timespec="seconds")
    if report["runs"]:
        print_table(report["runs"], scenario)
        if args.repeat > 1:
            print_spread(report["runs"])
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2, default=str))
        print(f"\nwrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
