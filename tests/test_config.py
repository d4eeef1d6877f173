"""bot.yaml loading: defaults, every section, ${ENV} interpolation, and errors that point at key and line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from pydantic import ValidationError

from botkit.config import (
    BotConfig,
    ConfigError,
    ConnectConfig,
    EmulatorSettings,
    LoggingConfig,
    ReceiptsConfig,
    RetryConfig,
    RuntimeConfig,
    ServerConfig,
    StreamingConfig,
    TypingConfig,
    load_config,
    parse_config,
)


def parse(text: str, **environ: str) -> BotConfig:
    return parse_config(textwrap.dedent(text), "bot.yaml", environ)


def problem(text: str, **environ: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        parse(text, **environ)
    return caught.value


@pytest.mark.parametrize("text", ["", "\n", "# nothing but a comment\n", "---\n", "~\n"])
def test_an_empty_file_gives_all_defaults(text: str) -> None:
    config = parse(text)

    assert config == BotConfig()
    assert config.connect == ConnectConfig(
        endpoint="embedded", region=None, instance_id=None, retry=RetryConfig(max_attempts=5, base_delay=0.1, max_delay=5.0)
    )
    assert config.connect.embedded
    assert config.emulator == EmulatorSettings(port=8765, host="127.0.0.1", faults=None)
    assert config.plugins == ()
    assert dict(config.plugin_config) == {}
    assert config.server == ServerConfig(host="127.0.0.1", port=8080, public_url=None)
    assert config.receipts == ReceiptsConfig(enabled=True, delivered=True, read=True, throttle_seconds=5.0)
    assert config.typing == TypingConfig(throttle_seconds=10.0)
    assert config.runtime == RuntimeConfig(
        handler_threads=16, handler_timeout=60.0, slow_handler_seconds=5.0, max_sessions=20000
    )
    assert config.logging == LoggingConfig(level="INFO", format="text")
    assert config.source is None


def test_every_section_round_trips() -> None:
    config = parse(
        """
        connect:
          endpoint: https://participant.connect.eu-west-2.amazonaws.com
          region: eu-west-2
          instance_id: 0a1b2c3d-4e5f-6789-abcd-ef0123456789
          retry: {max_attempts: 3, base_delay: 0.5, max_delay: 10}
        emulator:
          port: 9000
          host: 0.0.0.0
          faults: faults.yaml
        plugins:
          - greeter.plugin
          - plugins/faq.py
          - ./more_plugins
        plugin_config:
          faq:
            greeting: Hello
            topics: [billing, returns]
            limits: {per_minute: 5}
          echo:
        server:
          host: ::1
          port: 0
          public_url: https://bot.example.com/hooks
        receipts:
          enabled: false
          delivered: no
          read: true
          throttle_seconds: 0
        typing:
          throttle_seconds: 2.5
        runtime:
          handler_threads: 4
          handler_timeout: 30
          slow_handler_seconds: 0.25
          max_sessions: 100
        logging:
          level: debug
          format: JSON
        """
    )

    assert config.connect == ConnectConfig(
        endpoint="https://participant.connect.eu-west-2.amazonaws.com",
        region="eu-west-2",
        instance_id="0a1b2c3d-4e5f-6789-abcd-ef0123456789",
        retry=RetryConfig(max_attempts=3, base_delay=0.5, max_delay=10.0),
    )
    assert not config.connect.embedded
    assert config.emulator == EmulatorSettings(port=9000, host="0.0.0.0", faults="faults.yaml")
    assert config.plugins == ("greeter.plugin", "plugins/faq.py", "./more_plugins")
    assert {name: dict(settings) for name, settings in config.plugin_config.items()} == {
        "faq": {"greeting": "Hello", "topics": ["billing", "returns"], "limits": {"per_minute": 5}},
        "echo": {},
    }
    assert config.server == ServerConfig(host="::1", port=0, public_url="https://bot.example.com/hooks")
    assert config.receipts == ReceiptsConfig(enabled=False, delivered=False, read=True, throttle_seconds=0.0)
    assert config.typing == TypingConfig(throttle_seconds=2.5)
    assert config.runtime == RuntimeConfig(
        handler_threads=4, handler_timeout=30.0, slow_handler_seconds=0.25, max_sessions=100
    )
    assert isinstance(config.runtime.handler_timeout, float)
    assert config.logging == LoggingConfig(level="DEBUG", format="json")


def test_the_config_is_frozen() -> None:
    config = parse("server: {port: 9000}")

    with pytest.raises(ValidationError, match="frozen"):
        config.server.port = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        config.plugin_config["x"] = {}  # type: ignore[index]


def test_an_emulator_url_needs_no_region() -> None:
    config = parse("connect: {endpoint: 'http://127.0.0.1:8765'}")

    assert config.connect.endpoint == "http://127.0.0.1:8765"
    assert config.connect.region is None
    assert not config.connect.embedded


def test_an_aws_endpoint_needs_a_region_and_an_instance() -> None:
    error = problem(
        """
        connect:
          endpoint: https://participant.connect.us-east-1.amazonaws.com
        """
    )

    assert [(e.key, e.line) for e in error.errors] == [("connect.region", 3), ("connect.instance_id", 3)]
    assert "required" in error.errors[0].reason


def test_logging_keeps_extra_keys_but_catches_typos_of_its_own() -> None:
    config = parse("logging: {level: warning, loggers: {aiohttp: ERROR}}")
    assert config.logging.level == "WARNING"
    assert dict(config.logging.extras) == {"loggers": {"aiohttp": "ERROR"}}

    error = problem("logging:\n  levle: DEBUG\n")
    assert (error.key, error.line) == ("logging.levle", 2)
    assert "did you mean 'level'?" in error.reason


# Interpolation


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("8080", 8080),
        ("true", True),
        ("off", False),
        ("2.5", 2.5),
        ("0x1F", 31),
        ("hello", "hello"),
        ("null", None),
        ("", None),
    ],
)
def test_a_whole_variable_is_typed_as_yaml_types_it(value: str, expected: object) -> None:
    config = parse("plugin_config:\n  p:\n    value: ${VALUE}\n", VALUE=value)

    actual = config.plugin_config["p"]["value"]
    assert actual == expected
    assert type(actual) is type(expected)


def test_environment_variables_fill_typed_settings() -> None:
    config = parse(
        """
        server:
          port: ${PORT}
          host: ${HOST:-0.0.0.0}
        receipts:
          enabled: ${FLAG:-true}
          throttle_seconds: ${THROTTLE:-1.5}
        """,
        PORT="9090",
    )

    assert config.server.port == 9090
    assert config.server.host == "0.0.0.0"
    assert config.receipts.enabled is True
    assert config.receipts.throttle_seconds == 1.5


def test_a_default_applies_when_the_variable_is_empty_too() -> None:
    config = parse("server:\n  port: ${PORT:-8081}\n", PORT="")

    assert config.server.port == 8081


def test_a_partial_variable_stays_a_string() -> None:
    config = parse(
        """
        plugin_config:
          p:
            digits: 80${PORT}
            url: http://${HOST}:${PORT}/x
            two: ${PORT}${PORT}
        """,
        PORT="80",
        HOST="example.com",
    )

    assert dict(config.plugin_config["p"]) == {"digits": "8080", "url": "http://example.com:80/x", "two": "8080"}


def test_a_quoted_variable_stays_a_string_and_a_tag_still_types_it() -> None:
    config = parse("plugin_config:\n  p:\n    quoted: '${PORT}'\n    tagged: !!int \"${PORT}\"\n", PORT="8080")

    assert dict(config.plugin_config["p"]) == {"quoted": "8080", "tagged": 8080}


@pytest.mark.parametrize(
    "value", ["a: b", "[1, 2]", "{x: 1}", "- item", "x\nserver: {port: 1}", "*alias", "!!python/object:os.system"]
)
def test_a_variable_cannot_inject_yaml_structure(value: str) -> None:
    config = parse("server:\n  host: ${HOST}\nplugin_config:\n  p:\n    text: ${HOST}\n", HOST=value)

    assert config.server.host == value
    assert config.server.port == 8080
    assert dict(config.plugin_config["p"]) == {"text": value}


def test_a_missing_variable_names_itself_the_key_and_the_line() -> None:
    error = problem("server:\n  host: localhost\n  port: ${BOT_PORT}\n")

    assert (error.source, error.line, error.key) == ("bot.yaml", 3, "server.port")
    assert "BOT_PORT" in error.reason
    assert str(error).startswith("bot.yaml:3: server.port: environment variable BOT_PORT is not set")


def test_a_missing_variable_inside_a_list_names_its_index() -> None:
    error = problem("plugins:\n  - a.b\n  - ${EXTRA_PLUGIN}\n")

    assert (error.key, error.line) == ("plugins[1]", 3)


def test_dollar_dollar_brace_is_a_literal() -> None:
    config = parse("plugin_config:\n  p:\n    template: Hello $${NAME}, ${GREETING:-hi}\n    cost: $$5\n")

    assert config.plugin_config["p"]["template"] == "Hello ${NAME}, hi"
    assert config.plugin_config["p"]["cost"] == "$$5"


def test_keys_are_not_interpolated() -> None:
    config = parse("plugin_config:\n  p:\n    ${KEY}: 1\n", KEY="other")

    assert dict(config.plugin_config["p"]) == {"${KEY}": 1}


def test_a_malformed_reference_is_an_error() -> None:
    error = problem("server:\n  host: ${not a name}\n")

    assert (error.key, error.line) == ("server.host", 2)
    assert "$${" in error.reason


def test_load_config_reads_os_environ_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "bot.yaml"
    path.write_text("server:\n  port: ${BOTKIT_TEST_PORT}\n")
    monkeypatch.setenv("BOTKIT_TEST_PORT", "7070")

    assert load_config(path).server.port == 7070
    assert load_config(path, environ={"BOTKIT_TEST_PORT": "7171"}).server.port == 7171


# Errors


def test_an_unknown_key_suggests_the_close_one() -> None:
    error = problem("server:\n  host: localhost\n  prot: 9000\n")

    assert (error.line, error.key) == (3, "server.prot")
    assert error.reason == "unknown key 'prot' (did you mean 'port'?)"
    assert str(error) == "bot.yaml:3: server.prot: unknown key 'prot' (did you mean 'port'?)"


def test_an_unknown_section_lists_the_known_ones() -> None:
    error = problem("sever:\n  port: 1\nwhatever: 2\n")

    assert [(e.key, e.line) for e in error.errors] == [("sever", 1), ("whatever", 3)]
    assert "did you mean 'server'?" in error.errors[0].reason
    assert "connect, emulator, plugins" in error.errors[1].reason


def test_a_duplicate_key_is_an_error() -> None:
    error = problem("server:\n  port: 1\n  host: h\n  port: 2\n")

    assert (error.line, error.key) == (4, "server.port")
    assert "duplicate key (first on line 2)" in error.reason


def test_a_duplicate_key_in_plugin_settings_is_an_error_too() -> None:
    error = problem("plugin_config:\n  p:\n    a: 1\n    a: 2\n")

    assert (error.line, error.key) == (4, "plugin_config.p.a")


def test_merge_keys_are_expanded_and_own_keys_win() -> None:
    config = parse(
        """
        plugin_config:
          base: &base {greeting: hi, retries: 2}
          p:
            <<: *base
            retries: 5
        """
    )

    assert dict(config.plugin_config["p"]) == {"greeting": "hi", "retries": 5}


@pytest.mark.parametrize("port", ["70000", "-1"])
def test_an_out_of_range_port_is_an_error(port: str) -> None:
    error = problem(f"emulator:\n  port: {port}\n")

    assert (error.line, error.key) == (2, "emulator.port")
    assert error.reason == f"must be an integer from 0 to 65535, got {port}"


@pytest.mark.parametrize(
    ("text", "line", "key", "reason"),
    [
        ("server:\n  port: abc\n", 2, "server.port", "must be an integer from 0 to 65535, got 'abc'"),
        ("server:\n  port: true\n", 2, "server.port", "must be an integer from 0 to 65535, got true"),
        ("server:\n  port: 80.5\n", 2, "server.port", "must be an integer from 0 to 65535, got 80.5"),
        ("server:\n  port: [80]\n", 2, "server.port", "must be an integer from 0 to 65535, got a list"),
        ("server:\n  - port\n", 2, "server", "must be a mapping, got a list"),
        ("server: 8080\n", 1, "server", "must be a mapping, got 8080"),
        ("server:\n  public_url: ftp://x\n", 2, "server.public_url", "must be an http(s) URL, or null, got 'ftp://x'"),
        ("receipts:\n  enabled: 1\n", 2, "receipts.enabled", "must be true or false, got 1"),
        ("runtime:\n  handler_timeout: 0\n", 2, "runtime.handler_timeout", "must be a number > 0, got 0"),
        ("runtime:\n  handler_threads: 0\n", 2, "runtime.handler_threads", "must be an integer >= 1, got 0"),
        ("typing:\n  throttle_seconds: .nan\n", 2, "typing.throttle_seconds", "must be a number >= 0, got nan"),
        ("logging:\n  format: xml\n", 2, "logging.format", "must be one of text, json, got 'xml'"),
        ("plugins: faq.py\n", 1, "plugins", "must be a list of plugins, got 'faq.py'"),
        ("plugins:\n  - 3\n", 2, "plugins[0]", "must be a module name (a.b.c), a .py file or a directory, got 3"),
        ("plugin_config:\n  p: [1]\n", 2, "plugin_config.p", "must be a mapping of settings, got a list"),
        (
            "connect:\n  endpoint: localhost\n",
            2,
            "connect.endpoint",
            "must be 'embedded' or an http(s) URL, got 'localhost'",
        ),
    ],
)
def test_a_wrong_type_names_key_and_line(text: str, line: int, key: str, reason: str) -> None:
    error = problem(text)

    assert error.errors == [error]
    assert (error.line, error.key, error.reason) == (line, key, reason)


def test_every_problem_is_reported_at_once() -> None:
    error = problem(
        """\
        server:
          port: abc
          prot: 1
        connect:
          retry:
            max_attempts: 0
        logging:
          level: loud
        plugins:
          - ${MISSING}
        """
    )

    assert [(e.line, e.key) for e in error.errors] == [
        (2, "server.port"),
        (3, "server.prot"),
        (6, "connect.retry.max_attempts"),
        (8, "logging.level"),
        (10, "plugins[0]"),
    ]
    assert error.line is None and error.key is None
    lines = str(error).splitlines()
    assert lines[0] == "bot.yaml: 5 problems"
    assert lines[1:] == [f"  {e}" for e in error.errors]
    assert lines[1] == "  bot.yaml:2: server.port: must be an integer from 0 to 65535, got 'abc'"


def test_a_yaml_syntax_error_gives_its_line() -> None:
    error = problem("server:\n  port: 1\n host: x\n")

    assert error.line == 3
    assert error.key is None
    assert error.reason.startswith("invalid YAML:")
    assert str(error).startswith("bot.yaml:3: invalid YAML:")


def test_a_syntax_error_at_a_reference_in_flow_style_says_to_quote_it() -> None:
    error = problem("server: {port: ${PORT}}\n", PORT="1")

    assert error.line == 1
    assert "quote" in error.reason


@pytest.mark.parametrize(("text", "got"), [("- a\n- b\n", "a list"), ("just text\n", "'just text'"), ("42\n", "42")])
def test_the_top_level_must_be_a_mapping(text: str, got: str) -> None:
    error = problem(text)

    assert error.line == 1
    assert error.reason == f"the top level must be a mapping of sections (connect, server, plugins, ...), got {got}"


def test_an_unsafe_tag_is_refused() -> None:
    error = problem("plugin_config:\n  p:\n    x: !!python/object/apply:os.system ['true']\n")

    assert (error.key, error.line) == ("plugin_config.p.x", 3)


# Files


def test_load_config_resolves_base_dir(tmp_path: Path) -> None:
    path = tmp_path / "bots" / "bot.yaml"
    path.parent.mkdir()
    path.write_text("plugins:\n  - plugins/faq.py\nemulator:\n  faults: faults.yaml\n")

    config = load_config(path, environ={})

    assert config.source == path.resolve()
    assert config.base_dir == path.parent.resolve()
    assert config.plugins == ("plugins/faq.py",)
    assert config.base_dir / config.emulator.faults == path.parent.resolve() / "faults.yaml"


def test_load_config_errors_name_the_file_as_given(tmp_path: Path) -> None:
    path = tmp_path / "bot.yaml"
    path.write_text("server:\n  port: abc\n")

    with pytest.raises(ConfigError) as caught:
        load_config(str(path), environ={})

    assert caught.value.source == str(path)
    assert str(caught.value).startswith(f"{path}:2: server.port:")


def test_load_config_on_a_missing_file_raises_oserror(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_config(tmp_path / "absent.yaml")


def test_parse_config_base_dir_is_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)

    assert parse("").base_dir == tmp_path


def test_the_sample_bot_yaml_loads() -> None:
    config = load_config(Path(__file__).parent.parent / "bot.yaml", environ={})

    assert config.connect.embedded
    assert config.plugins == ("plugins/faq.py", "plugins/echo.py")
    assert config.receipts.throttle_seconds == 1.0


def test_event_loop_is_asyncio_by_default_and_uvloop_on_request() -> None:
    assert parse_config("").runtime.event_loop == "asyncio"
    assert parse_config("runtime: {event_loop: uvloop}").runtime.event_loop == "uvloop"
    with pytest.raises(ConfigError) as raised:
        parse_config("runtime:\n  event_loop: trio\n", source="bot.yaml")
    assert raised.value.line == 2 and raised.value.key == "runtime.event_loop"


def test_gc_threshold_is_10000_by_default_and_may_be_any_count_from_0() -> None:
    assert parse_config("").runtime.gc_threshold == 10_000
    assert parse_config("runtime: {gc_threshold: 0}").runtime.gc_threshold == 0
    with pytest.raises(ConfigError) as raised:
        parse_config("runtime:\n  gc_threshold: -1\n", source="bot.yaml")
    assert raised.value.line == 2 and raised.value.key == "runtime.gc_threshold"


def test_intake_and_shutdown_settings_have_safe_defaults() -> None:
    config = parse("")
    assert config.intake.secret is None and not config.intake.allow_unauthenticated
    assert (config.intake.max_body_bytes, config.intake.replay_window_seconds) == (65536, 300.0)
    runtime = config.runtime
    assert (runtime.shutdown_grace_seconds, runtime.on_shutdown, runtime.max_loop_lag_seconds) == (20.0, None, 1.0)
    assert runtime.dispatch_bot_messages is False


def test_on_shutdown_defaults_by_store() -> None:
    assert parse("").on_shutdown == "disconnect"
    assert parse("store: sqlite:sessions.db\n").on_shutdown == "abandon"
    assert parse("store: redis://127.0.0.1:6379/0\n").on_shutdown == "abandon"
    assert parse("store: redis://127.0.0.1:6379/0\nruntime: {on_shutdown: disconnect}\n").on_shutdown == "disconnect"


def test_the_intake_secret_comes_from_the_environment_and_never_prints() -> None:
    config = parse("intake:\n  secret: ${BOTKIT_INTAKE_SECRET}\n", BOTKIT_INTAKE_SECRET="s3cret-value")
    assert config.intake.secret is not None and config.intake.secret.reveal() == "s3cret-value"
    assert "s3cret-value" not in repr(config) and "s3cret-value" not in str(config.intake)


def test_intake_and_runtime_mistakes_name_key_and_line() -> None:
    error = problem("intake:\n  secret: [a, b]\nruntime:\n  on_shutdown: linger\n")
    assert [(e.line, e.key) for e in error.errors] == [(2, "intake.secret"), (4, "runtime.on_shutdown")]


def test_a_secret_yaml_reads_as_a_number_is_taken_as_its_text() -> None:
    """An error would have to echo it; a numeric secret is as good as any other once it is text."""
    config = parse("intake:\n  secret: 918273645\n")
    assert config.intake.secret is not None and config.intake.secret.reveal() == "918273645"


def test_the_transport_is_websocket_unless_bot_yaml_says_streaming() -> None:
    assert parse("").transport == "websocket"
    config = parse(
        """
        transport: streaming
        streaming:
          topic_arn: arn:aws:sns:eu-west-2:123456789012:botkit-chat
          trusted_cert_hosts: [sns.example.internal, SNS.Example.Internal.]
        """
    )
    assert config.transport == "streaming"
    assert config.streaming == StreamingConfig(
        topic_arn="arn:aws:sns:eu-west-2:123456789012:botkit-chat", path="/sns", trusted_cert_hosts=("sns.example.internal",)
    )
    assert config.streaming.region == "eu-west-2"


def test_streaming_needs_a_topic_and_names_the_key_and_line() -> None:
    assert str(problem("server: {port: 1}\ntransport: streaming\n")) == (
        "bot.yaml:2: transport: streaming needs streaming.topic_arn, the SNS topic's ARN"
    )
    assert str(problem("transport: streaming\nstreaming:\n  path: /hooks/sns\n")) == (
        "bot.yaml:3: streaming.topic_arn: is required when transport is streaming"
    )


def test_streaming_mistakes_name_key_and_line() -> None:
    error = problem(
        """\
transport: sockets
streaming:
  topic_arn: arn:aws:sqs:us-east-1:123456789012:queue
  path: /contact-flow
  trusted_cert_hosts: [https://sns.example.com/, 7]
"""
    )
    reasons = {(e.line, e.key): e.reason for e in error.errors}
    assert reasons[(1, "transport")] == "must be one of websocket, streaming, got 'sockets'"
    assert reasons[(3, "streaming.topic_arn")].startswith("must be an SNS topic ARN")
    assert reasons[(4, "streaming.path")].startswith("must be a path starting with / and none of the intake's own")
    assert reasons[(5, "streaming.trusted_cert_hosts[0]")].startswith("must be a host name")
    assert reasons[(5, "streaming.trusted_cert_hosts[1]")].startswith("must be a host name")
