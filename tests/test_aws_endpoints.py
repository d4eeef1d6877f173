"""bot.yaml's endpoint counts as AWS only when its parsed host is under an AWS partition's DNS suffix."""

from __future__ import annotations

from typing import Any

import pytest

from botkit.bot import BotProcess
from botkit.config import ConfigError, parse_config


def test_a_dual_stack_or_govcloud_aws_endpoint_needs_region_and_instance() -> None:
    for endpoint in ("https://participant.connect.us-east-1.api.aws", "https://participant.connect.us-gov-west-1.api.aws"):
        with pytest.raises(ConfigError, match=r"connect\.region: is required"):
            parse_config(f"connect: {{endpoint: '{endpoint}'}}\n")


def test_a_look_alike_of_aws_is_not_taken_for_aws_by_the_config() -> None:
    config = parse_config("connect: {endpoint: 'https://participant.connect.us-east-1.amazonaws.com.evil.example'}\n")
    assert config.connect.region is None


async def test_an_emulator_url_mentioning_amazonaws_com_is_still_an_emulator(emulator: Any) -> None:
    """`amazonaws.com` in the URL's user info is not its host: the bot must talk to the emulator, not demand AWS keys."""
    port = emulator.base_url.rsplit(":", 1)[1]
    config = parse_config(f"connect: {{endpoint: 'http://amazonaws.com@127.0.0.1:{port}'}}\nserver: {{port: 0}}\n")
    async with BotProcess(config) as bot:
        assert bot.endpoints is not None and bot.endpoints.emulator
        assert bot.endpoints.instance_id == emulator.config.instance_id
