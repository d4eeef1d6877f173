"""bot.yaml as pydantic models: one frozen model per section, with every key's type, default and description.

The descriptions are the configuration reference (docs/configuration.md is generated from them), and each
type's `Expect` phrase is what an error says the value must be.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    PrivateAttr,
    ValidationInfo,
    model_validator,
)
from pydantic_core import InitErrorDetails, ValidationError

from botkit.config.types import (
    Boolean,
    Expect,
    OptionalSecret,
    Port,
    choice,
    expected,
    integer,
    is_http_url,
    is_instance_id,
    is_plugin_spec,
    is_region,
    is_sns_topic_arn,
    number,
    optional_text,
    text,
)
from botkit.config.yamltree import Loc, Place, describe
from botkit.connect.endpoints import is_aws_host
from botkit.connect.secrets import Secret
from botkit.store.base import DEFAULT_LEASE_SECONDS
from botkit.store.settings import DEFAULT_PREFIX, STORE_URL_FORMS, StoreSettings, url_problem, without_password

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("text", "json")
CREDENTIAL_MODES = ("auto", "aws")
TRANSPORTS = ("websocket", "streaming")


class Section(BaseModel):
    """A section of bot.yaml: unknown keys are errors, values never change once read, and a section (or a
    subsection) written as null is its defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _null_is_default(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        return {key: value for key, value in data.items() if not (value is None and key in cls._null_means_default())}

    @classmethod
    def _null_means_default(cls) -> set[str]:
        return {
            name
            for name, info in cls.model_fields.items()
            if isinstance(info.annotation, type) and issubclass(info.annotation, Section)
        }


def _raise(details: list[tuple[Loc, str]], title: str) -> None:
    """Several problems at once, each at its own key: what a model validator cannot say with one exception."""
    if details:
        raise ValidationError.from_exception_data(
            title,
            [
                InitErrorDetails(type=expected(why), loc=loc, input=None) for loc, why in details
            ],
        )


class RetryConfig(Section):
    """How the participant client retries failed calls to Connect (see botkit.connect.RetryPolicy)."""

    max_attempts: integer(1) = Field(5, description="Attempts per call, the first included.")
    base_delay: number(0, inclusive=False) = Field(
        0.1, description="Seconds before the first retry; each later one waits twice as long, with jitter."
    )
    max_delay: number(0, inclusive=False) = Field(5.0, description="The longest wait between two attempts, in seconds.")


class ConnectConfig(Section):
    """Where Amazon Connect lives (the in-process emulator, another emulator, or AWS) and how the bot signs its calls.

    `endpoint` is the Participant Service's URL, `control_endpoint` the `connect` API's. With `credentials: auto`,
    an AWS endpoint means botocore's credentials and anything else an emulator; `aws` signs every `connect` call
    with botocore's credentials whatever the host (VPC endpoints, proxies, an emulator checking SigV4).
    """

    endpoint: text("'embedded' or an http(s) URL", lambda value: value == "embedded" or is_http_url(value)) = Field(
        "embedded",
        description="`embedded` starts the emulator in the bot's process; otherwise the Participant Service's URL "
        "(an emulator's, or `https://participant.connect.<region>.amazonaws.com`).",
    )
    region: optional_text("an AWS region such as us-east-1", is_region) = Field(
        None, description="The instance's AWS region; required on AWS, asked of an emulator otherwise."
    )
    instance_id: optional_text("an Amazon Connect instance id (the last part of the instance ARN)", is_instance_id) = (
        Field(None, description="The Amazon Connect instance id; required on AWS, asked of an emulator otherwise.")
    )
    retry: RetryConfig = Field(default_factory=RetryConfig, description="Retries of failed calls to Connect.")
    credentials: choice(*CREDENTIAL_MODES) = Field(
        "auto",
        description="`auto`: botocore's credentials for an AWS endpoint, none for an emulator. `aws`: always sign "
        "with botocore's credentials (VPC endpoints, proxies); needs `region` and `instance_id`.",
    )
    control_endpoint: optional_text("an http(s) URL", is_http_url) = Field(
        None, description="The `connect` API's URL, when it is not the one the region implies (or the emulator's)."
    )
    profile: optional_text("a profile name from the AWS shared config") = Field(
        None, description="The AWS shared-config profile whose credentials sign the bot's calls."
    )

    @property
    def embedded(self) -> bool:
        """True when botkit should start the emulator in-process rather than call a URL."""
        return self.endpoint == "embedded"

    @property
    def uses_aws(self) -> bool:
        """True when the bot signs with real AWS credentials and never calls an emulator's own API."""
        return self.credentials == "aws" or (not self.embedded and is_aws_host(self.endpoint))

    @model_validator(mode="after")
    def _aws_needs_region_and_instance(self) -> ConnectConfig:
        """Region and instance must be said wherever no emulator can be asked: an AWS endpoint, or `credentials: aws`."""
        problems: list[tuple[Loc, str]] = []
        if self.credentials == "aws":
            if self.embedded:
                problems.append((("credentials",), "aws needs connect.endpoint to be a URL, not embedded"))
            why = "is required when connect.credentials is aws (the bot then asks no emulator)"
        else:
            why = "is required when connect.endpoint is an AWS endpoint"
        if self.uses_aws:
            problems += [((key,), why) for key in ("region", "instance_id") if getattr(self, key) is None]
        _raise(problems, "ConnectConfig")
        return self


class EmulatorSettings(Section):
    """The embedded emulator's listener, and faults to inject (named so as not to clash with EmulatorConfig)."""

    port: Port = Field(8765, description="The embedded emulator's port; 0 picks a free one.")
    host: text("a host name or address") = Field("127.0.0.1", description="The address the embedded emulator binds.")
    faults: optional_text("a file path") = Field(
        None, description="A YAML or JSON file of faults to inject, relative to bot.yaml (see docs/emulator.md)."
    )


class ServerConfig(Section):
    """The bot's own HTTP listener, which the emulator and webhooks call back."""

    host: text("a host name or address") = Field("127.0.0.1", description="The address the bot's HTTP server binds.")
    port: Port = Field(8080, description="The bot's HTTP port; 0 picks a free one.")
    public_url: optional_text("an http(s) URL", is_http_url) = Field(
        None, description="The URL others reach the bot's server at, when it is not `http://host:port`."
    )


class IntakeConfig(Section):
    """Who may hand the bot a contact: requests to POST /contact-flow and /contacts signed with `secret`."""

    secret: OptionalSecret = Field(
        None,
        description="The HMAC key intake requests are signed with; write `${BOTKIT_INTAKE_SECRET}` rather than the "
        "secret itself. Never printed.",
    )
    max_body_bytes: integer(1024) = Field(65536, description="The largest intake request body accepted, in bytes.")
    replay_window_seconds: number(0, inclusive=False) = Field(
        300.0, description="How old (or how far ahead) a signed request's timestamp may be, in seconds."
    )
    allow_unauthenticated: Boolean = Field(
        False, description="Accept unsigned intake requests on a non-loopback address (for trusted networks only)."
    )


class ReceiptsConfig(Section):
    """Which message receipts the bot sends, and how often at most."""

    enabled: Boolean = Field(True, description="Whether the bot sends message receipts at all.")
    delivered: Boolean = Field(True, description="Send a delivered receipt for each customer message.")
    read: Boolean = Field(True, description="Send a read receipt for each customer message.")
    throttle_seconds: number(0, inclusive=True) = Field(
        5.0, description="At most one receipt of a kind per this many seconds, per contact."
    )


class TypingConfig(Section):
    """How often at most the bot sends a typing indicator."""

    throttle_seconds: number(0, inclusive=True) = Field(
        10.0, description="At most one typing indicator per this many seconds, per contact."
    )


class RuntimeConfig(Section):
    """Limits of the handler runtime."""

    handler_threads: integer(1) = Field(16, description="Threads that run plain-function (non-async) handlers.")
    handler_timeout: number(0, inclusive=False) = Field(
        60.0, description="Seconds a handler may run before it is cancelled and logged."
    )
    slow_handler_seconds: number(0, inclusive=False) = Field(
        5.0, description="A handler running longer than this is logged as slow."
    )
    max_sessions: integer(1) = Field(20000, description="Contacts the bot takes at once; more are refused.")
    event_loop: choice("asyncio", "uvloop") = Field(
        "asyncio", description="The event loop; `uvloop` needs `pip install 'connect-botkit[uvloop]'`."
    )
    gc_threshold: integer(0) = Field(
        10_000,
        description="Allocations between young-generation garbage collections (Python's default is 700); 0 turns "
        "automatic collection off (see docs/performance.md).",
    )
    shutdown_grace_seconds: number(0, inclusive=True) = Field(
        20.0, description="On SIGTERM, how long running handlers get to finish before sessions end."
    )
    on_shutdown: choice("disconnect", "abandon") | None = Field(
        None,
        description="On shutdown, `disconnect` ends every session and leaves its chat; `abandon` leaves them as "
        "they are, for another worker to resume. Unset: `abandon` with a shared store, `disconnect` with `memory`.",
    )
    max_loop_lag_seconds: number(0, inclusive=False) = Field(
        1.0, description="A loop blocked longer than this is reported by the watchdog, naming the handler."
    )
    dispatch_bot_messages: Boolean = Field(
        False, description="Whether messages from other bots (CUSTOM_BOT participants) reach `on_message`."
    )


class LoggingConfig(Section):
    """Log level and format; any other keys land in `extras`, for logging plugins to read."""

    model_config = ConfigDict(
        json_schema_extra=lambda schema: _open_logging_schema(schema),
    )

    level: choice(*LOG_LEVELS) = Field("INFO", description="The log level; `--log-level` overrides it.")
    format: choice(*LOG_FORMATS) = Field("text", description="`text` for people, `json` for log collectors.")
    debug_libraries: Boolean = Field(
        False,
        description="At DEBUG, let botocore, urllib3, websockets and aiohttp.access log at DEBUG too "
        "(`BOTKIT_DEBUG_LIBRARIES=1` does the same).",
    )
    extras: Annotated[Mapping[str, Any], AfterValidator(MappingProxyType)] = Field(
        default_factory=lambda: MappingProxyType({}), description="Any other key, kept for logging plugins."
    )

    @model_validator(mode="before")
    @classmethod
    def _keep_extras(cls, data: Any) -> Any:
        """Keys of its own stay (a close misspelling of one stays too, to be reported); others become extras."""
        if not isinstance(data, Mapping) or "extras" in data:
            return data
        own = {"level", "format", "debug_libraries"}
        extras = {key: value for key, value in data.items() if key not in own and not _close_to(key, own)}
        kept = {key: value for key, value in data.items() if key not in extras}
        return {**kept, "extras": MappingProxyType(extras)}


def _close_to(key: Any, names: set[str]) -> bool:
    return bool(difflib.get_close_matches(str(key), sorted(names), n=1))


def _open_logging_schema(schema: dict[str, Any]) -> None:
    """For editors: `extras` is not written as such, any other key is."""
    schema["properties"].pop("extras", None)
    schema["additionalProperties"] = True


HOST_NAME_SAYS = "a host name or host:port (such as sns.us-east-1.amazonaws.com), without scheme or path"
_HOST_NAME = re.compile(r"(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*")


def is_host_name(value: str) -> bool:
    host, _, port = value.partition(":")
    return _HOST_NAME.fullmatch(host.rstrip(".")) is not None and (not port or (port.isdigit() and int(port) < 65536))


INTAKE_PATHS = frozenset({"/contact-flow", "/contacts", "/metrics", "/livez", "/readyz", "/healthz"})
"""The intake server's own routes, which the SNS route must not shadow."""


class StreamingConfig(Section):
    """Message streaming: contacts' events arrive as SNS notifications rather than over a websocket per contact."""

    topic_arn: optional_text("an SNS topic ARN (arn:aws:sns:region:account:name)", is_sns_topic_arn) = Field(
        None, description="The SNS topic Amazon Connect streams the chats' messages to; required when "
        "`transport` is `streaming`."
    )
    path: text(
        "a path starting with / and none of the intake's own (" + ", ".join(sorted(INTAKE_PATHS)) + ")",
        lambda value: value.startswith("/") and value.rstrip("/") not in INTAKE_PATHS,
    ) = Field("/sns", description="Where on the bot's server SNS delivers notifications.")
    trusted_cert_hosts: Annotated[
        tuple[text(HOST_NAME_SAYS, is_host_name), ...],
        AfterValidator(lambda hosts: tuple(dict.fromkeys(host.rstrip(".").lower() for host in hosts))),
        Expect("a list of host names"),
    ] = Field(
        (), description="Hosts, besides SNS's own, that signing certificates may come from (an emulator's)."
    )

    @property
    def region(self) -> str | None:
        """The topic's region, from its ARN."""
        return self.topic_arn.split(":")[3] if self.topic_arn else None


class StoreOptions(Section):
    """The long form of `store`."""

    model_config = ConfigDict(json_schema_extra={"required": ["url"]})

    url: Annotated[
        str | None, PlainValidator(lambda value: _store_url(value), json_schema_input_type=str), Expect(STORE_URL_FORMS)
    ] = Field(None, description="Where sessions are kept; `memory` keeps them in this process only.")
    lease_seconds: number(0, inclusive=False) = Field(
        DEFAULT_LEASE_SECONDS, description="How long a worker's claim on a contact lasts unless renewed."
    )
    prefix: text("a non-empty string", bool) = Field(
        DEFAULT_PREFIX, description="The prefix of every Redis key, so several bots can share one Redis."
    )

    @model_validator(mode="after")
    def _url_is_required(self) -> StoreOptions:
        if self.url is None:
            _raise([(("url",), f"is required in the long form ({STORE_URL_FORMS})")], "StoreOptions")
        return self


def _store_url(value: Any) -> str:
    """A store URL; one that names no store is reported with the reason, and without a password written in it."""
    if not isinstance(value, str):
        raise expected(f"must be {STORE_URL_FORMS}, got {describe(value)}")
    if (problem := url_problem(value)) is not None:
        raise expected(f"must be {STORE_URL_FORMS}, got {without_password(value)!r}: {problem}")
    return value


def _store(value: Any) -> StoreSettings:
    """`store: <url>`, or the long form `store: {url: ..., lease_seconds: 10, prefix: "botkit:"}`."""
    if isinstance(value, StoreSettings):
        return value
    if value is None:
        return StoreSettings()
    if isinstance(value, Mapping):
        options = StoreOptions.model_validate(value)
        assert options.url is not None
        return StoreSettings(options.url, options.lease_seconds, options.prefix)
    return StoreSettings(_store_url(value))


class PluginSettings(Mapping[str, Any]):
    """One plugin's `plugin_config` entry, read-only, remembering where each of its keys was written so that a
    plugin's own `Config` model can point at the line of a bad value."""

    def __init__(
        self, values: Mapping[str, Any], places: Mapping[Loc, Place] | None = None, source: str | None = None
    ) -> None:
        self._values = MappingProxyType(dict(values))
        self.places: Mapping[Loc, Place] = MappingProxyType(dict(places or {}))
        self.source = source

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"PluginSettings({dict(self._values)!r})"


def _plugin_config(value: Any, info: ValidationInfo) -> Mapping[str, PluginSettings]:
    if value is None:
        return MappingProxyType({})
    if not isinstance(value, Mapping):
        raise expected(f"must be a mapping of plugin name to settings, got {describe(value)}")
    context = info.context or {}
    places: Mapping[Loc, Place] = context.get("places", {})
    problems: list[tuple[Loc, str]] = []
    configs: dict[str, PluginSettings] = {}
    for name, settings in value.items():
        if not isinstance(name, str):
            problems.append(((name,), f"plugin names must be strings, got {describe(name)}"))
        elif settings is not None and not isinstance(settings, Mapping):
            problems.append(((name,), f"must be a mapping of settings, got {describe(settings)}"))
        else:
            prefix = ("plugin_config", name)
            own = {loc[2:]: place for loc, place in places.items() if loc[:2] == prefix}
            configs[name] = PluginSettings(settings or {}, own, context.get("source"))
    _raise(problems, "plugin_config")
    return MappingProxyType(configs)


def _plugins(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list | tuple):
        raise expected(f"must be a list of plugins, got {describe(value)}")
    problems: list[tuple[Loc, str]] = []
    first_index: dict[str, int] = {}
    for index, spec in enumerate(value):
        if not isinstance(spec, str) or not is_plugin_spec(spec):
            problems.append(((index,), f"must be {PLUGIN_SPEC}, got {describe(spec)}"))
        elif spec in first_index:
            problems.append(((index,), f"{spec!r} is listed twice (first as plugins[{first_index[spec]}])"))
        else:
            first_index[spec] = index
    _raise(problems, "plugins")
    return tuple(value)


PLUGIN_SPEC = "a module name (a.b.c), a .py file or a directory"


class BotConfig(Section):
    """Everything bot.yaml says; `source` is the file it came from (None when parsed from a string)."""

    connect: ConnectConfig = Field(default_factory=ConnectConfig, description="Where Amazon Connect is.")
    emulator: EmulatorSettings = Field(
        default_factory=EmulatorSettings, description="The embedded emulator (with `connect.endpoint: embedded`)."
    )
    plugins: Annotated[
        tuple[str, ...],
        PlainValidator(_plugins, json_schema_input_type=list[str] | None),
        Expect(f"a list of plugins: {PLUGIN_SPEC}"),
    ] = Field((), description="The plugins to load, in order: module names, `.py` files or directories of them.")
    plugin_config: Annotated[
        Mapping[str, PluginSettings],
        PlainValidator(_plugin_config, json_schema_input_type=dict[str, dict[str, Any] | None] | None),
        Expect("a mapping of plugin name to settings"),
    ] = Field(
        default_factory=lambda: MappingProxyType({}),
        description="Each plugin's settings, by plugin name; a plugin with a `Config` model gets them validated.",
    )
    server: ServerConfig = Field(default_factory=ServerConfig, description="The bot's own HTTP server.")
    intake: IntakeConfig = Field(default_factory=IntakeConfig, description="Who may hand the bot a contact.")
    receipts: ReceiptsConfig = Field(default_factory=ReceiptsConfig, description="Delivered and read receipts.")
    typing: TypingConfig = Field(default_factory=TypingConfig, description="Typing indicators.")
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig, description="Limits of the handler runtime.")
    logging: LoggingConfig = Field(default_factory=LoggingConfig, description="Logs.")
    store: Annotated[
        StoreSettings,
        PlainValidator(_store, json_schema_input_type=str | StoreOptions | None),
        Expect(STORE_URL_FORMS),
    ] = Field(
        default_factory=StoreSettings,
        description=f"Where sessions' durable facts live: {STORE_URL_FORMS}, or the long form with `url`, "
        "`lease_seconds` and `prefix`.",
    )
    transport: choice(*TRANSPORTS) = Field(
        "websocket",
        description="How contacts' events reach the bot: a `websocket` per contact, or `streaming` (SNS "
        "notifications to `streaming.path`).",
    )
    streaming: StreamingConfig = Field(
        default_factory=StreamingConfig, description="Message streaming, with `transport: streaming`."
    )

    _source: Path | None = PrivateAttr(None)

    @property
    def source(self) -> Path | None:
        return self._source

    @property
    def base_dir(self) -> Path:
        """Where relative paths in the file (plugins, faults) start from: its directory, else the working one."""
        return self._source.parent if self._source is not None else Path.cwd()

    def from_file(self, path: Path) -> BotConfig:
        """This configuration, as read from `path`."""
        copy = self.model_copy()
        copy._source = path
        return copy

    @property
    def on_shutdown(self) -> str:
        """What a stopping worker does with its chats: `runtime.on_shutdown`, else by the store. With a shared store
        the others carry the chats on (`abandon`); alone in memory, the bot leaves them (`disconnect`)."""
        if self.runtime.on_shutdown is not None:
            return self.runtime.on_shutdown
        return "disconnect" if self.store.kind == "memory" else "abandon"

    @model_validator(mode="after")
    def _streaming_needs_a_topic(self) -> BotConfig:
        if self.transport == "streaming" and self.streaming.topic_arn is None:
            if "streaming" in self.model_fields_set:  # point at the section that lacks it, else at the choice
                _raise([(("streaming", "topic_arn"), "is required when transport is streaming")], "BotConfig")
            _raise([(("transport",), "streaming needs streaming.topic_arn, the SNS topic's ARN")], "BotConfig")
        return self


__all__ = [
    "BotConfig",
    "ConnectConfig",
    "EmulatorSettings",
    "IntakeConfig",
    "LoggingConfig",
    "PluginSettings",
    "ReceiptsConfig",
    "RetryConfig",
    "RuntimeConfig",
    "Secret",
    "Section",
    "ServerConfig",
    "StoreOptions",
    "StoreSettings",
    "StreamingConfig",
    "TypingConfig",
]
