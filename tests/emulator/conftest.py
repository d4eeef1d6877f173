"""Fixtures of the emulator's conformance suite: boto3 clients on one emulator per module."""

from __future__ import annotations

from typing import Any

import pytest

from tests.emulator.helpers import Api


@pytest.fixture(scope="module")
def api(emulator_thread: Any) -> Api:
    return Api(emulator_thread)


@pytest.fixture(scope="module")
def raw(emulator_thread: Any) -> Api:
    """Client-side validation off, so the emulator's own validation answers."""
    return Api(emulator_thread, validate_params=False)
