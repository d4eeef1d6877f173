"""How deep a JSON text nests, found in bulk operations rather than a Python loop over its bytes.

json.loads recurses once per level: thousands of levels reach the recursion limit, and a garbage collection
that runs that deep makes unrelated finalizers fail. So the intake refuses deep bodies before parsing them.
A byte-by-byte Python scan cost 27 ms per 256 KiB; this one works on whole buffers (split, translate, int)
and then walks the brackets eight at a time through two 256-entry tables (benchmarks/intake_nesting.py).
"""

from __future__ import annotations

from array import array
from itertools import accumulate
from operator import add

_OPENERS_AS_ONES = bytes.maketrans(b"[{]}", b"1100")
_NOT_BRACKETS = bytes(byte for byte in range(256) if byte not in b"[]{}")


def _tables() -> tuple[bytes, bytes]:
    """For each byte of eight brackets (a 1 bit opens, most significant first): the depth change, and the
    highest depth reached inside it, as signed bytes."""
    net, peak = bytearray(256), bytearray(256)
    for byte in range(256):
        depth, highest = 0, -1
        for bit in range(7, -1, -1):
            depth += 1 if byte >> bit & 1 else -1
            highest = max(highest, depth)
        net[byte], peak[byte] = depth & 0xFF, highest & 0xFF
    return bytes(net), bytes(peak)


_NET, _PEAK = _tables()


def nested_deeper_than(raw: bytes, limit: int) -> bool:
    """Whether JSON text opens more than `limit` arrays or objects at once; brackets inside strings do not count."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    if b"\\" in raw:  # drop escapes, so that only the quotes that open and close strings remain
        raw = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    outside_strings = b"".join(raw.split(b'"')[::2])
    bits = outside_strings.translate(_OPENERS_AS_ONES, _NOT_BRACKETS)
    if bits.count(b"1") <= limit:
        return False
    if b"1" * (limit + 1) in bits:  # a run of openers deep enough settles it at once
        return True
    bits += b"0" * (-len(bits) % 8)  # closers at the end change no depth reached before them
    packed = int(bits, 2).to_bytes(len(bits) // 8, "big")
    depth_before = accumulate(array("b", packed.translate(_NET)), initial=0)
    return max(map(add, depth_before, array("b", packed.translate(_PEAK)))) > limit
