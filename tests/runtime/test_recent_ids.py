"""The bounded id set behind exactly-once: it may forget only ids older than its newest `limit`."""

from __future__ import annotations

from botkit.runtime.session import _RecentIds


def test_the_newest_ids_are_always_remembered_and_the_oldest_forgotten() -> None:
    recent = _RecentIds(64)
    for number in range(1000):
        recent.add(f"id-{number}")
        newest = range(max(0, number - 63), number + 1)
        assert all(f"id-{n}" in recent for n in newest)
    assert "id-0" not in recent and "id-900" not in recent
    assert "id-936" in recent and "id-999" in recent

