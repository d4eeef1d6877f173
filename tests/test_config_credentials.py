"""bot.yaml's `connect.credentials`, `connect.control_endpoint` and `connect.profile`, and the errors they give."""

from __future__ import annotations

import textwrap

import pytest

from botkit.config import BotConfig, ConfigError, parse_config


def parse(text: str) -> BotConfig:
    return parse_config(textwrap.dedent(text), "bot.yaml", {})


def problems(text: str) -> list[tuple[str | None, int | None, str]]:
    with pytest.raises(ConfigError) as caught:
        parse(text)
    return [(error.key, error.line, error.reason) for error in caught.value.errors]


def test_the_defaults_are_auto_with_no_control_endpoint_and_no_profile() -> None:
    connect = parse("connect: {endpoint: 'http://127.0.0.1:8765'}").connect

    assert (connect.credentials, connect.control_endpoint, connect.profile) == ("auto", None, None)
    assert not connect.uses_aws


def test_aws_mode_takes_any_host_a_control_endpoint_and_a_profile() -> None:
    connect = parse(
        """
        connect:
          endpoint: http://127.0.0.1:8765
          control_endpoint: https://vpce-0abc.connect.us-east-1.vpce.example:8443/
          credentials: AWS
          profile: contact-centre
          region: us-east-1
          instance_id: 11111111-2222-3333-4444-555555555555
        """
    ).connect

    assert connect.credentials == "aws"
    assert connect.uses_aws
    assert connect.control_endpoint == "https://vpce-0abc.connect.us-east-1.vpce.example:8443/"
    assert connect.profile == "contact-centre"


def test_auto_mode_on_an_aws_host_uses_aws() -> None:
    connect = parse(
        """
        connect:
          endpoint: https://participant.connect.cn-north-1.amazonaws.com.cn
          region: cn-north-1
          instance_id: i-1
        """
    ).connect

    assert connect.credentials == "auto" and connect.uses_aws


def test_aws_mode_needs_a_region_and_an_instance_since_no_emulator_is_asked() -> None:
    found = problems(
        """
        server: {port: 0}
        connect:
          endpoint: http://127.0.0.1:8765
          credentials: aws
        """
    )

    assert [(key, line) for key, line, _ in found] == [("connect.region", 4), ("connect.instance_id", 4)]
    assert all("required when connect.credentials is aws" in reason for _, _, reason in found)


def test_aws_mode_refuses_the_embedded_emulator() -> None:
    found = problems(
        """
        connect:
          credentials: aws
          region: us-east-1
          instance_id: i-1
        """
    )

    assert found == [("connect.credentials", 3, "aws needs connect.endpoint to be a URL, not embedded")]


@pytest.mark.parametrize(
    ("setting", "key", "reason"),
    [
        ("credentials: sso", "connect.credentials", "must be one of auto, aws, got 'sso'"),
        ("control_endpoint: connect.us-east-1.amazonaws.com", "connect.control_endpoint", "must be an http(s) URL"),
        ("profile: ''", "connect.profile", "must be a profile name from the AWS shared config, or null, got ''"),
        ("credential: aws", "connect.credential", "unknown key 'credential' (did you mean 'credentials'?)"),
    ],
)
def test_a_bad_setting_names_its_key_and_line(setting: str, key: str, reason: str) -> None:
    found = problems(f"connect:\n  endpoint: http://127.0.0.1:8765\n  {setting}\n")

    assert [(k, line) for k, line, _ in found] == [(key, 3)]
    assert found[0][2].startswith(reason), found
