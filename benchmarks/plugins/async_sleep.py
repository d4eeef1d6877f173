"""Benchmark plugin: awaits a pause (50 ms by default) before echoing, like a handler calling a slow service.

    plugins: [benchmarks/plugins/async_sleep.py]
    plugin_config:
      async_sleep: {prefix: "echo: ", delay_ms: 50}

While one message of a contact waits, other contacts go on: the pause costs no thread.
"""

from __future__ import annotations

import asyncio

from botkit import Item, Session, hookimpl


@hookimpl
async def on_message(session: Session, message: Item) -> None:
    if message.content_type != "text/plain" or not message.content:
        return
    config = session.plugin_config("async_sleep")
    await asyncio.sleep(float(config.get("delay_ms", 50)) / 1000)
    await session.send_message(f"{config.get('prefix', 'echo: ')}{message.content}")
