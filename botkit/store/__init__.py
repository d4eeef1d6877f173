"""Where a session's durable facts live: one interface, with memory, SQLite and Redis behind it.

`open_store(bot.yaml's store setting)` gives the one bot.yaml asks for; the Store class documents how the
runtime uses it (leases, fencing, the work queue of new contacts). RedisStore is imported only when asked for,
so a bot on memory or SQLite does not pay for loading redis-py.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from botkit.store.base import DEFAULT_LEASE_SECONDS, Fenced, Lease, Offer, Store, StoreError, WorkerInfo
from botkit.store.memory_store import MemoryStore
from botkit.store.record import RECENT_IDS_KEPT, ContactRecord, RecordError, UnsavableState, encode_state
from botkit.store.settings import StoreSettings, url_problem, without_password
from botkit.store.sqlite_store import SqliteStore

__all__ = [
    "DEFAULT_LEASE_SECONDS",
    "RECENT_IDS_KEPT",
    "ContactRecord",
    "Fenced",
    "Lease",
    "MemoryStore",
    "Offer",
    "RecordError",
    "SqliteStore",
    "Store",
    "StoreError",
    "StoreSettings",
    "UnsavableState",
    "WorkerInfo",
    "encode_state",
    "open_store",
    "url_problem",
    "without_password",
]


def open_store(setting: str | Mapping[str, Any] | StoreSettings, *, base_dir: Path | None = None) -> Store:
    """The store a bot.yaml `store` value names: a URL, the long form {url, lease_seconds, prefix}, or the parsed
    StoreSettings. A relative SQLite path starts at `base_dir` (default: the working directory). Opening makes no
    connection yet; the first call does, so a store that is down shows as that call's error."""
    if isinstance(setting, str):
        settings = StoreSettings(setting)
    elif isinstance(setting, Mapping):
        settings = StoreSettings(**setting)
    else:
        settings = setting
    if settings.kind == "memory":
        return MemoryStore(settings.lease_seconds)
    if settings.kind == "sqlite":
        return SqliteStore(settings.sqlite_path(base_dir or Path.cwd()), settings.lease_seconds)
    from botkit.store.redis_store import RedisStore

    return RedisStore(settings.url, settings.lease_seconds, prefix=settings.prefix)
