"""How long each store takes per call: save (the one on every handled event), acquire, renew, and renew_all.

    .venv/bin/python benchmarks/store_latency.py                          # memory, sqlite, and Redis on 6379
    .venv/bin/python benchmarks/store_latency.py --redis redis://127.0.0.1:6380/0 --rounds 2000

Calls are made one at a time from one event loop, so a figure is one call's latency, round trip included;
renew_all is the batched renewal of `--contacts` leases (a worker's every lease_seconds / 3). Redis must
answer at the URL given; its keys go under a prefix of their own, removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from botkit.connect.secrets import Secret
from botkit.store import ContactRecord, MemoryStore, SqliteStore, Store
from botkit.store.redis_store import RedisStore


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest rank, as benchmarks/loadgen.py reports them."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


async def timed(rounds: int, call: Callable[[int], Awaitable[object]]) -> list[float]:
    took = []
    for n in range(rounds):
        started = time.perf_counter()
        await call(n)
        took.append((time.perf_counter() - started) * 1000)
    return took


async def measure(store: Store, rounds: int, contacts: int) -> dict[str, list[float]]:
    lease = await store.acquire("bench-contact", "bench-worker", 30)
    assert lease is not None
    state = {"counter": 0, "plugin": {"step": "greeting", "answers": ["a", "b", "c"]}}
    record = ContactRecord("bench-contact", Secret("participant-token"), "participant-1", "initial-1", "instance-1")

    async def save(n: int) -> None:
        nonlocal record
        record = record.dispatched(f"item-{n}", "2026-11-23T20:00:00.000Z", {**state, "counter": n})
        await store.save("bench-contact", record, fence=lease.fence)

    async def acquire(n: int) -> None:
        assert await store.acquire(f"bench-acquire-{n}", "bench-worker", 30) is not None

    async def renew(n: int) -> None:
        await store.renew(lease)

    many = [await store.acquire(f"bench-many-{n}", "bench-worker", 30) for n in range(contacts)]

    async def renew_all(n: int) -> None:
        assert all(await store.renew_all(many))  # type: ignore[arg-type]

    return {
        "save": await timed(rounds, save),
        "acquire": await timed(rounds, acquire),
        "renew": await timed(rounds, renew),
        f"renew_all({contacts})": await timed(max(1, rounds // 50), renew_all),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0", help="a Redis to measure (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--contacts", type=int, default=1000, help="leases renewed at once by renew_all")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as directory:
        stores: dict[str, Store] = {
            "memory": MemoryStore(),
            "sqlite": SqliteStore(Path(directory) / "bench.db"),
            "redis": RedisStore(args.redis, prefix=f"bench:{uuid.uuid4().hex}:"),
        }
        print(f"{'store':<8} {'call':<16} {'p50 ms':>8} {'p99 ms':>8} {'n':>6}")
        for name, store in stores.items():
            try:
                for call, took in (await measure(store, args.rounds, args.contacts)).items():
                    print(f"{name:<8} {call:<16} {percentile(took, 0.5):8.3f} {percentile(took, 0.99):8.3f} {len(took):6}")
            finally:
                if isinstance(store, RedisStore):
                    keys = [key async for key in store._redis.scan_iter(match=f"{store.prefix}*", count=1000)]
                    for start in range(0, len(keys), 1000):
                        await store._redis.delete(*keys[start : start + 1000])
                await store.close()


if __name__ == "__main__":
    asyncio.run(main())
