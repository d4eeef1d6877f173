"""How long one worker takes to take over a SIGKILLed worker's contacts, on Redis, with real processes.

    .venv/bin/python benchmarks/takeover.py                       # 1,000 contacts, lease 10 s
    .venv/bin/python benchmarks/takeover.py -n 200 --lease 5      # a quicker look

A redis-server of its own on a free port of 127.0.0.1 (or --redis URL for one that runs already: it must hold
no other bot's contacts), a `botkit emulator`, and worker A alone: N chats are started and A joins every one.
Then worker B starts, A is killed with SIGKILL, and a sample of customers each send a message at once. Measured
from the kill: when B holds a lease on all N contacts (B's /metrics, botkit_leases_held), and when each
sampled customer's message is answered (the reply item's AbsoluteTime in the emulator's transcript). The
issue's target: both within lease_seconds + 5 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

from loadgen import PREFIX, BenchError, Customer, Driver, percentiles, wire_ms
from procs import Proc, install_cleanup, machine, stop_all

BOTKIT = str(Path(sys.executable).with_name("botkit"))
LEASES_HELD = re.compile(r"^botkit_leases_held (\S+)$", re.M)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def own_redis(directory: Path) -> tuple[subprocess.Popen[bytes], str]:
    """redis-server on a free port, nothing persisted: the run's store and nobody else's."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("takeover.py: redis-server is not installed (apt-get install redis-server), or pass --redis URL")
    port = free_port()
    argv = [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no", "--dir", str(directory)]
    server = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    return server, f"redis://127.0.0.1:{port}/0"


async def redis_answers(url: str, timeout: float) -> None:
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(url)
    try:
        async with asyncio.timeout(timeout):
            while True:
                try:
                    if await client.ping():
                        return
                except (redis.ConnectionError, OSError):
                    await asyncio.sleep(0.05)
    finally:
        await client.aclose()


def write_bot_yaml(directory: Path, endpoint: str, redis_url: str, lease: float) -> Path:
    config = {
        "connect": {"endpoint": endpoint},
        "server": {"host": "127.0.0.1", "port": 0},
        "plugins": [str(ROOT / "plugins" / "echo.py")],
        "plugin_config": {"echo": {"prefix": PREFIX}},
        "receipts": {"enabled": False},
        "store": {"url": redis_url, "lease_seconds": lease},
        "runtime": {"max_sessions": 100_000},
        "logging": {"level": "WARNING"},
    }
    path = directory / "bot.yaml"
    path.write_text(json.dumps(config, indent=2))  # JSON is YAML
    return path


def start_worker(name: str, config: Path, log_dir: Path) -> tuple[Proc, str]:
    worker = Proc(name, [BOTKIT, "serve", str(config)], ready_prefix="bot:", log_dir=log_dir, cwd=ROOT)
    url = worker.start(timeout=60).split()[0]
    return worker, url


async def leases_held(http: aiohttp.ClientSession, url: str) -> int:
    async with http.get(f"{url}/metrics") as answer:
        found = LEASES_HELD.search(await answer.text())
    return int(float(found.group(1))) if found else 0


async def wait_for(condition: Any, timeout: float, interval: float, what: str) -> float:
    """Poll `condition` (a coroutine function) until true; the monotonic time it first was. Polling is the only
    way to see another process's state change here."""
    deadline = time.monotonic() + timeout
    while True:
        if await condition():
            return time.monotonic()
        if time.monotonic() > deadline:
            raise BenchError(f"{what}: not within {timeout:.0f} s")
        await asyncio.sleep(interval)


async def answered_at(driver: Driver, customer: Customer, content: str, timeout: float) -> int:
    """The reply's AbsoluteTime (ms since the epoch) once `content` is answered in the transcript."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for item in await driver.transcript(customer):
            if item.get("Content") == PREFIX + content and item.get("ParticipantRole") == "CUSTOM_BOT":
                return wire_ms(item["AbsoluteTime"])
        await asyncio.sleep(0.2)
    raise BenchError(f"{customer.contact_id}: {content!r} unanswered {timeout:.0f} s after it was sent")


async def run(args: argparse.Namespace, log_dir: Path, redis_url: str) -> dict[str, Any]:
    await redis_answers(redis_url, 10)
    emulator = Proc("emulator", [BOTKIT, "--log-level", "WARNING", "emulator", "--port", "0"], ready_prefix="emulator:", log_dir=log_dir)
    endpoint = emulator.start(timeout=30)
    config = write_bot_yaml(log_dir, endpoint, redis_url, args.lease)
    worker_a, _ = start_worker("worker-a", config, log_dir)
    result: dict[str, Any] = {"contacts": args.sessions, "lease_seconds": args.lease, "sample": args.sample}
    async with Driver(endpoint, 64) as driver, aiohttp.ClientSession() as http:
        began = time.monotonic()
        customers = [c for c in await driver.start_customers(0, args.sessions) if c is not None]
        if len(customers) < args.sessions:
            raise BenchError(f"only {len(customers)} of {args.sessions} chats started")
        wanted = {c.contact_id for c in customers}
        await wait_for(lambda: _all_up(driver, wanted), 120, 0.5, f"worker A joining {args.sessions} chats")
        result["join_seconds"] = round(time.monotonic() - began, 1)
        worker_b, url_b = start_worker("worker-b", config, log_dir)
        print(f"   {len(customers)} chats joined by worker A in {result['join_seconds']} s; worker B up; SIGKILL A", flush=True)
        sample = customers[:: max(1, len(customers) // args.sample)][: args.sample]
        killed = time.monotonic()
        killed_wall_ms = round(time.time() * 1000)
        worker_a.popen.send_signal(signal.SIGKILL)  # type: ignore[union-attr]
        sends = [driver.send(c, f"after-kill.{c.index}") for c in sample]
        await asyncio.gather(*sends)
        bound = args.lease + 60
        held_at, answers = await asyncio.gather(
            wait_for(lambda: _holds(http, url_b, len(customers)), bound, 0.1, "worker B holding every lease"),
            asyncio.gather(*(answered_at(driver, c, f"after-kill.{c.index}", bound) for c in sample)),
        )
        waits = sorted((ms - killed_wall_ms) / 1000 for ms in answers)
        worker_b.check_alive()
        result["all_leases_held_seconds"] = round(held_at - killed, 2)
        result["answered_seconds"] = {k: (round(v, 2) if v is not None else None) for k, v in percentiles(waits).items()}
        result["answered_max_seconds"] = round(waits[-1], 2)
        result["target_seconds"] = args.lease + 5
        result["within_target"] = result["all_leases_held_seconds"] <= args.lease + 5 and waits[-1] <= args.lease + 5
        result["worker_b_cpu_seconds"] = round(worker_b.cpu_seconds(), 2)
    return result


async def _all_up(driver: Driver, wanted: set[str]) -> bool:
    return await driver.bots_up(wanted) >= len(wanted)


async def _holds(http: aiohttp.ClientSession, url: str, count: int) -> bool:
    return await leases_held(http, url) >= count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--sessions", type=int, default=1000, help="contacts worker A holds when it is killed (default 1,000)")
    parser.add_argument("--lease", type=float, default=10.0, help="store.lease_seconds (default 10, botkit's default)")
    parser.add_argument("--sample", type=int, default=50, help="customers who send right after the kill and are timed (default 50)")
    parser.add_argument("--redis", default=None, help="a Redis URL to use instead of a redis-server of its own")
    parser.add_argument("--out", type=Path, default=None, help="JSON file to write (default benchmarks/results/takeover-<time>.json)")
    args = parser.parse_args()
    if not Path(BOTKIT).exists():
        raise SystemExit(f"takeover.py: no `botkit` beside {sys.executable}; run it with the project's .venv/bin/python")
    install_cleanup()
    log_dir = Path(tempfile.mkdtemp(prefix="bench-takeover-"))
    print(f"== takeover: {args.sessions} contacts, lease {args.lease:g} s (logs in {log_dir})", flush=True)
    redis_server, redis_url = own_redis(log_dir) if args.redis is None else (None, args.redis)
    try:
        result = asyncio.run(run(args, log_dir, redis_url))
    except BenchError as error:
        print(f"   failed: {error}", file=sys.stderr)
        return 1
    finally:
        stop_all()
        if redis_server is not None:
            redis_server.terminate()
            redis_server.wait(timeout=10)
    answered = result["answered_seconds"]
    print(f"   SIGKILL → worker B holds all {result['contacts']} leases: {result['all_leases_held_seconds']:.2f} s")
    print(
        f"   SIGKILL → answer, {result['sample']} customers who sent at the kill: p50 {answered['p50']} s,"
        f" p99 {answered['p99']} s, max {result['answered_max_seconds']} s"
    )
    print(f"   target lease + 5 s = {result['target_seconds']:g} s: {'met' if result['within_target'] else 'MISSED'}")
    out = args.out or BENCH / "results" / f"takeover-{datetime.now().strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": machine(), "argv": sys.argv, **result}, indent=2, default=str))
    print(f"wrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
