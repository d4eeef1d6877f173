"""AWS hosts are recognised by their parsed host name and botocore's partition DNS suffixes, never by a substring."""

from __future__ import annotations

import pytest

from botkit.connect.endpoints import is_aws_host, partition_of

HOSTS = [
    # (URL or host, partition or None)
    ("https://participant.connect.us-east-1.amazonaws.com", "aws"),
    ("participant.connect.us-east-1.amazonaws.com", "aws"),
    ("https://PARTICIPANT.connect.eu-west-2.AmazonAWS.com:443/", "aws"),
    ("https://participant.connect.us-east-1.amazonaws.com./", "aws"),
    ("https://participant.connect-fips.us-east-1.amazonaws.com", "aws"),
    ("https://connect-fips.ca-central-1.amazonaws.com", "aws"),
    ("https://participant.connect.us-east-1.api.aws", "aws"),  # dual-stack
    ("https://participant.connect-fips.us-east-1.api.aws", "aws"),  # dual-stack FIPS
    ("https://participant.connect.us-gov-west-1.amazonaws.com", "aws-us-gov"),
    ("https://connect.us-gov-west-1.amazonaws.com", "aws-us-gov"),
    ("https://participant.connect.us-gov-west-1.api.aws", "aws-us-gov"),
    ("https://participant.connect.cn-north-1.amazonaws.com.cn", "aws-cn"),
    ("https://connect.cn-northwest-1.api.amazonwebservices.com.cn", "aws-cn"),
    ("https://connect.us-iso-east-1.c2s.ic.gov", "aws-iso"),
    ("https://connect.us-isob-east-1.sc2s.sgov.gov", "aws-iso-b"),
    ("https://amazonaws.com.evil.example", None),
    ("https://participant.connect.us-east-1.amazonaws.com.evil.example", None),
    ("https://evilamazonaws.com", None),
    ("https://amazonaws.com", None),  # the suffix itself names no service
    ("https://.amazonaws.com", None),
    ("https://participant.connect.us-east-1.amazonaws.com@evil.example/", None),  # user info, then the real host
    ("https://evil.example/participant.connect.us-east-1.amazonaws.com", None),
    ("https://evil.example/?next=x.amazonaws.com", None),
    ("http://127.0.0.1:8765", None),
    ("127.0.0.1", None),
    ("http://[::1]:8765", None),
    ("http://[::1", None),
    ("", None),
]


@pytest.mark.parametrize(("url", "partition"), HOSTS)
def test_aws_hosts_by_partition_dns_suffix(url: str, partition: str | None) -> None:
    assert partition_of(url) == partition
    assert is_aws_host(url) is (partition is not None)

