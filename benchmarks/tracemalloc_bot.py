"""`botkit` under tracemalloc: SIGUSR1 writes a snapshot, so the load generator can see where session memory goes.

    python benchmarks/tracemalloc_bot.py serve bot.yaml     # as `botkit serve bot.yaml`

Each SIGUSR1 collects garbage and writes `snapshot-<n>.pickle` into $BENCH_TRACEMALLOC_DIR
(written under a temporary name, then renamed). tracemalloc slows the bot and roughly
doubles its memory: use it to find allocation sites, never for the headline figures.
Used by `loadgen.py idle --tracemalloc`.
"""

from __future__ import annotations

import gc
import os
import signal
import sys
import tracemalloc
from pathlib import Path


def main() -> None:
    out = Path(os.environ.get("BENCH_TRACEMALLOC_DIR", "."))
    tracemalloc.start(int(os.environ.get("BENCH_TRACEMALLOC_FRAMES", "6")))
    taken = 0

    def snapshot(signum: int, frame: object) -> None:
        nonlocal taken
        taken += 1
        gc.collect()
        partial = out / f"snapshot-{taken}.tmp"
        tracemalloc.take_snapshot().dump(str(partial))
        partial.rename(out / f"snapshot-{taken}.pickle")

    signal.signal(signal.SIGUSR1, snapshot)
    from botkit.cli import main as botkit_main

    botkit_main(sys.argv[1:])


if __name__ == "__main__":
    main()
