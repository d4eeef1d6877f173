"""Live reload for `botkit serve --reload`: poll the plugin files and bot.yaml, and swap in fresh plugins.

Polling (modification time and size, every half second) needs no dependency and works the same on every
file system, containers' bind mounts included, where change notifications often never arrive. A change
is acted on once the files have stayed the same for one more poll, so an editor's burst of writes is one
reload. The swap itself is `BotProcess.reload`: sessions, their connections and `session.state` stay.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from botkit.config import BotConfig, ConfigError, load_config
from botkit.plugins import PluginLoadError, plugin_sources

if TYPE_CHECKING:
    from botkit.bot import BotProcess

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5
APPLIED_LIVE = frozenset({"plugins", "plugin_config"})
"""bot.yaml keys a reload applies; a change to any other one is only reported, as it needs a restart."""

Signature = dict[Path, tuple[int, int] | None]


class LivePluginConfig(Mapping[str, Any]):
    """bot.yaml's `plugin_config` as every session reads it (a plugin's settings, or its validated `Config`
    model): one shared view, whose mapping a reload replaces whole, so a handler (even one in a thread) sees
    either the old settings or the new, never a mix."""

    def __init__(self, current: Mapping[str, Any]) -> None:
        self._current = current

    def replace(self, new: Mapping[str, Any]) -> None:
        self._current = new

    def __getitem__(self, plugin: str) -> Any:
        return self._current[plugin]

    def __iter__(self) -> Iterator[str]:
        return iter(self._current)

    def __len__(self) -> int:
        return len(self._current)


class Reloader:
    """Watches what `bot` was built from and reloads it on a change, until stopped."""

    def __init__(self, bot: BotProcess, config_path: str | Path, *, poll_seconds: float = POLL_SECONDS) -> None:
        self.bot = bot
        self.config_path = Path(config_path).resolve()
        self.poll_seconds = poll_seconds
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._watch(), name="botkit-reload")
        log.info("reload: watching %d files for changes", len(self.watched()))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def __aenter__(self) -> Reloader:
        self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def watched(self) -> set[Path]:
        config = self.bot.config
        return plugin_sources(config.plugins, config.base_dir) | {self.config_path}

    async def _watch(self) -> None:
        seen = self._signature()
        while True:
            await asyncio.sleep(self.poll_seconds)
            current = self._signature()
            if current == seen:
                continue
            while (settled := await self._after_a_poll()) != current:  # still being written: wait for quiet
                current = settled
            try:
                self.reload()
            except Exception:  # whatever went wrong, the watch goes on: the next save may fix it
                log.exception("reload failed; the running plugins and settings stay")
            # Files the reload brought in start as they are now; the others as they were before it, so an edit
            # saved while it ran is still seen.
            seen = {path: current.get(path, status) for path, status in self._signature().items()}

    async def _after_a_poll(self) -> Signature:
        await asyncio.sleep(self.poll_seconds)
        return self._signature()

    def _signature(self) -> Signature:
        return {path: _stat(path) for path in self.watched()}

    def reload(self) -> bool:
        """Read bot.yaml again and swap in fresh plugins; on any error, log it and keep what runs. True if applied."""
        try:
            config = load_config(self.config_path)
        except ConfigError as error:
            log.error("reload: %s; the running plugins and settings stay", error)
            return False
        except OSError as error:
            log.error("reload: cannot read %s: %s; the running plugins and settings stay", self.config_path, error.strerror)
            return False
        restart = restart_needed(self.bot.config, config)
        try:
            names = self.bot.reload(config)
        except (PluginLoadError, ConfigError) as error:
            log.error("reload: %s; the old plugins keep running", error)
            return False
        log.info("reload: plugins reloaded (%s)", ", ".join(names) or "none")
        if restart:
            log.warning("restart needed for: %s", ", ".join(restart))
        return True


def restart_needed(running: BotConfig, new: BotConfig) -> list[str]:
    """The bot.yaml keys, as dotted paths, that differ and that only a restart applies."""
    changed: list[str] = []
    for name in type(running).model_fields:
        if name not in APPLIED_LIVE:
            changed.extend(_differences(name, getattr(running, name), getattr(new, name)))
    return changed


def _differences(key: str, old: Any, new: Any) -> list[str]:
    if old == new:
        return []
    if isinstance(old, BaseModel) and type(old) is type(new):
        return [
            difference
            for name in type(old).model_fields
            for difference in _differences(f"{key}.{name}", getattr(old, name), getattr(new, name))
        ]
    return [key]


def _stat(path: Path) -> tuple[int, int] | None:
    """Modification time and size: a save within the clock's resolution still changes one of them, mostly."""
    try:
        status = path.stat()
    except OSError:
        return None
    return status.st_mtime_ns, status.st_size
