"""Workers that die at the worst moments, on a Redis of the test's own: real `botkit serve` processes, a `botkit
emulator`, SIGKILL.

- Killed between CreateParticipant and the contact's first save: the emulator holds CreateParticipant's answer
  (the participant is made, the worker never hears of it), the worker is killed, and the worker that takes the
  contact over asks under the same ClientToken. It gets that participant back: one bot in the chat, one stream on
  message streaming, and the customer is answered once.
- On message streaming, one of three workers killed mid-run: every message is still answered once, in order.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp

from botkit.connect import vocabulary as v
from botkit.connect.client import ParticipantClient
from tests.store.redis_server import RedisServer
from tests.test_resume import STREAMING, notes, write_counter_bot
from tests.test_workers import (
    LEASE,
    emulator_process,
    owned_by,
    redis_server,  # noqa: F401  (the fixture)
    round_of,
    start_talkers,
    start_worker,
    workers,
)

HELD = {"answer_latency_ms": [60_000, 60_000], "operations": ["CreateParticipant"]}
"""CreateParticipant is done at once and answered a minute later: long after the worker is killed."""


async def put_faults(emulator_url: str, spec: dict[str, Any]) -> None:
    async with aiohttp.ClientSession() as http, http.put(f"{emulator_url}/emulator/faults", json=spec) as answer:
        assert answer.status == 200, await answer.text()


async def contact_summary(emulator_url: str, contact_id: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http, http.get(f"{emulator_url}/emulator/contacts/{contact_id}") as answer:
        assert answer.status == 200, await answer.text()
        return dict(await answer.json())


def custom_bots(summary: dict[str, Any]) -> list[str]:
    return [p["ParticipantId"] for p in summary["Participants"] if p["ParticipantRole"] == v.CUSTOM_BOT]


async def test_a_worker_killed_between_create_participant_and_its_first_save_leaves_one_bot(
    tmp_path: Path, redis_server: RedisServer, transport: str  # noqa: F811
) -> None:
    async with emulator_process(tmp_path) as emulator_url:
        extra = STREAMING if transport == "streaming" else ""
        log = write_counter_bot(tmp_path, emulator_url, f"{{url: '{redis_server.url}', lease_seconds: {LEASE}}}", extra=extra)
        await put_faults(emulator_url, HELD)
        first = await start_worker(tmp_path, 0)
        second = None
        try:
            async with ParticipantClient(emulator_url) as participant:
                [talker] = await start_talkers(participant, emulator_url, 1)
                made: list[str] = []

                async def bot_made() -> bool:
                    made[:] = custom_bots(await contact_summary(emulator_url, talker.contact_id))
                    return bool(made)

                async with asyncio.timeout(20):
                    while not await bot_made():
                        await asyncio.sleep(0.05)
                first.process.kill()  # CreateParticipant is done; its answer, and the first save, never come
                await first.process.wait()
                await put_faults(emulator_url, {})
                second = await start_worker(tmp_path, 1)  # takes the unacknowledged offer once its claim is LEASE old
                await talker.say(1)
                summary = await contact_summary(emulator_url, talker.contact_id)
                joined = [
                    item.participant_id
                    async for item in participant.iter_transcript(talker.token, sort_order=v.ASCENDING)
                    if item.content_type == v.EVENT_PARTICIPANT_JOINED and item.participant_role == v.CUSTOM_BOT
                ]
                await talker.close()
        finally:
            for worker in (first, second):
                if worker is not None and worker.process.returncode is None:
                    worker.process.kill()
                    await worker.process.wait()
    assert joined == made, f"the chat saw bots {joined} join; the dead worker had made {made}"
    assert custom_bots(summary) == made
    assert talker.answers == ["1: m1"]
    if transport == "streaming":
        assert len(summary["Streams"]) == 1, summary["Streams"]
    assert [n["kind"] for n in notes(log)] == ["start"]


async def test_three_streaming_workers_one_killed_every_message_answered_once_in_order(
    tmp_path: Path, redis_server: RedisServer  # noqa: F811
) -> None:
    contacts, messages = 30, 5
    async with emulator_process(tmp_path) as emulator_url:
        log = write_counter_bot(
            tmp_path, emulator_url, f"{{url: '{redis_server.url}', lease_seconds: {LEASE}}}", extra=STREAMING
        )
        async with workers(tmp_path, 3) as running, ParticipantClient(emulator_url) as participant:
            talkers = await start_talkers(participant, emulator_url, contacts)
            await round_of(talkers, 1)
            killed = await owned_by(redis_server.url, running[0].process.pid)
            assert killed, "the worker to kill owns no contact"
            await round_of(talkers, 2)
            killed_at = time.monotonic()
            running[0].process.kill()
            await running[0].process.wait()
            for number in range(3, messages + 1):
                await round_of(talkers, number)
            for talker in talkers:
                await talker.close()
    expected = [f"{n}: m{n}" for n in range(1, messages + 1)]
    after_kill = [w for t in talkers if t.contact_id in killed for w, s in zip(t.waits, t.sent_at) if s >= killed_at]
    resumed = {n["contact"] for n in notes(log) if n["kind"] == "resume"}
    print(
        f"\n{contacts} contacts on streaming, {len(killed)} on the killed worker; longest wait for an answer after the"
        f" SIGKILL {max(after_kill):.2f} s (lease {LEASE} s)"
    )
    for talker in talkers:
        assert talker.answers == expected, (talker.contact_id in killed, talker.answers)
    assert killed <= resumed
    assert len([n for n in notes(log) if n["kind"] == "start"]) == contacts
