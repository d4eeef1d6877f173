"""The `connect` API's default URL: the region's, under its partition's DNS suffix, so China and GovCloud work."""

from __future__ import annotations

import pytest

from botkit.connect.endpoints import control_endpoint_for


@pytest.mark.parametrize(
    ("region", "participant", "control"),
    [
        ("us-east-1", None, "https://connect.us-east-1.amazonaws.com"),
        ("eu-west-2", "https://participant.connect.eu-west-2.amazonaws.com", "https://connect.eu-west-2.amazonaws.com"),
        ("cn-north-1", None, "https://connect.cn-north-1.amazonaws.com.cn"),
        (
            "cn-northwest-1",
            "https://participant.connect.cn-northwest-1.amazonaws.com.cn",
            "https://connect.cn-northwest-1.amazonaws.com.cn",
        ),
        ("us-gov-west-1", None, "https://connect.us-gov-west-1.amazonaws.com"),
        ("us-iso-east-1", None, "https://connect.us-iso-east-1.c2s.ic.gov"),
        ("ap-southeast-9", None, "https://connect.ap-southeast-9.amazonaws.com"),  # newer than botocore: by pattern
        ("eu-west-2", "http://127.0.0.1:8765", "https://connect.eu-west-2.amazonaws.com"),  # a non-AWS endpoint
    ],
)
def test_the_default_follows_the_partition(region: str, participant: str | None, control: str) -> None:
    assert control_endpoint_for(region, participant) == control
