"""The intake's JSON nesting check: microseconds per 64 KiB of body, for bodies of different shapes.

    python benchmarks/intake_nesting.py

The issue's budget is 1 ms per 64 KiB. Each figure is the best of several rounds, so that other work on the
machine inflates it as little as possible; "old" is the byte-by-byte scan this check replaced.
"""

from __future__ import annotations

import json
import timeit

from botkit.jsondepth import nested_deeper_than

SIZE = 64 * 1024
LIMIT = 64


def _filled(prefix: bytes, unit: bytes, suffix: bytes) -> bytes:
    room = SIZE - len(prefix) - len(suffix)
    return prefix + (unit * (room // len(unit) + 1))[:room] + suffix


def _padded(prefix: bytes, unit: bytes, suffix: bytes) -> bytes:
    room = SIZE - len(prefix) - len(suffix)
    return prefix + unit * (room // len(unit)) + suffix


ITEM = json.dumps({"Id": "abc", "Content": 'hello [world] {x} "quoted"', "Tags": [1, 2, [3]]}).encode()
SHAPES = {
    "flat object (few brackets)": _filled(b"{", b'"k":1,', b'"z":1}'),
    "typical (a list of items)": _padded(b'{"Items":[', ITEM + b",", b"1]}"),
    "string-heavy (brackets and escapes in strings)": _padded(b'{"s":"', b'ab\\"[{c', b'"}'),
    "quote-heavy ([\"\",\"\"] lists)": _padded(b"[", b'["",""],', b"1]"),
    "deep (depth 64, repeated)": _padded(b"[", b"[" * 63 + b"1" + b"]" * 63 + b",", b"1]"),
    "worst case (brackets only, depth 57-64)": _padded(b"[" * 56, b"[[]]", b"]" * 56),
    "too deep (32768 levels)": b"[" * (SIZE // 2) + b"]" * (SIZE // 2),
}


def _old(raw: bytes, limit: int) -> bool:
    """The scan before: one Python step per byte."""
    depth = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return False


def microseconds_per_64k(check: object, body: bytes, number: int) -> float:
    best = min(timeit.repeat(lambda: check(body, LIMIT), number=number, repeat=7))  # type: ignore[operator]
    return best / number * 1e6 * SIZE / len(body)


def main() -> None:
    print(f"{'shape':48s} {'bytes':>7s} {'deep?':>6s} {'µs/64 KiB':>10s} {'old µs':>8s}")
    for name, body in SHAPES.items():
        deep = nested_deeper_than(body, LIMIT)
        assert deep == _old(body, LIMIT), name
        new = microseconds_per_64k(nested_deeper_than, body, 20)
        old = microseconds_per_64k(_old, body, 2)
        print(f"{name:48s} {len(body):7d} {str(deep):>6s} {new:10.0f} {old:8.0f}")


if __name__ == "__main__":
    main()
