"""bot.yaml: read it, substitute `${ENV}` references, check every setting, and hand back frozen dataclasses.

Every problem in a file is reported at once, each with its line and dotted key, so one round of edits
fixes them all.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

import yaml

from botkit.connect.endpoints import is_aws_host
from botkit.connect.secrets import Secret
from botkit.store.settings import STORE_URL_FORMS, StoreSettings, url_problem, without_password

__all__ = [
    "BotConfig",
    "ConfigError",
    "ConnectConfig",
    "EmulatorSettings",
    "IntakeConfig",
    "LoggingConfig",
    "ReceiptsConfig",
    "RetryConfig",
    "RuntimeConfig",
    "ServerConfig",
    "StoreSettings",
    "StreamingConfig",
    "TypingConfig",
    "load_config",
    "parse_config",
]

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("text", "json")

_NULL_TAG = "tag:yaml.org,2002:null"
_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MERGE_TAG = "tag:yaml.org,2002:merge"

_REFERENCE = re.compile(r"\$\$\{|\$\{(?:(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\})?")
"""`$${` (a literal `${`), `${NAME}` or `${NAME:-default}`; a `${` that starts neither leaves `name` unset."""

_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d+")
_INSTANCE_ID = re.compile(r"[A-Za-z0-9-]{1,100}")
_MODULE_NAME = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")
_SNS_TOPIC_ARN = re.compile(r"arn:aws(-[a-z]+)*:sns:[a-z]{2}(-[a-z]+)+-\d+:\d{12}:[A-Za-z0-9_-]{1,256}")
_HOST_NAME = re.compile(r"(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*")
_ROUTE_PATH = re.compile(r"/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*")
RESERVED_PATHS = frozenset({"/contact-flow", "/contacts", "/metrics", "/livez", "/readyz"})
"""The intake's other routes: the SNS route may take none of them."""
TRANSPORTS = ("websocket", "streaming")


class ConfigError(ValueError):
    """What is wrong with a bot.yaml and where; `errors` lists every problem found (just this one, if alone)."""

    def __init__(
        self, reason: str, *, source: str = "<string>", line: int | None = None, key: str | None = None
    ) -> None:
        super().__init__(reason)
        self.source = source
        self.line = line
        self.key = key
        self.reason = reason
        self.errors: list[ConfigError] = [self]

    def __str__(self) -> str:
        if self.errors[0] is not self:
            return "\n".join([f"{self.source}: {self.reason}", *(f"  {error}" for error in self.errors)])
        place = self.source if self.line is None else f"{self.source}:{self.line}"
        return f"{place}: {self.key}: {self.reason}" if self.key else f"{place}: {self.reason}"


def _combined(errors: list[ConfigError]) -> ConfigError:
    """One exception for several problems, so the caller needs a single `except ConfigError`."""
    if len(errors) == 1:
        return errors[0]
    error = ConfigError(f"{len(errors)} problems", source=errors[0].source)
    error.errors = errors
    return error


# Settings: each field bot.yaml may set carries, in its metadata, how to read it from its YAML node.

_Parse = Callable[["_Validator", yaml.Node, str], Any]


@dataclass(frozen=True, slots=True)
class _Rule:
    """What a scalar setting must be (`says` reads after "must be"), and how to normalise a value that passes."""

    says: str
    test: Callable[[Any], bool]
    convert: Callable[[Any], Any] = lambda value: value


def _setting(default: Any, rule: _Rule) -> Any:
    return field(default=default, metadata={"parse": lambda validator, node, path: validator.checked(node, path, rule)})


def _section(cls: type, *, extras: bool = False) -> Any:
    return field(
        default_factory=cls,
        metadata={"parse": lambda validator, node, path: validator.section(node, path, cls, extras=extras)},
    )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


def _integer(low: int, high: int | None = None) -> _Rule:
    says = f"an integer >= {low}" if high is None else f"an integer from {low} to {high}"
    return _Rule(says, lambda value: _is_int(value) and value >= low and (high is None or value <= high))


def _number(low: float, *, inclusive: bool) -> _Rule:
    says = f"a number {'>=' if inclusive else '>'} {low:g}"
    return _Rule(says, lambda value: _is_number(value) and (value >= low if inclusive else value > low), float)


def _choice(options: tuple[str, ...]) -> _Rule:
    """Case-insensitive, normalised to the spelling in `options`."""
    by_folded = {option.casefold(): option for option in options}
    return _Rule(
        f"one of {', '.join(options)}",
        lambda value: isinstance(value, str) and value.casefold() in by_folded,
        lambda value: by_folded[value.casefold()],
    )


def _optional(rule: _Rule) -> _Rule:
    return _Rule(
        f"{rule.says}, or null",
        lambda value: value is None or rule.test(value),
        lambda value: None if value is None else rule.convert(value),
    )


def _is_http_url(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        parts = urlsplit(value)
        port = parts.port  # raises ValueError unless the port is a number from 0 to 65535
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and port != 0


def _is_aws(endpoint: str) -> bool:
    """Real AWS, by the parsed host's partition suffix: region and instance are then required."""
    return is_aws_host(endpoint)


def _is_plugin_spec(value: Any) -> bool:
    """What plugins.load_plugins can resolve: a dotted module name, a .py file or a directory."""
    if not isinstance(value, str) or not value.strip():
        return False
    looks_like_path = value.endswith(".py") or "/" in value or value.startswith(".")
    return looks_like_path or _MODULE_NAME.fullmatch(value) is not None


_BOOLEAN = _Rule("true or false", lambda value: isinstance(value, bool))
_PORT = _integer(0, 65535)
_HOST = _Rule("a host name or address", lambda value: isinstance(value, str) and bool(value.strip()))
_PATH = _Rule("a file path", lambda value: isinstance(value, str) and bool(value.strip()))
_ENDPOINT = _Rule("'embedded' or an http(s) URL", lambda value: value == "embedded" or _is_http_url(value))
_REGION_NAME = _Rule(
    "an AWS region such as us-east-1", lambda value: isinstance(value, str) and _REGION.fullmatch(value) is not None
)
_INSTANCE = _Rule(
    "an Amazon Connect instance id (the last part of the instance ARN)",
    lambda value: isinstance(value, str) and _INSTANCE_ID.fullmatch(value) is not None,
)
_PROFILE = _Rule(
    "a profile name from the AWS shared config", lambda value: isinstance(value, str) and bool(value.strip())
)
_PLUGIN = _Rule("a module name (a.b.c), a .py file or a directory", _is_plugin_spec)


@dataclass(frozen=True, slots=True)
class RetryConfig:
    """How the participant client retries failed calls to Connect (see botkit.connect.RetryPolicy)."""

    max_attempts: int = _setting(5, _integer(1))
    base_delay: float = _setting(0.1, _number(0, inclusive=False))
    max_delay: float = _setting(5.0, _number(0, inclusive=False))


CREDENTIAL_MODES = ("auto", "aws")


@dataclass(frozen=True, slots=True)
class ConnectConfig:
    """Where Amazon Connect lives (the in-process emulator, another emulator, or AWS) and how the bot signs its calls.

    `endpoint` is the Participant Service's URL, `control_endpoint` the `connect` API's. With `credentials: auto`,
    an AWS endpoint means botocore's credentials and anything else an emulator; `aws` signs every `connect` call
    with botocore's credentials whatever the host (VPC endpoints, proxies, an emulator checking SigV4).
    """

    endpoint: str = _setting("embedded", _ENDPOINT)
    region: str | None = _setting(None, _optional(_REGION_NAME))
    instance_id: str | None = _setting(None, _optional(_INSTANCE))
    retry: RetryConfig = _section(RetryConfig)
    credentials: str = _setting("auto", _choice(CREDENTIAL_MODES))
    control_endpoint: str | None = _setting(None, _optional(_Rule("an http(s) URL", _is_http_url)))
    profile: str | None = _setting(None, _optional(_PROFILE))

    @property
    def embedded(self) -> bool:
        """True when botkit should start the emulator in-process rather than call a URL."""
        return self.endpoint == "embedded"

    @property
    def uses_aws(self) -> bool:
        """True when the bot signs with real AWS credentials and never calls an emulator's own API."""
        return self.credentials == "aws" or (not self.embedded and _is_aws(self.endpoint))


@dataclass(frozen=True, slots=True)
class EmulatorSettings:
    """The embedded emulator's listener, and faults to inject (named so as not to clash with EmulatorConfig)."""

    port: int = _setting(8765, _PORT)
    host: str = _setting("127.0.0.1", _HOST)
    faults: str | None = _setting(None, _optional(_PATH))


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """The bot's own HTTP listener, which the emulator and webhooks call back."""

    host: str = _setting("127.0.0.1", _HOST)
    port: int = _setting(8080, _PORT)
    public_url: str | None = _setting(None, _optional(_Rule("an http(s) URL", _is_http_url)))


@dataclass(frozen=True, slots=True)
class IntakeConfig:
    """Who may hand the bot a contact: requests to POST /contact-flow and /contacts signed with `secret`."""

    secret: Secret | None = _setting(
        None,
        _Rule(
            "a non-empty string (use ${BOTKIT_INTAKE_SECRET}), or null",
            # A secret YAML reads as a number is taken as its text, so no error ever has to echo it.
            lambda value: value is None or (isinstance(value, str | int | float) and not isinstance(value, bool)
                                            and str(value) != ""),
            lambda value: None if value is None else Secret(str(value)),
        ),
    )
    max_body_bytes: int = _setting(65536, _integer(1024))
    replay_window_seconds: float = _setting(300.0, _number(0, inclusive=False))
    allow_unauthenticated: bool = _setting(False, _BOOLEAN)


def _parse_hosts(validator: _Validator, node: yaml.Node, path: str) -> Any:
    if _is_null(node):
        return ()
    if not isinstance(node, yaml.SequenceNode):
        return validator.wrong(node, path, "a list of host names")
    hosts: list[str] = []
    for index, item in enumerate(node.value):
        host = validator.checked(item, f"{path}[{index}]", _CERT_HOST)
        if host is not _INVALID:
            hosts.append(host.lower().rstrip("."))
    return tuple(dict.fromkeys(hosts))


_CERT_HOST = _Rule(
    "a host name (such as sns.us-east-1.amazonaws.com), without scheme, port or path",
    lambda value: isinstance(value, str) and _HOST_NAME.fullmatch(value.rstrip(".")) is not None,
)


@dataclass(frozen=True, slots=True)
class StreamingConfig:
    """Message streaming (`transport: streaming`): the SNS topic Amazon Connect publishes the chats' items to,
    the intake's route SNS delivers them to, and hosts trusted for SNS signing certificates besides
    sns.<region>.<the partition's domain>."""

    topic_arn: str | None = _setting(
        None,
        _optional(
            _Rule(
                "an SNS topic ARN such as arn:aws:sns:us-east-1:123456789012:botkit-chat",
                lambda value: isinstance(value, str) and _SNS_TOPIC_ARN.fullmatch(value) is not None,
            )
        ),
    )
    path: str = _setting(
        "/sns",
        _Rule(
            f"a path starting with / and none of the intake's own ({', '.join(sorted(RESERVED_PATHS))})",
            lambda value: isinstance(value, str) and _ROUTE_PATH.fullmatch(value) is not None
            and value.rstrip("/") not in RESERVED_PATHS,
        ),
    )
    trusted_cert_hosts: tuple[str, ...] = field(default=(), metadata={"parse": _parse_hosts})

    @property
    def region(self) -> str | None:
        """The topic's region, from its ARN."""
        return self.topic_arn.split(":")[3] if self.topic_arn else None


@dataclass(frozen=True, slots=True)
class ReceiptsConfig:
    """Which message receipts the bot sends, and how often at most."""

    enabled: bool = _setting(True, _BOOLEAN)
    delivered: bool = _setting(True, _BOOLEAN)
    read: bool = _setting(True, _BOOLEAN)
    throttle_seconds: float = _setting(5.0, _number(0, inclusive=True))


@dataclass(frozen=True, slots=True)
class TypingConfig:
    """How often at most the bot sends a typing indicator."""

    throttle_seconds: float = _setting(10.0, _number(0, inclusive=True))


@dataclass(frozen=True, slots=True)
class RuntimeConfig:
    """Limits of the handler runtime."""

    handler_threads: int = _setting(16, _integer(1))
    handler_timeout: float = _setting(60.0, _number(0, inclusive=False))
    slow_handler_seconds: float = _setting(5.0, _number(0, inclusive=False))
    max_sessions: int = _setting(20000, _integer(1))
    event_loop: str = _setting("asyncio", _choice(("asyncio", "uvloop")))
    gc_threshold: int = _setting(10_000, _integer(0))
    shutdown_grace_seconds: float = _setting(20.0, _number(0, inclusive=True))
    on_shutdown: str | None = _setting(None, _optional(_choice(("disconnect", "abandon"))))
    """None: `abandon` on a shared store (another worker resumes the chats), `disconnect` on memory."""
    max_loop_lag_seconds: float = _setting(1.0, _number(0, inclusive=False))
    dispatch_bot_messages: bool = _setting(False, _BOOLEAN)


def _empty_mapping() -> Mapping[str, Any]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class LoggingConfig:
    """Log level and format; any other keys land in `extras`, for logging plugins to read."""

    level: str = _setting("INFO", _choice(LOG_LEVELS))
    format: str = _setting("text", _choice(LOG_FORMATS))
    extras: Mapping[str, Any] = field(default_factory=_empty_mapping)


def _parse_connect(validator: _Validator, node: yaml.Node, path: str) -> ConnectConfig:
    """Region and instance must be said wherever no emulator can be asked: an AWS endpoint, or `credentials: aws`."""
    connect: ConnectConfig = validator.section(node, path, ConnectConfig)
    if connect.credentials == "aws":
        if connect.embedded:
            validator.error(node, f"{path}.credentials", "aws needs connect.endpoint to be a URL, not embedded")
        why = "is required when connect.credentials is aws (the bot then asks no emulator)"
    else:
        why = "is required when connect.endpoint is an AWS endpoint"
    if connect.uses_aws:
        for key in ("region", "instance_id"):
            if getattr(connect, key) is None:
                validator.error(node, f"{path}.{key}", why)
    return connect


def _parse_plugins(validator: _Validator, node: yaml.Node, path: str) -> Any:
    if _is_null(node):
        return ()
    if not isinstance(node, yaml.SequenceNode):
        return validator.wrong(node, path, "a list of plugins")
    specs: list[str] = []
    first_index: dict[str, int] = {}
    for index, item in enumerate(node.value):
        item_path = f"{path}[{index}]"
        spec = validator.checked(item, item_path, _PLUGIN)
        if spec is _INVALID:
            continue
        if spec in first_index:
            validator.error(item, item_path, f"{spec!r} is listed twice (first as {path}[{first_index[spec]}])")
            continue
        first_index[spec] = index
        specs.append(spec)
    return tuple(specs)


def _parse_plugin_config(validator: _Validator, node: yaml.Node, path: str) -> Any:
    if _is_null(node):
        return _empty_mapping()
    if not isinstance(node, yaml.MappingNode):
        return validator.wrong(node, path, "a mapping of plugin name to settings")
    configs: dict[str, Mapping[str, Any]] = {}
    for name, (key_node, value_node) in validator.items(node, path).items():
        name_path = _join(path, name)
        if not isinstance(name, str):
            validator.error(key_node, name_path, f"plugin names must be strings, got {_describe(name)}")
        elif _is_null(value_node):
            configs[name] = _empty_mapping()
        elif not isinstance(value_node, yaml.MappingNode):
            validator.wrong(value_node, name_path, "a mapping of settings")
        elif (settings := validator.plain(value_node, name_path)) is not _INVALID:
            configs[name] = MappingProxyType(settings)
    return MappingProxyType(configs)


def _store_url(validator: _Validator, node: yaml.Node, path: str) -> Any:
    """A store URL; one that names no store is reported with the reason, and without a password written in it."""
    url = validator.checked(node, path, _Rule(STORE_URL_FORMS, lambda value: isinstance(value, str)))
    if url is not _INVALID and (problem := url_problem(url)) is not None:
        validator.error(node, path, f"must be {STORE_URL_FORMS}, got {without_password(url)!r}: {problem}")
        return _INVALID
    return url


_STORE_OPTIONS: dict[str, _Parse] = {
    "url": _store_url,
    "lease_seconds": lambda validator, node, path: validator.checked(node, path, _number(0, inclusive=False)),
    "prefix": lambda validator, node, path: validator.checked(
        node, path, _Rule("a non-empty string", lambda value: isinstance(value, str) and bool(value))
    ),
}


def _parse_store(validator: _Validator, node: yaml.Node, path: str) -> Any:
    """`store: <url>`, or the long form `store: {url: ..., lease_seconds: 10, prefix: "botkit:"}`."""
    if _is_null(node):
        return StoreSettings()
    if not isinstance(node, yaml.MappingNode):
        url = _store_url(validator, node, path)
        return url if url is _INVALID else StoreSettings(url)
    values: dict[str, Any] = {}
    for key, (key_node, value_node) in validator.items(node, path).items():
        key_path = _join(path, key)
        if key in _STORE_OPTIONS:
            if (value := _STORE_OPTIONS[key](validator, value_node, key_path)) is not _INVALID:
                values[key] = value
        elif close := difflib.get_close_matches(str(key), _STORE_OPTIONS, n=1):
            validator.error(key_node, key_path, f"unknown key {key!r} (did you mean {close[0]!r}?)")
        else:
            validator.error(key_node, key_path, f"unknown key {key!r} (expected one of: {', '.join(_STORE_OPTIONS)})")
    if "url" not in values and not any(error.key == f"{path}.url" for error in validator.errors):
        validator.error(node, f"{path}.url", f"is required in the long form ({STORE_URL_FORMS})")
    return StoreSettings(**values) if "url" in values else _INVALID


@dataclass(frozen=True, slots=True)
class BotConfig:
    """Everything bot.yaml says; `source` is the file it came from (None when parsed from a string)."""

    connect: ConnectConfig = field(default_factory=ConnectConfig, metadata={"parse": _parse_connect})
    emulator: EmulatorSettings = _section(EmulatorSettings)
    plugins: tuple[str, ...] = field(default=(), metadata={"parse": _parse_plugins})
    plugin_config: Mapping[str, Mapping[str, Any]] = field(
        default_factory=_empty_mapping, metadata={"parse": _parse_plugin_config}
    )
    server: ServerConfig = _section(ServerConfig)
    intake: IntakeConfig = _section(IntakeConfig)
    transport: str = _setting("websocket", _choice(TRANSPORTS))
    streaming: StreamingConfig = _section(StreamingConfig)
    receipts: ReceiptsConfig = _section(ReceiptsConfig)
    typing: TypingConfig = _section(TypingConfig)
    runtime: RuntimeConfig = _section(RuntimeConfig)
    logging: LoggingConfig = _section(LoggingConfig, extras=True)
    store: StoreSettings = field(default_factory=StoreSettings, metadata={"parse": _parse_store})
    source: Path | None = None

    @property
    def on_shutdown(self) -> str:
        """What a stopping worker does with its chats: `runtime.on_shutdown`, else by the store. With a shared store
        the others carry the chats on (`abandon`); alone in memory, the bot leaves them (`disconnect`)."""
        if self.runtime.on_shutdown is not None:
            return self.runtime.on_shutdown
        return "disconnect" if self.store.kind == "memory" else "abandon"

    @property
    def base_dir(self) -> Path:
        """Where relative paths in the file (plugins, faults) start from: its directory, else the working one."""
        return self.source.parent if self.source is not None else Path.cwd()


# Reading: the YAML node tree, with ${ENV} substituted while it is composed.


class _FailedScalar(yaml.ScalarNode):
    """A scalar whose `${...}` references could not all be substituted; the walk reports `problems` with its key."""

    def __init__(self, problems: list[str], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.problems = problems


class _Loader(yaml.SafeLoader):
    """A SafeLoader that substitutes `${NAME}` in scalar values before their tags are resolved.

    Substitution happens on scalars, never on the text, so a variable can only ever supply a scalar: its
    value is typed as YAML types a plain scalar when it makes up the whole value, and is a string otherwise.
    """

    def __init__(self, text: str, environ: Mapping[str, str]) -> None:
        super().__init__(text)
        self.environ = environ
        self._composing_key = False

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        """Note whether this node is a mapping key: keys name settings, so they are never substituted."""
        self._composing_key = isinstance(parent, yaml.MappingNode) and index is None
        return super().compose_node(parent, index)

    def compose_scalar_node(self, anchor: str | None) -> yaml.ScalarNode:
        event = self.get_event()
        value, implicit, problems = event.value, event.implicit, []
        if not self._composing_key and _REFERENCE.search(value):
            whole = _REFERENCE.fullmatch(value)
            if whole is None or whole["name"] is None:
                implicit = (False, True)
            value, problems = self._substitute(value)
        tag = event.tag
        if tag is None or tag == "!":
            tag = self.resolve(yaml.ScalarNode, value, implicit)
        if problems:
            node = _FailedScalar(problems, tag, value, event.start_mark, event.end_mark, style=event.style)
        else:
            node = yaml.ScalarNode(tag, value, event.start_mark, event.end_mark, style=event.style)
        if anchor is not None:
            self.anchors[anchor] = node
        return node

    def _substitute(self, value: str) -> tuple[str, list[str]]:
        """The value with references replaced, and what went wrong (reported later, when the key is known)."""
        problems: list[str] = []

        def replace(match: re.Match[str]) -> str:
            name, default = match["name"], match["default"]
            if match[0] == "$${":
                return "${"
            if name is None:
                problems.append("'${' must start ${NAME} or ${NAME:-default} (write $${ for a literal '${')")
                return ""
            if default is not None and "${" in default:
                problems.append(f"the default of ${{{name}}} cannot contain another ${{...}} reference")
                return ""
            found = self.environ.get(name)
            if default is not None:
                return found or default
            if found is None:
                problems.append(
                    f"environment variable {name} is not set (write ${{{name}:-default}} to give a default)"
                )
                return ""
            return found

        return _REFERENCE.sub(replace, value), problems


# Checking: walk the node tree along the dataclasses, collecting every problem.

_INVALID: Any = object()
"""What a parse returns for a value it has reported as wrong; the field then keeps its default."""

_Pair = tuple[yaml.Node, yaml.Node]


class _Validator:
    """Turns the node tree into dataclasses, recording a ConfigError for each problem rather than stopping."""

    def __init__(self, loader: _Loader, source: str) -> None:
        self.loader = loader
        self.source = source
        self.errors: list[ConfigError] = []
        self._built: dict[int, Any] = {}

    def error(self, node: yaml.Node, key: str, reason: str) -> None:
        self.errors.append(ConfigError(reason, source=self.source, line=node.start_mark.line + 1, key=key or None))

    def wrong(self, node: yaml.Node, path: str, expected: str, *, subject: str = "") -> Any:
        """Report that `node` is not `expected` (a phrase read after "must be"); returns _INVALID."""
        if isinstance(node, yaml.MappingNode):
            got = "a mapping"
        elif isinstance(node, yaml.SequenceNode):
            got = "a list"
        elif (value := self.scalar(node, path)) is _INVALID:
            return _INVALID
        else:
            got = _describe(value)
        self.error(node, path, f"{subject}must be {expected}, got {got}")
        return _INVALID

    def document(self, root: yaml.Node | None) -> BotConfig:
        if root is None or _is_null(root):
            return BotConfig()
        if not isinstance(root, yaml.MappingNode):
            self.wrong(root, "", "a mapping of sections (connect, server, plugins, ...)", subject="the top level ")
            return BotConfig()
        config: BotConfig = self.section(root, "", BotConfig)
        if config.transport == "streaming" and config.streaming.topic_arn is None:
            node, key = self._place(root, "streaming", "topic_arn")
            self.error(node, key, "is required when transport is streaming")
        return config

    @staticmethod
    def _place(root: yaml.MappingNode, section: str, key: str) -> tuple[yaml.Node, str]:
        """Where to point for a missing `section.key`: the section if written, else the `transport` line."""
        fallback: yaml.Node = root
        for key_node, value_node in root.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == section:
                return value_node if isinstance(value_node, yaml.MappingNode) else key_node, f"{section}.{key}"
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == "transport":
                fallback = key_node
        return fallback, f"{section}.{key}"

    def section(self, node: yaml.Node, path: str, cls: type, *, extras: bool = False) -> Any:
        """Build dataclass `cls` from a mapping: known keys are parsed, unknown ones reported (or kept as extras)."""
        if _is_null(node):
            return cls()
        if not isinstance(node, yaml.MappingNode):
            self.wrong(node, path, "a mapping")
            return cls()
        parsers: dict[str, _Parse] = {
            f.name: f.metadata["parse"] for f in dataclasses.fields(cls) if "parse" in f.metadata
        }
        values: dict[str, Any] = {}
        kept: dict[Any, Any] = {}
        for key, (key_node, value_node) in self.items(node, path).items():
            key_path = _join(path, key)
            if key in parsers:
                if (value := parsers[key](self, value_node, key_path)) is not _INVALID:
                    values[key] = value
            elif close := difflib.get_close_matches(str(key), parsers, n=1):
                self.error(key_node, key_path, f"unknown key {key!r} (did you mean {close[0]!r}?)")
            elif extras:
                if (value := self.plain(value_node, key_path)) is not _INVALID:
                    kept[key] = value
            else:
                self.error(key_node, key_path, f"unknown key {key!r} (expected one of: {', '.join(parsers)})")
        if extras:
            values["extras"] = MappingProxyType(kept)
        return cls(**values)

    def items(self, node: yaml.MappingNode, path: str) -> dict[Any, _Pair]:
        """Key → (key node, value node), with `<<` merges expanded; a key written twice in one mapping is an error."""
        inherited, own = self._merged(node, path, frozenset({id(node)}))
        items: dict[Any, _Pair] = {}
        for key_node, value_node in inherited:
            if (key := self._key(key_node, path)) is not _INVALID:
                items[key] = (key_node, value_node)
        first_line: dict[Any, int] = {}
        for key_node, value_node in own:
            if (key := self._key(key_node, path)) is _INVALID:
                continue
            if key in first_line:
                self.error(key_node, _join(path, key), f"duplicate key (first on line {first_line[key]})")
                continue
            first_line[key] = key_node.start_mark.line + 1
            items[key] = (key_node, value_node)
        return items

    def _merged(self, node: yaml.MappingNode, path: str, seen: frozenset[int]) -> tuple[list[_Pair], list[_Pair]]:
        """Split a mapping into the pairs it merges in with `<<` (earlier sources last, so they win) and its own."""
        inherited: list[_Pair] = []
        own: list[_Pair] = []
        for key_node, value_node in node.value:
            if key_node.tag != _MERGE_TAG:
                own.append((key_node, value_node))
                continue
            sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
            for source in reversed(sources):
                if not isinstance(source, yaml.MappingNode):
                    self.wrong(source, path, "a mapping to merge with <<")
                elif id(source) in seen:
                    self.error(source, path, "<< merges a mapping into itself")
                else:
                    their_inherited, their_own = self._merged(source, path, seen | {id(source)})
                    inherited += their_inherited + their_own
        return inherited, own

    def _key(self, node: yaml.Node, path: str) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            return self.wrong(node, path, "a mapping with scalar keys")
        return self.scalar(node, path)

    def scalar(self, node: yaml.ScalarNode, path: str) -> Any:
        """The Python value of a scalar, as SafeLoader constructs it."""
        if isinstance(node, _FailedScalar):
            for problem in node.problems:
                self.error(node, path, problem)
            return _INVALID
        try:
            return self.loader.construct_object(node)
        except yaml.MarkedYAMLError as error:
            self.error(node, path, f"cannot read this value: {error.problem}")
        except (AttributeError, LookupError, TypeError, ValueError):  # what SafeConstructor lets out of bad !!tags
            tag = node.tag.replace("tag:yaml.org,2002:", "!!")
            self.error(node, path, f"cannot read {node.value!r} as {tag}")
        return _INVALID

    def checked(self, node: yaml.Node, path: str, rule: _Rule) -> Any:
        """A scalar setting's value once it passes `rule`, else _INVALID with the problem recorded."""
        if not isinstance(node, yaml.ScalarNode):
            return self.wrong(node, path, rule.says)
        value = self.scalar(node, path)
        if value is _INVALID:
            return _INVALID
        if not rule.test(value):
            self.error(node, path, f"must be {rule.says}, got {_describe(value)}")
            return _INVALID
        return rule.convert(value)

    def plain(self, node: yaml.Node, path: str) -> Any:
        """Free-form data (plugin settings) as dicts, lists and scalars; aliases share one object, as in PyYAML."""
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node, path)
        if id(node) in self._built:
            built = self._built[id(node)]
            if built is _INVALID:
                self.error(node, path, "an alias refers to a node that contains it")
            return built
        self._built[id(node)] = _INVALID
        if isinstance(node, yaml.SequenceNode) and node.tag == _SEQ_TAG:
            items = [self.plain(item, f"{path}[{index}]") for index, item in enumerate(node.value)]
            built = [item for item in items if item is not _INVALID]
        elif isinstance(node, yaml.MappingNode) and node.tag == _MAP_TAG:
            values = {
                key: self.plain(value_node, _join(path, key)) for key, (_, value_node) in self.items(node, path).items()
            }
            built = {key: value for key, value in values.items() if value is not _INVALID}
        else:
            self.error(node, path, f"the tag {node.tag} is not supported here")
            return _INVALID
        self._built[id(node)] = built
        return built


def _is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and not isinstance(node, _FailedScalar) and node.tag == _NULL_TAG


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def _describe(value: Any) -> str:
    """A value as the YAML author wrote it: null and true rather than None and True."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, str) else str(value)


def _syntax_error(error: yaml.YAMLError, source: str) -> ConfigError:
    if not isinstance(error, yaml.MarkedYAMLError):
        return ConfigError(f"invalid YAML: {error}", source=source)
    mark = error.problem_mark or error.context_mark
    reason = "invalid YAML: "
    if error.context:
        reason += (
            f"{error.context} on line {error.context_mark.line + 1}: " if error.context_mark else f"{error.context}: "
        )
    reason += error.problem or ""
    if mark is not None and mark.buffer is not None and mark.buffer[mark.pointer - 1 : mark.pointer + 1] == "${":
        reason += " (inside [...] or {...}, quote a value holding ${...}, or write it in block style)"
    return ConfigError(reason, source=source, line=mark.line + 1 if mark else None)


def parse_config(text: str, source: str = "<string>", environ: Mapping[str, str] | None = None) -> BotConfig:
    """Check bot.yaml text; `source` names it in errors. Raises ConfigError listing every problem found."""
    loader = _Loader(text, os.environ if environ is None else environ)
    try:
        try:
            root = loader.get_single_node()
        except yaml.YAMLError as error:
            raise _syntax_error(error, source) from error
        validator = _Validator(loader, source)
        config = validator.document(root)
    finally:
        loader.dispose()
    if validator.errors:
        raise _combined(sorted(validator.errors, key=lambda error: error.line or 0))
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
    return dataclasses.replace(parse_config(text, name, environ), source=Path(path).resolve())
