"""A contact handed in on message streaming, then resumed by another worker, keeps its one stream.

A handed-in token has no StartContactStreaming before CreateParticipant: the hand-in starts the stream before the
contact's first save, so its StreamingId is in the record, and a worker that resumes the contact reconnects to that
stream instead of starting a second one (which would publish every item twice). Real SQLite store, real emulator,
each worker with its own SNS route; the first leaves its contacts as a rolled worker does (`abandon`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer

from botkit import hookimpl
from botkit.connect.client import ParticipantClient
from botkit.connect.control import ControlPlaneClient
from botkit.connect.secrets import Secret
from botkit.connect.sns import SnsVerifier
from botkit.emulator import Emulator, EmulatorConfig
from botkit.plugins import new_plugin_manager
from botkit.runtime.dispatch import Dispatcher
from botkit.runtime.fleet import Fleet
from botkit.runtime.manager import SessionManager
from botkit.runtime.ownership import Ownership, new_worker_id
from botkit.runtime.streaming import Streaming, StreamingSettings
from botkit.server import SnsRoute, build_intake_app
from botkit.store import SqliteStore
from tests.runtime.harness import Customer
from tests.runtime.test_hand_in import new_bot_participant, start_chat

TOPIC = "arn:aws:sns:us-east-1:123456789012:hand-in-resume"
LEASE = 3.0


class Counter:
    """Counts in `session.state` and answers with the count: a repeated or lost event shows in the numbers."""

    def __init__(self) -> None:
        self.handled: list[str] = []
        self.resumed: list[int] = []

    @hookimpl
    async def on_session_resume(self, session: Any) -> None:
        self.resumed.append(session.state.get("count", 0))

    @hookimpl
    async def on_message(self, session: Any, message: Any) -> None:
        self.handled.append(message.id)
        session.state["count"] = session.state.get("count", 0) + 1
        await session.send_message(f"{session.state['count']}: {message.content}")


@dataclass
class Worker:
    manager: SessionManager
    ownership: Ownership
    fleet: Fleet


@asynccontextmanager
async def worker(emulator: Emulator, database: Path, counter: Counter) -> AsyncIterator[Worker]:
    """One bot worker on the SQLite store, subscribed to the topic with its own SNS URL; on the way out it leaves
    its contacts to the next worker (no on_session_end, leases released, streams kept)."""
    plugins = new_plugin_manager()
    plugins.register(counter, name="counter")
    participants = ParticipantClient(emulator.base_url)
    control = ControlPlaneClient(emulator.base_url, emulator.config.region)
    dispatcher = Dispatcher(plugins)
    streaming = Streaming(participants, control, emulator.config.instance_id, StreamingSettings(TOPIC))
    store = SqliteStore(database, LEASE)
    managers: list[SessionManager] = []
    ownership = Ownership(store, new_worker_id(store), on_lost=lambda c: managers[0].lost(c), info=lambda: {})
    manager = SessionManager(
        participants, control, dispatcher, instance_id=emulator.config.instance_id, transports=streaming,
        ownership=ownership,
    )
    managers.append(manager)
    verifier = SnsVerifier(topic_arns=(TOPIC,), trusted_cert_hosts=(), plain_http_hosts=(f"127.0.0.1:{emulator.port}",))
    route = SnsRoute("/sns", verifier, streaming)
    server = TestServer(build_intake_app(manager, lambda: True, sns=route), host="127.0.0.1")
    await server.start_server()
    subscription = {"StreamingEndpointArn": TOPIC, "Urls": [f"http://127.0.0.1:{server.port}/sns"]}
    fleet = Fleet(manager, ownership, max_sessions=10)
    try:
        async with aiohttp.ClientSession() as http:
            async with http.put(f"{emulator.base_url}/emulator/streaming-endpoints", json=subscription) as answer:
                assert answer.status == 200, await answer.text()
        await asyncio.wait_for(route.confirmed.wait(), 10)
        await ownership.beat()
        ownership.start()
        await fleet.start()
        yield Worker(manager, ownership, fleet)
    finally:
        await fleet.stop(grace=5)
        await manager.shutdown(grace=5, leave=False)
        await ownership.stop()
        async with aiohttp.ClientSession() as http:
            body = {"StreamingEndpointArn": TOPIC, "Url": subscription["Urls"][0]}
            async with http.delete(f"{emulator.base_url}/emulator/streaming-endpoints", json=body):
                pass
        await streaming.close()
        await server.close()
        await route.close()
        await store.close()
        await participants.close()
        await control.close()
        await dispatcher.close()


async def answered(customer: Customer, text: str) -> None:
    await customer.wait_for(lambda items: text in customer.bot_messages(), timeout=15)


async def test_a_contact_handed_in_on_streaming_is_resumed_on_its_one_stream(tmp_path: Path) -> None:
    counter = Counter()
    database = tmp_path / "sessions.db"
    async with Emulator(EmulatorConfig(port=0, sns_retry_delay_factor=0.005)) as emulator:
        customer, _ = await start_chat(emulator.base_url)
        contact = emulator.center.contacts[customer.contact_id]
        bot = await new_bot_participant(customer)
        async with worker(emulator, database, counter) as first:
            await first.manager.hand_in(customer.contact_id, Secret(bot["ParticipantToken"]), bot["ParticipantId"])
            await customer.send("a")
            await answered(customer, "1: a")
            streams = list(contact.streaming)
            assert len(streams) == 1
            record = await first.ownership.store.load(customer.contact_id)
            assert record is not None and record.streaming_id == streams[0]
        await customer.send("b")  # while no worker holds the contact
        async with worker(emulator, database, counter) as second:
            await answered(customer, "2: b")
            await customer.send("c")
            await answered(customer, "3: c")
            assert list(second.manager.sessions) == [customer.contact_id]
            assert list(contact.streaming) == streams, "the resumed session started a stream of its own"
        await customer.close()
    assert customer.bot_messages() == ["1: a", "2: b", "3: c"]
    assert len(counter.handled) == len(set(counter.handled)) == 3, "an item was dispatched twice"
    assert counter.resumed == [1]
