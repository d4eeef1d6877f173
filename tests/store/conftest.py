"""Stores to test: memory, SQLite on a temporary file, and the real Redis on 127.0.0.1.

The Redis is the one at 127.0.0.1:6379 when it answers (`.ci/run` starts it), else a redis-server this session
starts on a free port and stops at the end. Each test gets its own key prefix there, removed afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis

from botkit.store import MemoryStore, SqliteStore, Store
from botkit.store.redis_store import RedisStore
from tests.store.redis_server import RedisServer, answers


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if answers("127.0.0.1", 6379):
        yield "redis://127.0.0.1:6379/0"
        return
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    try:
        yield server.url
    finally:
        server.stop()


class Backend:
    """One store's data, and how to open another client on it (another worker, as far as the store can tell)."""

    def __init__(self, kind: str, tmp_path: Path, redis_url: str) -> None:
        self.kind = kind
        self.path = tmp_path / "sessions.db"
        self.redis_url = redis_url
        self.prefix = f"test:{uuid.uuid4().hex}:"
        self._memory: dict[float, MemoryStore] = {}
        self._opened: list[Store] = []

    def open(self, lease_seconds: float = 10.0) -> Store:
        store: Store
        if self.kind == "memory":  # one process: every "worker" shares the one store
            store = self._memory.setdefault(lease_seconds, MemoryStore(lease_seconds))
        elif self.kind == "sqlite":
            store = SqliteStore(self.path, lease_seconds)
        else:
            store = RedisStore(self.redis_url, lease_seconds, prefix=self.prefix)
        self._opened.append(store)
        return store

    async def close(self) -> None:
        for store in self._opened:
            await store.close()
        if self.kind == "redis":
            client = redis.Redis.from_url(self.redis_url)
            try:
                keys = list(client.scan_iter(match=f"{self.prefix}*", count=1000))
                if keys:
                    client.delete(*keys)
            finally:
                client.close()


@pytest.fixture(params=["memory", "sqlite", "redis"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    url = request.getfixturevalue("redis_url") if request.param == "redis" else ""
    opened = Backend(request.param, tmp_path, url)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
def store(backend: Backend) -> Store:
    return backend.open()
