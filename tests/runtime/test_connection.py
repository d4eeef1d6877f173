"""ContactConnection's own edges, against a real emulator: a socket that ends while the gap is still filling."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from botkit.connect.client import ParticipantClient
from botkit.connect.control import ControlPlaneClient
from botkit.connect.models import Item, TranscriptPage
from botkit.connect.secrets import Secret
from botkit.runtime.connection import ConnectionSettings, ContactConnection


class StalledTranscript(ParticipantClient):
    """A participant client whose GetTranscript never answers, so the gap fill is still running when the socket ends."""

    def __init__(self, endpoint: str) -> None:
        super().__init__(endpoint)
        self.fill_started = asyncio.Event()
        self.fill_cancelled = asyncio.Event()

    async def get_transcript(self, connection_token: Secret, **options: Any) -> TranscriptPage:
        self.fill_started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.fill_cancelled.set()
            raise
        raise AssertionError("unreachable: the wait above never ends by itself")


class OneSocket:
    """A feed that is finished once its first socket has come up, so the connection loop runs exactly once."""

    contact_id = "contact-under-test"

    def __init__(self) -> None:
        self.connections = 0

    def feed(self, item: Item) -> None:
        raise AssertionError("nothing can be fed: the transcript never answers")

    def seen(self, item_id: str) -> bool:
        return False

    def connected(self, connection_token: Secret) -> None:
        self.connections += 1

    def live(self) -> None:
        raise AssertionError("the gap fill never completes, so the feed never goes live")

    @property
    def finished(self) -> bool:
        return self.connections > 0


async def test_a_socket_ending_while_the_gap_fills_cancels_the_fill_cleanly(
    emulator: Any, caplog: pytest.LogCaptureFixture
) -> None:
    info = emulator.config
    control = ControlPlaneClient(emulator.base_url, info.region)
    client = StalledTranscript(emulator.base_url)
    try:
        chat = await control.start_chat_contact(info.instance_id, info.contact_flow_id, "Ada")
        bot = await control.create_participant(info.instance_id, chat.contact_id, "Bot")
        feed = OneSocket()
        # The socket "rotates" after 50 ms while GetTranscript is still pending: the fill task is mid-flight.
        settings = ConnectionSettings(rotate_after=0.05, heartbeat_interval=1.0, backoff_base=0.01, backoff_max=0.02)
        connection = ContactConnection(client, bot.participant_token, feed, settings)
        caplog.set_level(logging.INFO, logger="botkit.runtime.connection")
        await asyncio.wait_for(connection.run(), 10)
    finally:
        await client.close()
        await control.close()
    assert client.fill_started.is_set() and client.fill_cancelled.is_set()
    assert feed.connections == 1
    messages = [record.getMessage() for record in caplog.records]
    assert not any("unexpected failure" in message for message in messages), messages
    assert not any(record.exc_info for record in caplog.records), messages
    assert any("socket ended (rotated before its limits)" in message for message in messages), messages
