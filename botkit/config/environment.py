"""`BOTKIT_<SECTION>__<KEY>` environment variables: each overrides one setting of bot.yaml.

As in pydantic-settings, `__` separates the levels and names are case-insensitive: `BOTKIT_SERVER__PORT=9000`
sets `server.port`, `BOTKIT_CONNECT__RETRY__MAX_ATTEMPTS=3` sets `connect.retry.max_attempts`, and
`BOTKIT__STORE=redis://...` the top-level `store`. Values are typed as YAML types a plain scalar. Only names
with `__` are overrides: `BOTKIT_INTAKE_SECRET`, read through `${...}` in bot.yaml, is left alone.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from botkit.config.errors import ConfigError
from botkit.config.models import BotConfig, LoggingConfig, StoreOptions
from botkit.config.yamltree import Loc, Place, label, yaml_scalar

PREFIX = "BOTKIT_"
SEPARATOR = "__"
FREE_FORM = {("plugin_config",)}
"""Where any key may be written: plugins' settings (a plugin's `Config` model checks them later)."""


def overrides(environ: Mapping[str, str], source: str) -> tuple[list[tuple[str, Loc, Any]], list[ConfigError]]:
    """(variable, path, value) for each override in `environ`, sorted by name, and the variables naming no key."""
    found: list[tuple[str, Loc, Any]] = []
    errors: list[ConfigError] = []
    for name in sorted(environ):
        loc = _path(name)
        if loc is None:
            continue
        problem = _unknown(loc)
        if problem is not None:
            errors.append(ConfigError(problem, source=source, key=label(loc), variable=name))
        else:
            found.append((name, loc, yaml_scalar(environ[name])))
    return found, errors


def apply(data: dict[Any, Any], places: dict[Loc, Place], found: list[tuple[str, Loc, Any]]) -> dict[Any, Any]:
    """`data` with the overrides in place, each recorded as set by its variable."""
    for name, loc, value in found:
        data = _set(data, loc, value)
        places[loc] = Place(label(loc), variable=name)
    return data


def _path(name: str) -> Loc | None:
    """`BOTKIT_SERVER__PORT` → ("server", "port"), `BOTKIT__STORE` → ("store",); None for other names."""
    if not name.upper().startswith(PREFIX.rstrip("_")) or SEPARATOR not in name:
        return None
    head, *rest = name.split(SEPARATOR)
    if head.upper() == PREFIX.rstrip("_"):
        parts = rest
    elif head.upper().startswith(PREFIX):
        parts = [head[len(PREFIX) :], *rest]
    else:
        return None
    return tuple(part.lower() for part in parts)


def _unknown(loc: Loc) -> str | None:
    """Why `loc` names no setting, or None when it does."""
    if any(not part for part in loc):
        return "an empty key (three or more underscores in a row?)"
    model: type[BaseModel] | None = BotConfig
    for depth, part in enumerate(loc):
        if loc[:depth] in FREE_FORM or (model is LoggingConfig and part not in model.model_fields):
            return None
        if model is None:
            return f"{label(loc[:depth])} has no keys"
        names = [field for field in model.model_fields if not (model is LoggingConfig and field == "extras")]
        if part not in names:
            close = difflib.get_close_matches(part, names, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"expected one of: {', '.join(names)}"
            return f"unknown key {part!r} ({hint})"
        model = _submodel(model, part)
    return None


def _submodel(model: type[BaseModel], field: str) -> type[BaseModel] | None:
    if model is BotConfig and field == "store":
        return StoreOptions
    annotation = model.model_fields[field].annotation
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def _set(data: Any, loc: Loc, value: Any, at: Loc = ()) -> dict[Any, Any]:
    """A copy of `data` along `loc` (YAML aliases may share what lies there) with `value` at its end."""
    if at == ("store",) and isinstance(data, str):
        data = {"url": data}  # `store: <url>` written short, with a key of its long form overridden
    copy = dict(data) if isinstance(data, Mapping) else {}
    key, rest = loc[0], loc[1:]
    copy[key] = _set(copy.get(key), rest, value, (*at, key)) if rest else value
    return copy
