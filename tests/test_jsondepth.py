"""The nesting check counts exactly what json.loads would recurse into: brackets outside strings."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from botkit.jsondepth import nested_deeper_than


def depth_of(value: Any) -> int:
    """The reference: how deep a parsed value nests."""
    if isinstance(value, dict):
        return 1 + max(map(depth_of, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(depth_of, value), default=0)
    return 0


STRINGS = ["plain", "[[[{{{", "]]}}", '\\"[', 'a\\\\"', "\\", '"', "\u00e9[", "\\\\[\\\\"]


def random_value(rng: random.Random, depth: int) -> Any:
    roll = rng.random()
    if depth > 12 or roll < 0.35:
        return rng.choice([*STRINGS, 1, None, 2.5, True])
    if roll < 0.65:
        return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {rng.choice(STRINGS): random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))}


def test_it_agrees_with_the_parsed_depth_on_thousands_of_documents() -> None:
    rng = random.Random(9)
    for _ in range(2000):
        value = random_value(rng, 0)
        raw = json.dumps(value, ensure_ascii=rng.random() < 0.5).encode()
        limit = rng.randint(0, 12)
        assert nested_deeper_than(raw, limit) == (depth_of(value) > limit), (raw, limit)


@pytest.mark.parametrize(
    ("raw", "deep"),
    [
        (b"[" * 65 + b"]" * 65, True),
        (b"[" * 64 + b"]" * 64, False),
        (b"[" * 65, True),  # never closed: json.loads recurses before it fails
        (b'{"a":' * 64 + b"1" + b"}" * 64, False),
        (b'["' + b"[" * 5000 + b'"]', False),
        (b'["\\"' + b"[" * 5000 + b'"]', False),  # an escaped quote does not end the string
        (b'["\\\\"' + b",[" * 65 + b"]" * 65 + b"]", True),  # an escaped backslash does not escape the quote
        (b"[[]," * 100 + b"]" * 100, True),
        (b"[[]]," * 10000, False),
    ],
)
def test_hand_picked_edges(raw: bytes, deep: bool) -> None:
    assert nested_deeper_than(raw, 64) is deep
