"""The `store` key of bot.yaml, and open_store: each form gives its store; each mistake names key and line."""

from __future__ import annotations

import textwrap
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from botkit.config import ConfigError, StoreSettings, parse_config
from botkit.store import MemoryStore, SqliteStore, open_store
from botkit.store.redis_store import RedisStore


def parse(text: str) -> StoreSettings:
    return parse_config(textwrap.dedent(text), "bot.yaml", {}).store


def problem(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        parse(text)
    return caught.value


def test_the_default_store_is_memory() -> None:
    assert parse("") == StoreSettings("memory", 10.0)
    assert parse("store: ~") == StoreSettings("memory", 10.0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("store: memory", StoreSettings("memory")),
        ("store: sqlite:///var/lib/botkit/sessions.db", StoreSettings("sqlite:///var/lib/botkit/sessions.db")),
        ("store: redis://127.0.0.1:6379/0", StoreSettings("redis://127.0.0.1:6379/0")),
        ("store: {url: 'redis://127.0.0.1:6379/0', lease_seconds: 10}", StoreSettings("redis://127.0.0.1:6379/0", 10)),
        ("store:\n  url: redis://127.0.0.1/2\n  lease_seconds: 2.5\n  prefix: 'bot-a:'",
         StoreSettings("redis://127.0.0.1/2", 2.5, "bot-a:")),
    ],
)
def test_each_form_of_the_store_key(text: str, expected: StoreSettings) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "line", "key", "reason"),
    [
        ("store: mongodb://127.0.0.1", 1, "store", "the scheme must be sqlite, redis or rediss, not 'mongodb'"),
        ("store: sqlite://", 1, "store", "a sqlite URL names a file"),
        ("store: redis://127.0.0.1/zero", 1, "store", "the redis database is a number"),
        ("store: 42", 1, "store", "must be memory, sqlite:///path/to/file.db or redis://host:port/db, got 42"),
        ("runtime: {}\nstore:\n  url: memory\n  lease_seconds: 0", 4, "store.lease_seconds", "must be a number > 0"),
        ("store:\n  url: memory\n  lease_secs: 3", 3, "store.lease_secs", "did you mean 'lease_seconds'?"),
        ("store:\n  lease_seconds: 3", 2, "store.url", "is required in the long form"),
        ("store: [redis]", 1, "store", "got a list"),
    ],
)
def test_a_store_mistake_names_key_and_line(text: str, line: int, key: str, reason: str) -> None:
    error = problem(text)

    assert (error.line, error.key) == (line, key)
    assert reason in error.reason


def test_a_password_in_a_store_url_never_shows() -> None:
    error = problem("store: redis://:hunter2@127.0.0.1:0/0")

    assert "hunter2" not in str(error) and "****" in str(error)
    assert "hunter2" not in repr(StoreSettings("redis://:hunter2@127.0.0.1:6379/0"))


def test_open_store_gives_the_store_each_form_names(tmp_path: Path) -> None:
    assert isinstance(open_store("memory"), MemoryStore)
    assert open_store(StoreSettings("memory", 3)).lease_seconds == 3
    absolute = open_store(f"sqlite://{tmp_path}/a.db")
    relative = open_store("sqlite:data/b.db", base_dir=tmp_path)
    assert isinstance(absolute, SqliteStore) and absolute.path == tmp_path / "a.db"
    assert isinstance(relative, SqliteStore) and relative.path == tmp_path / "data" / "b.db"
    redis_store = open_store({"url": "redis://127.0.0.1:6379/0", "lease_seconds": 4, "prefix": "x:"})
    assert isinstance(redis_store, RedisStore) and (redis_store.lease_seconds, redis_store.prefix) == (4, "x:")
    with pytest.raises(ValueError, match="scheme"):
        open_store("postgres://127.0.0.1/db")


def test_redis_is_a_core_dependency_so_a_plain_install_can_use_it() -> None:
    project = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())["project"]
    assert "redis" in {Requirement(text).name for text in project["dependencies"]}
    assert "redis" not in project.get("optional-dependencies", {})
