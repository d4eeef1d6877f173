"""Which hosts are AWS's own, decided by parsing the host and matching botocore's partition DNS suffixes.

A substring test would take `amazonaws.com.evil.example` for AWS; a hard-coded
suffix list would miss GovCloud's dual-stack names, China's or the ISO
partitions. botocore's endpoint data names every partition's suffixes, FIPS
and dual-stack variants included, and is updated with botocore.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from botocore.loaders import create_loader


@dataclass(frozen=True, slots=True)
class _Partition:
    name: str
    dns_suffix: str
    """The partition's own suffix, the one its regional endpoints use (`amazonaws.com.cn` in China)."""
    dns_suffixes: frozenset[str]
    regions: frozenset[str]
    region: re.Pattern[str]


@functools.cache
def _partitions() -> tuple[_Partition, ...]:
    """botocore's endpoints.json, read once: each partition's DNS suffix and those of its variants."""
    data = create_loader().load_data("endpoints")
    partitions = []
    for partition in data["partitions"]:
        suffixes = {partition["dnsSuffix"]}
        suffixes.update(variant["dnsSuffix"] for variant in partition["defaults"].get("variants", ()) if "dnsSuffix" in variant)
        partitions.append(
            _Partition(
                partition["partition"],
                partition["dnsSuffix"],
                frozenset(s.lower() for s in suffixes),
                frozenset(partition.get("regions", ())),
                re.compile(partition["regionRegex"]),
            )
        )
    return tuple(partitions)


def host_of(url_or_host: str) -> str:
    """The lower-case host name of a URL or of a bare `host[:port]`, without a trailing dot; '' if there is none."""
    text = url_or_host.strip()
    try:
        host = urlsplit(text if "://" in text else f"//{text}").hostname or ""
    except ValueError:  # e.g. an unbalanced IPv6 bracket
        return ""
    return host.rstrip(".")


def partition_of(url_or_host: str) -> str | None:
    """The AWS partition (`aws`, `aws-cn`, `aws-us-gov`, `aws-iso`...) whose DNS suffix the host ends in, else None.

    Partitions sharing a suffix (`aws` and `aws-us-gov` both use amazonaws.com)
    are told apart by the region named in the host.
    """
    labels = host_of(url_or_host).split(".")
    matching = [
        partition
        for partition in _partitions()
        if any(_ends_with(labels, suffix) for suffix in partition.dns_suffixes)
    ]
    if not matching:
        return None
    for partition in matching:
        if any(partition.region.fullmatch(label) for label in labels):
            return partition.name
    return matching[0].name


def is_aws_host(url_or_host: str) -> bool:
    """True when the host is a name under an AWS partition's DNS suffix (`x.amazonaws.com`, not `amazonaws.com.evil`)."""
    return partition_of(url_or_host) is not None


def _ends_with(labels: list[str], suffix: str) -> bool:
    """Whole DNS labels, with at least one label before the suffix: `evilamazonaws.com` is not under `amazonaws.com`."""
    tail = suffix.split(".")
    return len(labels) > len(tail) and labels[-len(tail):] == tail and all(labels[: -len(tail)])


def control_endpoint_for(region: str, participant_endpoint: str | None = None) -> str:
    """The `connect` API's regional URL: `https://connect.<region>.<partition's DNS suffix>`.

    The partition is the participant endpoint's when that is an AWS host (so a China endpoint gives a China
    control plane), else the one whose regions name `region`; `aws` when nothing says otherwise.
    """
    name = partition_of(participant_endpoint) if participant_endpoint else None
    by_name = {partition.name: partition for partition in _partitions()}
    partition = by_name.get(name or "") or _partition_of_region(region) or by_name["aws"]
    return f"https://connect.{region}.{partition.dns_suffix}"


def _partition_of_region(region: str) -> _Partition | None:
    """The partition listing `region`, else the first whose region pattern matches it (regions newer than botocore)."""
    partitions = _partitions()
    listed = next((partition for partition in partitions if region in partition.regions), None)
    return listed or next((partition for partition in partitions if partition.region.fullmatch(region)), None)


def service_hosts(service: str, region: str) -> frozenset[str]:
    """`<service>.<region>.<suffix>` under each DNS suffix of the region's partition (`aws` when none names it).

    Where AWS serves a regional service, e.g. SNS's signing certificates: `sns.cn-north-1.amazonaws.com.cn` in
    China, `sns.us-gov-west-1.amazonaws.com` in GovCloud.
    """
    partition = _partition_of_region(region) or next(p for p in _partitions() if p.name == "aws")
    return frozenset(f"{service}.{region}.{suffix}" for suffix in partition.dns_suffixes)
