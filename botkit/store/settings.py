"""Which store bot.yaml chose: its URL, checked here so that bot.yaml's errors and `open_store` agree.

    memory                          the default: this process only, as before stores existed
    sqlite:///var/lib/botkit/s.db   an absolute path;  sqlite:sessions.db  a path relative to bot.yaml
    redis://host:6379/0             rediss:// for TLS; a password may be written as redis://:password@host
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from botkit.store.base import DEFAULT_LEASE_SECONDS

__all__ = ["STORE_URL_FORMS", "StoreSettings", "url_problem", "without_password"]

STORE_URL_FORMS = "memory, sqlite:///path/to/file.db or redis://host:port/db"
DEFAULT_PREFIX = "botkit:"


def without_password(url: str) -> str:
    """The URL as errors and `botkit check` show it: a password written into it is masked."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{user}:****@{host}"))


def url_problem(url: str) -> str | None:
    """Why `url` names no store (a phrase that follows "must be ..., "), or None when it is fine."""
    if url == "memory":
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "the port is not a number from 0 to 65535"
    if parts.scheme == "sqlite":
        if parts.netloc or not parts.path or parts.path.endswith("/"):
            return "a sqlite URL names a file: sqlite:///absolute/path.db or sqlite:relative/path.db"
        return None
    if parts.scheme in ("redis", "rediss"):
        if not parts.hostname or port == 0:
            return "a redis URL names a host: redis://host:port/db"
        database = parts.path.lstrip("/")
        if database and not database.isdigit():
            return "the redis database is a number: redis://host:port/0"
        return None
    return f"the scheme must be sqlite, redis or rediss, not {parts.scheme!r}" if parts.scheme else "not a URL"


@dataclass(frozen=True, slots=True)
class StoreSettings:
    """The `store` key of bot.yaml: the store's URL, the lease length, and (Redis) the prefix of every key,
    so that several bots can share one Redis."""

    url: str = "memory"
    lease_seconds: float = DEFAULT_LEASE_SECONDS
    prefix: str = DEFAULT_PREFIX

    def __post_init__(self) -> None:
        if (problem := url_problem(self.url)) is not None:
            raise ValueError(f"store URL {without_password(self.url)!r}: {problem}")
        if not self.lease_seconds > 0:
            raise ValueError(f"lease_seconds must be > 0, got {self.lease_seconds}")

    def __repr__(self) -> str:
        return (
            f"StoreSettings(url={without_password(self.url)!r}, lease_seconds={self.lease_seconds!r},"
            f" prefix={self.prefix!r})"
        )

    @property
    def kind(self) -> str:
        """memory, sqlite or redis."""
        scheme = urlsplit(self.url).scheme
        return "redis" if scheme == "rediss" else scheme or "memory"

    def sqlite_path(self, base_dir: Path) -> Path:
        """The SQLite file: an absolute path as written, a relative one from `base_dir` (bot.yaml's directory)."""
        path = Path(urlsplit(self.url).path)
        return path if path.is_absolute() else base_dir / path
