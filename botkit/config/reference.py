"""bot.yaml described from its models: the JSON Schema editors validate against (`botkit schema`), and the
configuration reference, docs/configuration.md (`botkit schema --markdown`)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any, get_args

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from botkit.config.environment import PREFIX, SEPARATOR
from botkit.config.models import BotConfig, LoggingConfig, Section, StoreOptions
from botkit.config.types import Expect
from botkit.store.settings import StoreSettings

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
ENV_REFERENCE = {
    "type": "string",
    "pattern": r"^\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\}$",
    "description": "An environment variable, substituted when bot.yaml is read: ${NAME} or ${NAME:-default}.",
}
_SCALAR_TYPES = {"integer", "number", "boolean"}


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of bot.yaml as written: a `${NAME}` reference may stand for any scalar."""
    schema = BotConfig.model_json_schema()
    schema = _with_references(schema)
    schema.setdefault("$defs", {})["EnvReference"] = ENV_REFERENCE
    return {"$schema": SCHEMA_DIALECT, "title": "bot.yaml", **{k: v for k, v in schema.items() if k != "title"}}


def json_schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"


def _with_references(node: Any) -> Any:
    """Every non-string scalar (and every enum) also accepts a `${...}` reference, as bot.yaml does."""
    if isinstance(node, list):
        return [_with_references(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _with_references(value) for key, value in node.items()}
    if node.get("type") in _SCALAR_TYPES or "enum" in node or "const" in node:
        outer = {key: node.pop(key) for key in ("title", "description", "default") if key in node}
        return {**outer, "anyOf": [node, {"$ref": "#/$defs/EnvReference"}]}
    return node


# The reference.

_INTRO = """\
# Configuration reference

<!-- Generated from the models in botkit/config/models.py by `botkit schema --markdown`; do not edit by hand.
     tests/test_config_reference.py fails when this file is out of date. -->

A bot is configured by one YAML file, `bot.yaml`. Every key is optional; an empty file is a bot with the
defaults below. `botkit check bot.yaml` validates a file and reports every problem at once, each with its
key and line.

## Environment variables

- **`${NAME}`** in a value is replaced by the environment variable `NAME` when the file is read;
  `${NAME:-default}` gives a default for when it is unset or empty, and `$${` writes a literal `${`.
  A reference that makes up the whole value is typed as YAML types it (`${PORT}` with `PORT=8080` is
  the number 8080); inside a longer value it is text. Keys are never substituted.
- **`BOTKIT_<SECTION>__<KEY>`** overrides one setting, whatever the file says (the convention of
  pydantic-settings): `__` separates the levels, names are case-insensitive, and the value is typed as a
  YAML scalar. `BOTKIT_SERVER__PORT=9000` sets `server.port`; `BOTKIT_CONNECT__RETRY__MAX_ATTEMPTS=3`
  sets `connect.retry.max_attempts`; a top-level key has an empty section, `BOTKIT__STORE=redis://...`;
  plugins' settings work too, `BOTKIT_PLUGIN_CONFIG__FAQ__GREETING=Hello`. An override that names no
  setting is an error naming the variable, and so is a bad value it sets. Only names containing `__` are
  overrides: others, such as `BOTKIT_INTAKE_SECRET` (read through `${BOTKIT_INTAKE_SECRET}`), are left alone.

## Editor support

`botkit schema > bot.schema.json` writes the JSON Schema of this file. With the YAML language server
(VS Code's YAML extension, and others), put this first line in bot.yaml:

```yaml
# yaml-language-server: $schema=./bot.schema.json
```

## Plugins' settings

A plugin may declare its settings as a pydantic model named `Config` in its module. Its `plugin_config`
entry is then validated when the bot starts (and by `botkit check`), a mistake is reported with the
plugin's key and line, and `session.plugin_config(name)` returns the model instead of a mapping.
"""


def markdown() -> str:
    """docs/configuration.md: every key with its type, default, description and environment variable."""
    lines = [_INTRO, "## Top-level keys", "", *_table(BotConfig, ())]
    for loc, model in _sections(BotConfig, ()):
        lines += ["", f"## `{'.'.join(loc)}`", "", _docstring(model), "", *_table(model, loc)]
        if model is LoggingConfig:
            lines += ["", "Any other key under `logging` is kept in `extras`, for logging plugins to read."]
    return "\n".join(lines) + "\n"


def keys(model: type[BaseModel] = BotConfig, loc: tuple[str, ...] = ()) -> Iterator[str]:
    """Every key bot.yaml may set, dotted: what the reference must describe."""
    for name, info in _documented(model):
        yield ".".join((*loc, name))
        sub = _submodel(model, name, info)
        if sub is not None:
            yield from keys(sub, (*loc, name))


def _sections(model: type[BaseModel], loc: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], type[BaseModel]]]:
    for name, info in _documented(model):
        sub = _submodel(model, name, info)
        if sub is not None:
            yield (*loc, name), sub
            yield from _sections(sub, (*loc, name))


def _documented(model: type[BaseModel]) -> Iterator[tuple[str, FieldInfo]]:
    for name, info in model.model_fields.items():
        if (model, name) != (LoggingConfig, "extras"):
            yield name, info


def _submodel(model: type[BaseModel], name: str, info: FieldInfo) -> type[BaseModel] | None:
    if model is BotConfig and name == "store":
        return StoreOptions
    annotation = info.annotation
    return annotation if isinstance(annotation, type) and issubclass(annotation, Section) else None


def _table(model: type[BaseModel], loc: tuple[str, ...]) -> list[str]:
    rows = ["| key | type | default | description | environment variable |", "|---|---|---|---|---|"]
    for name, info in _documented(model):
        key = ".".join((*loc, name))
        variable = (PREFIX + SEPARATOR.join(loc) if loc else PREFIX.rstrip("_")) + SEPARATOR + name
        cells = [f"`{key}`", _type(model, name, info), _default(model, name, info), info.description or "", f"`{variable.upper()}`"]
        rows.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return rows


def _type(model: type[BaseModel], name: str, info: FieldInfo) -> str:
    for item in info.metadata:
        if isinstance(item, Expect):
            return item.says
    if _submodel(model, name, info) is not None:
        return f"a mapping (see `{name}` below)" if model is BotConfig else "a mapping (below)"
    for item in get_args(info.annotation):
        for meta in getattr(item, "__metadata__", ()):
            if isinstance(meta, Expect):
                return meta.says
    return str(info.annotation)


def _default(model: type[BaseModel], name: str, info: FieldInfo) -> str:
    extra = model.model_config.get("json_schema_extra")
    if info.is_required() or (isinstance(extra, dict) and name in extra.get("required", ())):
        return "required"
    value = info.get_default(call_default_factory=True)
    return "see below" if isinstance(value, BaseModel) else f"`{_yaml(value)}`"


def _yaml(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, StoreSettings):
        return value.url
    if isinstance(value, Mapping):
        return "{}" if not value else json.dumps(dict(value))
    if isinstance(value, tuple | list):
        return "[]" if not value else json.dumps(list(value))
    return str(value)


def _docstring(model: type[BaseModel]) -> str:
    return " ".join((model.__doc__ or "").split("\n\n")[0].split())
