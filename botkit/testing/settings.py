"""The bot.yaml of a bot under test: the test's settings over a file's (if any) over a base made for tests.

Whatever the sources say, the bot gets an embedded emulator, and both listen on free loopback ports,
so tests run side by side and never reach beyond 127.0.0.1.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from botkit.config import BotConfig, ConfigError, load_config, parse_config

TEST_BASE: Mapping[str, Any] = {
    "receipts": {"throttle_seconds": 0},
    "runtime": {"shutdown_grace_seconds": 2},
}
"""Receipts at once (a test never waits for a throttle); a stuck handler holds teardown 2 s, not 20."""

LOOPBACK = "127.0.0.1"


def build_config(settings: Mapping[str, Any], *, config: str | os.PathLike[str] | None, rootdir: Path) -> BotConfig:
    """Merge, force the test's network, and check the result as `botkit check` would.

    Plugin and fault paths are made absolute: those of the file from its directory (as `botkit serve`
    reads them), those given by the test from `rootdir`.
    """
    data: dict[str, Any] = copy.deepcopy(dict(TEST_BASE))
    path: Path | None = None
    if config is not None:
        path = (rootdir / config).resolve()
        data = merged(data, _anchored(_read_mapping(path), path.parent))
    data = merged(data, _anchored(dict(settings), rootdir))
    _force_test_network(data)
    source = f"botkit_bot settings over {path}" if path else "botkit_bot settings"
    try:
        return parse_config(yaml.safe_dump(data, sort_keys=False), source)
    except ConfigError:
        if path is not None:
            load_config(path)  # a mistake in the file itself is reported with the file's own lines
        raise


def merged(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """`over` on `base`: mappings merge key by key, anything else (lists included) replaces."""
    result = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(result.get(key), Mapping):
            result[key] = merged(dict(result[key]), value)
        else:
            result[key] = copy.deepcopy(value) if isinstance(value, dict | list) else value
    return result


def _read_mapping(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        load_config(path)  # reports the syntax error with its line
        raise
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError("a bot.yaml must be a mapping of sections", source=str(path))
    return data


def _anchored(data: dict[str, Any], base: Path) -> dict[str, Any]:
    """Relative plugin files and the fault file, made absolute from `base`; module names stay as they are."""
    plugins = data.get("plugins")
    if isinstance(plugins, list | tuple):
        data = {**data, "plugins": [_absolute(spec, base) if isinstance(spec, str) else spec for spec in plugins]}
    emulator = data.get("emulator")
    if isinstance(emulator, Mapping) and isinstance(emulator.get("faults"), str):
        data = {**data, "emulator": {**emulator, "faults": str((base / emulator["faults"]).resolve())}}
    return data


def _absolute(spec: str, base: Path) -> str:
    """The same test as the plugin loader's: a `.py` name, a slash or a leading dot mean a path."""
    if spec.endswith(".py") or "/" in spec or spec.startswith("."):
        return str((base / spec).resolve())
    return spec


def _force_test_network(data: dict[str, Any]) -> None:
    """An embedded emulator (only `connect.retry` is kept), free ports, loopback, no public URL."""
    connect = data.get("connect")
    retry = connect.get("retry") if isinstance(connect, Mapping) else None
    data["connect"] = {"endpoint": "embedded", **({"retry": retry} if retry is not None else {})}
    emulator = data.get("emulator") if isinstance(data.get("emulator"), Mapping) else {}
    data["emulator"] = {**emulator, "host": LOOPBACK, "port": 0}
    server = data.get("server") if isinstance(data.get("server"), Mapping) else {}
    data["server"] = {key: value for key, value in server.items() if key != "public_url"} | {
        "host": LOOPBACK,
        "port": 0,
    }
