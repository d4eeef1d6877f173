"""parse_config and load_config: bot.yaml's text to a checked BotConfig, every problem pointed at its place.

The order: YAML nodes (with `${ENV}` substituted) → plain data and the line of every value → environment
overrides → pydantic → each error's `loc` mapped back to a key and a line (or the variable that set it).
A plugin's own `Config` model checks its `plugin_config` entry the same way, once the plugins are loaded.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from pydantic import BaseModel, ValidationError

from botkit.config.environment import apply, overrides
from botkit.config.errors import ConfigError, combined
from botkit.config.models import BotConfig, LoggingConfig, PluginSettings, StoreOptions
from botkit.config.types import EXPECTED
from botkit.config.yamltree import Loc, Place, describe, label, read_document

_MAPPING_ERRORS = {"model_type", "model_attributes_type", "dict_type", "mapping_type"}


def parse_config(text: str, source: str = "<string>", environ: Mapping[str, str] | None = None) -> BotConfig:
    """Check bot.yaml text; `source` names it in errors. `environ` (os.environ by default) supplies `${NAME}`
    references and `BOTKIT_<SECTION>__<KEY>` overrides. Raises ConfigError listing every problem found."""
    environ = os.environ if environ is None else environ
    data, places, errors = read_document(text, source, environ)
    found, unknown = overrides(environ, source)
    errors += unknown
    data = apply(data, places, found)
    try:
        config = BotConfig.model_validate(data, context={"places": places, "source": source})
    except ValidationError as error:
        errors += config_errors(error, BotConfig, places, source)
        config = BotConfig()
    if errors:
        raise combined(errors)
    return config


def load_config(path: str | os.PathLike[str], environ: Mapping[str, str] | None = None) -> BotConfig:
    """Read and check a bot.yaml; its `source` is then set, so `base_dir` is the file's directory.

    A file that cannot be opened raises OSError, as open() does; a file that is not UTF-8 raises ConfigError.
    """
    name = os.fspath(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(f"cannot read the file: not UTF-8 ({error.reason})", source=name) from error
    return parse_config(text, name, environ).from_file(Path(path).resolve())


def plugin_settings(config: BotConfig, models: Mapping[str, type[BaseModel]]) -> Mapping[str, Any]:
    """`plugin_config` with each entry of a plugin that has a `Config` model replaced by the validated model.

    Raises ConfigError naming the plugin's key (`plugin_config.<plugin>.<key>`) and its line, for every problem.
    """
    settings: dict[str, Any] = dict(config.plugin_config)
    errors: list[ConfigError] = []
    for name, model in models.items():
        entry = config.plugin_config.get(name) or PluginSettings({})
        try:
            settings[name] = model.model_validate(dict(entry))
        except ValidationError as error:
            prefix = ("plugin_config", name)
            places = {(*prefix, *loc): place for loc, place in entry.places.items()}
            source = entry.source or (str(config.source) if config.source else "<string>")
            errors += config_errors(error, model, places, source, prefix=prefix)
    if errors:
        raise combined(errors)
    return MappingProxyType(settings)


def config_errors(
    error: ValidationError, model: type[BaseModel], places: Mapping[Loc, Place], source: str, *, prefix: Loc = ()
) -> list[ConfigError]:
    """One ConfigError per pydantic error: its key, its line (or variable), and what was expected."""
    found = []
    for detail in error.errors(include_url=False):
        loc = tuple(part for part in detail["loc"] if part != "[key]")
        kind = detail["type"]
        if kind == "extra_forbidden":
            reason = _unknown_key(model, loc)
        elif kind == EXPECTED:
            reason = detail["msg"]
        elif kind in _MAPPING_ERRORS:
            reason = f"must be a mapping, got {describe(detail['input'])}"
        elif kind == "missing":
            reason = "is required"
        else:  # a plugin's own model: pydantic's words, and never the value (it may be a secret)
            reason = detail["msg"][:1].lower() + detail["msg"][1:]
        full = (*prefix, *loc)
        place = _nearest(places, full)
        exact = place is not None and places.get(full) is place
        found.append(_placed(reason, source, place, exact=exact, of_key=kind == "extra_forbidden", key=label(full)))
    return found


def _placed(reason: str, source: str, place: Place | None, *, exact: bool, of_key: bool, key: str) -> ConfigError:
    """An unknown key is pointed at by its key's line; anything else by its value's (or its section's)."""
    if place is None:
        return ConfigError(reason, source=source, key=key or None)
    if place.variable is not None:
        return ConfigError(reason, source=source, key=place.label if exact else key, variable=place.variable)
    line = (place.key_line if exact and of_key else None) or place.line
    return ConfigError(reason, source=source, line=line, key=(place.label if exact else key) or None)


def _nearest(places: Mapping[Loc, Place], loc: Loc) -> Place | None:
    """The place of `loc`, or of the nearest enclosing value that has one (a missing key: its section)."""
    for end in range(len(loc), -1, -1):
        if (place := places.get(loc[:end])) is not None:
            return place
    return None


def _unknown_key(model: type[BaseModel], loc: Loc) -> str:
    key = loc[-1]
    names = _keys(_model_at(model, loc[:-1]))
    close = difflib.get_close_matches(str(key), names, n=1)
    if close:
        return f"unknown key {key!r} (did you mean {close[0]!r}?)"
    return f"unknown key {key!r} (expected one of: {', '.join(names)})" if names else f"unknown key {key!r}"


def _model_at(model: type[BaseModel] | None, loc: Loc) -> type[BaseModel] | None:
    for part in loc:
        if model is None or part not in model.model_fields:
            return None
        if model is BotConfig and part == "store":
            model = StoreOptions
            continue
        annotation = model.model_fields[part].annotation
        model = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
    return model


def _keys(model: type[BaseModel] | None) -> list[str]:
    if model is None:
        return []
    return [info.alias or name for name, info in model.model_fields.items() if (model, name) != (LoggingConfig, "extras")]
