"""bot.yaml's pydantic models: what they refuse, every problem at once, the transport sections, and the
`BOTKIT_<SECTION>__<KEY>` environment overrides."""

from __future__ import annotations

import textwrap

import pytest
from pydantic import ValidationError

from botkit.config import (
    BotConfig,
    ConfigError,
    ConnectConfig,
    IntakeConfig,
    ServerConfig,
    StoreSettings,
    parse_config,
)
from botkit.config.models import RuntimeConfig
from botkit.connect.secrets import Secret


def parse(text: str, **environ: str) -> BotConfig:
    return parse_config(textwrap.dedent(text), "bot.yaml", environ)


def problem(text: str, **environ: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        parse(text, **environ)
    return caught.value


# The models themselves, built in Python as the runtime and tests build them.


@pytest.mark.parametrize(
    ("model", "values"),
    [
        (ServerConfig, {"port": 70000}),
        (ServerConfig, {"port": "8080"}),  # a quoted number is text, as it always was
        (ServerConfig, {"port": True}),
        (ServerConfig, {"prot": 1}),
        (ServerConfig, {"public_url": "ftp://x"}),
        (RuntimeConfig, {"handler_timeout": 0}),
        (RuntimeConfig, {"max_loop_lag_seconds": float("inf")}),
        (RuntimeConfig, {"on_shutdown": "linger"}),
        (IntakeConfig, {"secret": ""}),
        (IntakeConfig, {"secret": True}),
        (ConnectConfig, {"endpoint": "localhost"}),
        (ConnectConfig, {"endpoint": "https://participant.connect.us-east-1.amazonaws.com"}),
        (ConnectConfig, {"credentials": "aws"}),
    ],
)
def test_the_models_refuse_what_the_old_validator_refused(model: type, values: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        model(**values)


def test_the_models_take_python_values_and_keep_the_secret_hidden() -> None:
    intake = IntakeConfig(secret=Secret("hunter2"), replay_window_seconds=10)

    assert intake.secret is not None and intake.secret.reveal() == "hunter2"
    assert intake.replay_window_seconds == 10.0 and isinstance(intake.replay_window_seconds, float)
    assert "hunter2" not in repr(intake)
    assert RuntimeConfig(on_shutdown="ABANDON").on_shutdown == "abandon"


def test_a_secret_in_a_wrong_value_is_never_echoed() -> None:
    error = problem("intake:\n  secret: ${SECRET}\n  max_body_bytes: 1\n", SECRET="s3cret-value")

    assert (error.key, error.line) == ("intake.max_body_bytes", 3)
    assert "s3cret-value" not in str(error)


# Every problem at once, each with its key and line.


def test_problems_of_every_kind_are_reported_together_in_file_order() -> None:
    error = problem(
        """\
        transport: carrier-pigeon
        store:
          url: memory
          lease_secs: 3
        connect:
          endpoint: https://participant.connect.us-east-1.amazonaws.com
          region: us-east-1
        plugins:
          - faq.py
          - faq.py
        streaming:
          path: sns
        logging:
          formt: json
        """
    )

    assert [(e.line, e.key) for e in error.errors] == [
        (1, "transport"),
        (4, "store.lease_secs"),
        (6, "connect.instance_id"),
        (10, "plugins[1]"),
        (12, "streaming.path"),
        (14, "logging.formt"),
    ]
    reasons = [e.reason for e in error.errors]
    assert reasons[0] == "must be one of websocket, streaming, got 'carrier-pigeon'"
    assert reasons[1] == "unknown key 'lease_secs' (did you mean 'lease_seconds'?)"
    assert reasons[2] == "is required when connect.endpoint is an AWS endpoint"
    assert reasons[3] == "'faq.py' is listed twice (first as plugins[0])"
    assert reasons[4].startswith("must be a path starting with / and none of the intake's own") and reasons[4].endswith("got 'sns'")
    assert reasons[5] == "unknown key 'formt' (did you mean 'format'?)"


def test_a_value_left_out_for_an_unset_variable_does_not_shift_the_lines_of_the_next() -> None:
    error = problem("plugins:\n  - a.b\n  - ${MISSING}\n  - 7\n")

    assert [(e.line, e.key) for e in error.errors] == [(3, "plugins[1]"), (4, "plugins[2]")]


def test_a_section_written_as_null_is_its_defaults() -> None:
    config = parse("server:\nconnect:\n  retry: ~\nstore: ~\nplugins: ~\nplugin_config: ~\n")

    assert config == BotConfig()


# transport and streaming (issue 11)


def test_the_transport_is_a_websocket_by_default_and_streaming_needs_a_topic() -> None:
    config = parse("")
    assert config.transport == "websocket"
    assert (config.streaming.topic_arn, config.streaming.path, config.streaming.trusted_cert_hosts) == (None, "/sns", ())

    error = problem("transport: streaming\nstreaming:\n  path: /events\n")
    assert (error.key, error.line, error.reason) == ("streaming.topic_arn", 3, "is required when transport is streaming")

    streaming = parse(
        """
        transport: Streaming
        streaming:
          topic_arn: arn:aws:sns:us-east-1:123456789012:chats
          trusted_cert_hosts: [127.0.0.1:8765]
        """
    )
    assert streaming.transport == "streaming"
    assert streaming.streaming.topic_arn == "arn:aws:sns:us-east-1:123456789012:chats"
    assert streaming.streaming.trusted_cert_hosts == ("127.0.0.1:8765",)


def test_a_topic_that_is_no_sns_arn_is_refused() -> None:
    error = problem("streaming:\n  topic_arn: arn:aws:sqs:us-east-1:1:q\n")

    assert (error.key, error.line) == ("streaming.topic_arn", 2)
    assert "an SNS topic ARN" in error.reason


# Environment overrides


def test_an_override_sets_a_section_key_typed_as_yaml() -> None:
    config = parse(
        "server:\n  port: 8080\n",
        BOTKIT_SERVER__PORT="9000",
        BOTKIT_RUNTIME__HANDLER_TIMEOUT="5",
        BOTKIT_RECEIPTS__ENABLED="off",
    )

    assert config.server.port == 9000
    assert config.runtime.handler_timeout == 5.0
    assert config.receipts.enabled is False


def test_an_override_sets_a_top_level_key_and_a_nested_one() -> None:
    config = parse(
        "store: memory\n",
        BOTKIT__STORE="redis://127.0.0.1:6379/0",
        BOTKIT_CONNECT__RETRY__MAX_ATTEMPTS="3",
        BOTKIT__TRANSPORT="websocket",
    )

    assert config.store == StoreSettings("redis://127.0.0.1:6379/0")
    assert config.connect.retry.max_attempts == 3


def test_overrides_are_case_insensitive_and_reach_the_long_form_of_a_short_store() -> None:
    config = parse(
        "store: sqlite:bot.db\n", botkit_store__lease_seconds="2.5", BOTKIT_PLUGIN_CONFIG__FAQ__GREETING="Hello"
    )

    assert config.store == StoreSettings("sqlite:bot.db", 2.5)
    assert config.plugin_config["faq"]["greeting"] == "Hello"


def test_an_override_of_an_unknown_key_is_an_error_naming_the_variable() -> None:
    error = problem("server:\n  prot: 1\n", BOTKIT_SERVER__PROT="9000", BOTKIT_SERVR__PORT="1")

    assert [(e.line, e.key, e.variable) for e in error.errors] == [
        (2, "server.prot", None),
        (None, "server.prot", "BOTKIT_SERVER__PROT"),
        (None, "servr.port", "BOTKIT_SERVR__PORT"),
    ]
    assert error.errors[1].reason == "unknown key 'prot' (did you mean 'port'?)"
    assert str(error.errors[2]) == (
        "environment variable BOTKIT_SERVR__PORT: servr.port: unknown key 'servr' (did you mean 'server'?)"
    )


def test_a_bad_overridden_value_names_the_variable_instead_of_a_line() -> None:
    error = problem("server:\n  port: 8080\n", BOTKIT_SERVER__PORT="abc")

    assert (error.line, error.key, error.variable) == (None, "server.port", "BOTKIT_SERVER__PORT")
    assert str(error) == (
        "environment variable BOTKIT_SERVER__PORT: server.port: must be an integer from 0 to 65535, got 'abc'"
    )


def test_names_without_a_double_underscore_are_not_overrides() -> None:
    config = parse(
        "intake:\n  secret: ${BOTKIT_INTAKE_SECRET}\n",
        BOTKIT_INTAKE_SECRET="s3cret-value",
        BOTKIT_PORT="1",
        BOTKIT_SERVER_PORT="1",
    )

    assert config.intake.secret is not None and config.intake.secret.reveal() == "s3cret-value"
    assert config.server.port == 8080


def test_an_override_structure_is_never_injected() -> None:
    config = parse("", BOTKIT_SERVER__HOST="[1, 2]")

    assert config.server.host == "[1, 2]"


def test_an_override_below_a_plain_value_is_an_error_naming_the_variable() -> None:
    error = problem("", BOTKIT_SERVER__PORT__NUMBER="1")

    assert (error.key, error.variable, error.reason) == ("server.port.number", "BOTKIT_SERVER__PORT__NUMBER", "server.port has no keys")
