"""Two `botkit serve` workers on one Redis with `transport: streaming`, each subscribed on the emulator with its own
SNS URL, so that every notification reaches both. Each is taken by one worker only (its MessageId marked in
Redis), and one for a contact the other worker owns is handed to that worker through Redis. Every message is
answered exactly once, in order, by a counter kept in `session.state`.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import aiohttp

from botkit.connect.client import ParticipantClient
from tests.store.redis_server import RedisServer
from tests.test_resume import STREAMING, notes, write_counter_bot
from tests.test_workers import (
    LEASE,
    emulator_process,
    metrics_of,
    owned_by,
    redis_server,  # noqa: F401  (the fixture)
    round_of,
    start_talkers,
    workers,
)

CONTACTS = 20
MESSAGES = 5
OUTCOMES = ("queued", "held", "ignored", "busy", "handed", "duplicate")


def notifications(metrics: str) -> dict[str, int]:
    """What became of the SNS notifications this worker received (botkit_streaming_notifications_total)."""
    counts = {outcome: 0 for outcome in OUTCOMES}
    for outcome, value in re.findall(r'^botkit_streaming_notifications_total\{outcome="(\w+)"\} (\S+)$', metrics, re.M):
        counts[outcome] = int(float(value))
    found = re.search(r'^botkit_sns_messages_total\{outcome="accepted",type="Notification"\} (\S+)$', metrics, re.M)
    counts["received"] = int(float(found.group(1))) if found else 0
    return counts


def taken(counts: list[dict[str, int]]) -> int:
    """Notifications taken by some worker. One handed over is counted "handed" by its receiver, then again as its
    owner queues it: only the latter counts here."""
    return sum(c[o] for c in counts for o in ("queued", "held", "ignored", "busy"))


async def delivery_stats(emulator_url: str) -> dict[str, int]:
    async with aiohttp.ClientSession() as http, http.get(f"{emulator_url}/emulator/faults/stats") as answer:
        return dict((await answer.json())["streaming"])


async def test_two_streaming_workers_take_each_notification_once_and_hand_it_to_the_owner(
    tmp_path: Path, redis_server: RedisServer  # noqa: F811
) -> None:
    async with emulator_process(tmp_path) as emulator_url:
        log = write_counter_bot(
            tmp_path, emulator_url, f"{{url: '{redis_server.url}', lease_seconds: {LEASE}}}", extra=STREAMING
        )
        async with workers(tmp_path, 2) as running, ParticipantClient(emulator_url) as participant:
            talkers = await start_talkers(participant, emulator_url, CONTACTS)
            for number in range(1, MESSAGES + 1):
                await round_of(talkers, number)
            owned = [await owned_by(redis_server.url, worker.process.pid) for worker in running]
            # The last answers' own notifications may still be on their way, or waiting in their owner's inbox.
            async with asyncio.timeout(10):
                while True:
                    counts = [notifications(await metrics_of(worker.url)) for worker in running]
                    sent = await delivery_stats(emulator_url)
                    if sum(c["received"] for c in counts) == sent["notifications"] and taken(counts) == sum(
                        c["duplicate"] for c in counts
                    ):
                        break
                    await asyncio.sleep(0.1)
            for talker in talkers:
                await talker.close()

    for number, (worker, count) in enumerate(zip(owned, counts, strict=True)):
        print(f"\nworker {number}: owns {len(worker)} contacts; notifications {count}")
    print(f"emulator: {sent}")
    expected = [f"{n}: m{n}" for n in range(1, MESSAGES + 1)]
    for talker in talkers:
        assert talker.answers == expected, (talker.contact_id, talker.answers)
    assert all(owned), f"a worker owns no contact: {[len(o) for o in owned]}"
    starts = [n for n in notes(log) if n["kind"] == "start"]
    assert sorted(n["contact"] for n in starts) == sorted(t.contact_id for t in talkers)
    received = sum(c["received"] for c in counts)
    duplicates = sum(c["duplicate"] for c in counts)
    assert received == sent["notifications"] > 0 and sent["dropped"] == 0
    # Every notification came twice, once to each worker: one copy was taken, the other was a duplicate.
    assert (taken(counts), duplicates) == (received // 2, received // 2)
    assert all(c["handed"] > 0 for c in counts), counts
    assert sum(c["busy"] for c in counts) == 0
