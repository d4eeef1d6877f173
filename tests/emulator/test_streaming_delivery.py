"""SNS's delivery promises, kept by the emulator: retries on 5xx, time-outs and refused connections, none on 4xx;
and the streaming faults (duplicates, reordering, delays), seeded and counted."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
import pytest

from botkit.emulator import Emulator, EmulatorConfig
from botkit.emulator.faults import NO_DELIVERY_FAULTS
from botkit.emulator.sns_delivery import Courier, DeliveryPolicy, StreamingStats, Subscriber
from botkit.emulator.sns_messages import Envelope, envelope, notification
from botkit.emulator.wireformat import new_id
from tests.emulator.snsclient import SnsSubscriber, eventually, verify
from tests.emulator.test_streaming import FAST, certificate, streamed_customer, subscribed
from tests.emulator.wsclient import running_api

RETRY_DELAY = 20.0 * FAST["sns_retry_delay_factor"]
TOPIC = "arn:aws:sns:us-east-1:123456789012:botkit-chat"


@pytest.fixture
async def emulator():
    async with Emulator(EmulatorConfig(**FAST)) as running:
        yield running


@pytest.fixture
async def api(emulator):
    async with running_api(emulator.base_url) as api:
        yield api


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


def failing(content: str, status: int):
    """An answer that gives `status` to the notification carrying `content`, 200 to everything else."""

    def answer(message: dict[str, Any]) -> int:
        return status if message["Type"] == "Notification" and content in message["Message"] else 200

    return answer


def attempts_of(sns: SnsSubscriber, content: str) -> list[Any]:
    return [n for n in sns.notifications if n.item.get("Content") == content]


async def test_a_5xx_is_retried_three_times_at_the_policy_interval_then_dropped(api, emulator, http, caplog) -> None:
    async with SnsSubscriber(failing("doomed", 500)) as sns:
        await subscribed(api, http, sns)
        customer = await streamed_customer(api, emulator)
        await api.send_message(customer, "doomed")
        await sns.wait_until(lambda: len(attempts_of(sns, "doomed")) == 4)
        await eventually(lambda: emulator.streaming.stats.dropped == 1)
        attempts = attempts_of(sns, "doomed")
        assert len({a.body for a in attempts}) == 1  # the same request each time: same MessageId, same signature
        gaps = [later.at - earlier.at for earlier, later in zip(attempts, attempts[1:], strict=False)]
        assert all(gap >= RETRY_DELAY * 0.9 for gap in gaps), gaps
        stats = emulator.streaming.stats
        assert (stats.failed_attempts, stats.retries, stats.dropped, stats.refused) == (4, 3, 1, 0)
        assert "dropped after 3 retries" in caplog.text
        with pytest.raises(TimeoutError):  # and never a fifth
            await sns.wait_until(lambda: len(attempts_of(sns, "doomed")) > 4, timeout=RETRY_DELAY * 3)


async def test_a_5xx_then_success_delivers_on_a_retry(api, emulator, http) -> None:
    answers = iter([503, 502])

    def flaky(message: dict[str, Any]) -> int:
        return next(answers, 200) if message["Type"] == "Notification" else 200

    async with SnsSubscriber(flaky) as sns:
        await subscribed(api, http, sns)
        customer = await streamed_customer(api, emulator)
        await api.send_message(customer, "third time lucky")
        await sns.wait_until(lambda: any(n.status == 200 for n in sns.notifications))
        assert [n.status for n in sns.notifications] == [503, 502, 200]
        pem = await certificate(http, sns.notifications[0].message["SigningCertURL"])
        verify(sns.notifications[-1].message, pem)
        await eventually(lambda: emulator.streaming.stats.delivered == 2)  # the confirmation and the notification
        assert emulator.streaming.stats.dropped == 0


async def test_a_4xx_is_final(api, emulator, http) -> None:
    async with SnsSubscriber(failing("refused", 400)) as sns:
        await subscribed(api, http, sns)
        customer = await streamed_customer(api, emulator)
        await api.send_message(customer, "refused")
        await api.send_message(customer, "accepted")
        await sns.wait_until(lambda: len(attempts_of(sns, "accepted")) == 1)
        assert emulator.streaming.stats.refused == 1
        with pytest.raises(TimeoutError):  # no retry comes in the time three would have taken
            await sns.wait_until(lambda: len(attempts_of(sns, "refused")) > 1, timeout=RETRY_DELAY * 4)
        assert (emulator.streaming.stats.retries, emulator.streaming.stats.failed_attempts) == (0, 0)


async def test_a_refused_connection_is_retried_until_the_subscriber_is_back(http) -> None:
    config = EmulatorConfig(**{**FAST, "sns_retry_delay_factor": 0.05})  # 1 s between retries: time to restart
    async with SnsSubscriber() as sns, Emulator(config) as emulator, running_api(emulator.base_url) as api:
        await subscribed(api, http, sns)
        customer = await streamed_customer(api, emulator)
        await sns.stop()
        await api.send_message(customer, "while down")
        await eventually(lambda: emulator.streaming.stats.failed_attempts == 1)
        await sns.start()  # the same port, as a bot restarting in place
        (received,) = await sns.wait_for(1)
        assert received.item["Content"] == "while down"
        assert emulator.streaming.stats.retries == 1 and emulator.streaming.stats.dropped == 0


async def test_a_time_out_is_retried(http) -> None:
    config = EmulatorConfig(**{**FAST, "sns_delivery_timeout": 0.3})
    hung = asyncio.Event()

    async def first_hangs(message: dict[str, Any]) -> int:
        if message["Type"] == "Notification" and not hung.is_set():
            hung.set()
            await asyncio.Event().wait()  # never answers; the emulator gives up on it
        return 200

    async with SnsSubscriber(first_hangs) as sns, Emulator(config) as emulator, running_api(emulator.base_url) as api:
        await subscribed(api, http, sns)
        customer = await streamed_customer(api, emulator)
        await api.send_message(customer, "slow")
        await sns.wait_until(lambda: any(n.status == 200 for n in sns.notifications))
        first, retried = sns.notifications
        assert first.body == retried.body and retried.at - first.at >= 0.3
        assert emulator.streaming.stats.failed_attempts == 1


async def test_a_retry_holds_back_no_other_delivery(http) -> None:
    config = EmulatorConfig(**{**FAST, "sns_retry_delay_factor": 0.25})  # 5 s before the first retry
    async with (
        SnsSubscriber(failing("stuck", 500)) as sns,
        Emulator(config) as emulator,
        running_api(emulator.base_url) as api,
    ):
        await subscribed(api, http, sns)
        stuck, other = await streamed_customer(api, emulator), await streamed_customer(api, emulator)
        await api.send_message(stuck, "stuck")
        await sns.wait_until(lambda: len(attempts_of(sns, "stuck")) == 1)
        await api.send_message(stuck, "same contact, later")
        await api.send_message(other, "another contact")
        await sns.wait_for(3, timeout=2.0)  # well before the retry is due
        assert sns.contents() == ["stuck", "same contact, later", "another contact"]
        assert emulator.streaming.stats.retries == 0


async def test_contacts_whose_deliveries_hang_hold_up_no_other_contact() -> None:
    """SNS keeps no cap of its own on concurrent deliveries: however many contacts wait on a slow answer, another
    contact's notification goes out at once (a pooled client would queue it behind the first 100)."""
    released = asyncio.Event()

    async def answer(message: dict[str, Any]) -> int:
        if json.loads(message["Message"])["ContactId"] != "quick":
            await released.wait()
        return 200

    stats = StreamingStats()
    courier = Courier(DeliveryPolicy(timeout=30.0), stats)
    async with SnsSubscriber(answer) as sns:
        subscriber = Subscriber(sns.url, courier)
        try:
            for number in range(120):
                subscriber.notify(_envelope(f"slow-{number}"), NO_DELIVERY_FAULTS)
            await sns.wait_for(100)
            subscriber.notify(_envelope("quick"), NO_DELIVERY_FAULTS)
            await sns.wait_until(lambda: any(n.item["ContactId"] == "quick" for n in sns.notifications))
            assert not [n for n in sns.notifications if n.status and n.item["ContactId"] != "quick"]  # all held
        finally:
            released.set()
            await subscriber.close()
            await courier.close()


def _envelope(contact_id: str) -> Envelope:
    item = {"Id": new_id(), "ContactId": contact_id, "Type": "MESSAGE", "ContentType": "text/plain", "Content": "hi"}
    return envelope(notification(TOPIC, item), "http://127.0.0.1:1/cert.pem", contact_id=contact_id)


async def test_contacts_are_delivered_in_order_each(api, emulator, http) -> None:
    async with SnsSubscriber() as sns:
        await subscribed(api, http, sns)
        customers = [await streamed_customer(api, emulator) for _ in range(3)]
        await asyncio.gather(
            *(
                _send_all(api, customer, [f"{customer.contact_id} {n}" for n in range(5)])
                for customer in customers
            )
        )
        await sns.wait_for(15)
        for customer in customers:
            said = [n.item["Content"] for n in sns.notifications if n.item["ContactId"] == customer.contact_id]
            assert said == [f"{customer.contact_id} {n}" for n in range(5)]


async def _send_all(api: Any, customer: Any, contents: list[str]) -> None:
    for content in contents:
        await api.send_message(customer, content)


# Streaming faults -----------------------------------------------------------


async def _faulty_run(http: aiohttp.ClientSession, streaming: dict[str, Any], count: int, seed: int | None = 7):
    """A fresh emulator with the faults applied; `count` messages; what the subscriber saw and the counts."""
    async with SnsSubscriber() as sns, Emulator(EmulatorConfig(**FAST)) as emulator:
        async with running_api(emulator.base_url) as api:
            await subscribed(api, http, sns)
            await api.set_faults(streaming=streaming, seed=seed)
            customer = await streamed_customer(api, emulator)
            for n in range(count):
                await api.send_message(customer, f"m{n}")
            stats = emulator.streaming.stats
            # settled: every notification and every duplicate answered (the 1 is the SubscriptionConfirmation)
            await eventually(
                lambda: stats.notifications == count and stats.delivered == 1 + count + stats.duplicated
            )
            reported = (await api.ok("GET", "/emulator/faults/stats"))["streaming"]
            return sns.notifications, reported


async def test_duplicates_are_the_same_notification_twice(http) -> None:
    received, stats = await _faulty_run(http, {"duplicate_rate": 1}, 4)
    assert [n.item["Content"] for n in received] == ["m0", "m0", "m1", "m1", "m2", "m2", "m3", "m3"]
    for first, second in zip(received[::2], received[1::2], strict=True):
        assert first.body == second.body  # same MessageId, same signature: what SNS's at-least-once gives
    assert stats["duplicated"] == 4 and stats["notifications"] == 4


async def test_reordering_sends_a_notification_after_the_next(http) -> None:
    received, stats = await _faulty_run(http, {"reorder_rate": 1, "reorder_hold_seconds": 2}, 4)
    assert [n.item["Content"] for n in received] == ["m1", "m0", "m3", "m2"]
    assert stats["reordered"] == 2


async def test_delays_let_later_notifications_pass(http) -> None:
    async with SnsSubscriber() as sns, Emulator(EmulatorConfig(**FAST)) as emulator:
        async with running_api(emulator.base_url) as api:
            await subscribed(api, http, sns)
            customer = await streamed_customer(api, emulator)
            await api.set_faults(streaming={"delay_rate": 1, "delay_seconds": 0.5})
            sent_at = time.monotonic()
            await api.send_message(customer, "late")
            await api.set_faults()
            await api.send_message(customer, "on time")
            await sns.wait_for(2)
            assert sns.contents() == ["on time", "late"]
            assert sns.notifications[1].at - sent_at >= 0.5
            assert (await api.ok("GET", "/emulator/faults/stats"))["streaming"]["delayed"] == 1


async def test_the_seed_fixes_the_pattern_of_streaming_faults(http) -> None:
    faults = {"duplicate_rate": 0.3, "reorder_rate": 0.3, "reorder_hold_seconds": 3}  # the next send always comes in time
    first, first_stats = await _faulty_run(http, faults, 12, seed=11)
    again, again_stats = await _faulty_run(http, faults, 12, seed=11)
    pattern = [n.item["Content"] for n in first]
    assert [n.item["Content"] for n in again] == pattern
    assert first_stats == again_stats
    assert first_stats["duplicated"] > 0 and first_stats["reordered"] > 0  # the seed injects both
    assert pattern != sorted(set(pattern), key=lambda content: int(content[1:]))


async def test_the_streaming_fault_spec_is_validated(api) -> None:
    reply = await api.call("PUT", "/emulator/faults", {"streaming": {"duplicate_rate": 2}})
    assert reply.status == 400 and "streaming.duplicate_rate" in reply.body["message"]
    reply = await api.call("PUT", "/emulator/faults", {"streaming": {"drop_rate": 0.1}})
    assert reply.status == 400 and "drop_rate" in reply.body["message"]
    applied = await api.set_faults(streaming={"delay_rate": 0.5, "delay_seconds": 2})
    assert applied["streaming"] == {
        "duplicate_rate": 0.0,
        "reorder_rate": 0.0,
        "reorder_hold_seconds": 1.0,
        "delay_rate": 0.5,
        "delay_seconds": 2,
    }

