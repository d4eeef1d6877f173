"""Benchmark plugin: a plain (synchronous) handler, so botkit runs it in its handler thread pool.

    plugins: [benchmarks/plugins/sync_echo.py]
    plugin_config:
      sync_echo: {prefix: "echo: ", block_ms: 50}

`block_ms` blocks the thread (time.sleep) the way a blocking client library would;
0 measures the cost of the thread hand-off alone. With `runtime.handler_threads`
threads (16 by default) and B ms per message, throughput cannot pass
threads × 1000 / B messages per second.
"""

from __future__ import annotations

import time

from botkit import Item, Session, hookimpl


@hookimpl
def on_message(session: Session, message: Item) -> None:
    if message.content_type != "text/plain" or not message.content:
        return
    config = session.plugin_config("sync_echo")
    block_ms = float(config.get("block_ms", 50))
    if block_ms > 0:
        time.sleep(block_ms / 1000)
    session.blocking.send_message(f"{config.get('prefix', 'echo: ')}{message.content}")
