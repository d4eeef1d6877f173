"""Notifications among workers on a shared store: each taken once, by the worker that owns its contact.

SNS delivers every notification to every subscription, and a load balancer sends one to any worker. So a worker
first marks the MessageId in the store (`seen_once`): only the first worker to do so goes on, whichever copy
it got. A notification for a contact whose session runs here is fed to it; one for a contact another worker
owns (its record names the owner) is handed over to that worker through the store (`hand_over`), and the owner
feeds it to its session (`run`). Either way the session decides exactly-once by item Id, as always.

The answer to SNS waits for that: 2xx once the item is queued here or stored for its owner; if either fails
the mark is dropped again (`unsee`) and SNS gets a 5xx, so its retry is taken. A notification for a contact
with no owner yet (being joined) or an owner that died is not needed: a session reads the transcript forward
from its last handled item when it opens or resumes.
"""

from __future__ import annotations

import asyncio
import logging

from botkit.connect.models import Item
from botkit.runtime import metrics
from botkit.runtime.ownership import RETRY_PAUSE, Ownership, timed
from botkit.runtime.streaming import Delivery, Streaming

log = logging.getLogger(__name__)

MESSAGE_ID_SECONDS = 3_600.0
"""How long a MessageId is remembered across workers: SNS gives up retrying long before, and a message older
than an hour is refused by its timestamp anyway."""
TAKE_WAIT = 1.0
TAKE_BATCH = 64


class Relay:
    """This worker's part in routing notifications: dedupe across workers, hand over, take what is handed here."""

    def __init__(self, streaming: Streaming, ownership: Ownership) -> None:
        self._streaming = streaming
        self._ownership = ownership
        self._store = ownership.store
        self._task: asyncio.Task[None] | None = None

    async def deliver(self, message_id: str, item: Item) -> Delivery:
        """What became of a verified notification; raises when it could be neither queued nor handed over."""
        key = f"sns:{message_id}"
        if not await timed("seen_once", self._store.seen_once(key, MESSAGE_ID_SECONDS)):
            metrics.STREAMING_NOTIFICATIONS.labels(Delivery.DUPLICATE.value).inc()
            return Delivery.DUPLICATE
        try:
            outcome = await self._route(message_id, item)
        except BaseException:
            await self._store.unsee(key)
            raise
        if outcome is Delivery.BUSY:
            await self._store.unsee(key)
        return outcome

    async def _route(self, message_id: str, item: Item) -> Delivery:
        contact_id = item.contact_id or ""
        if not self._streaming.serves(contact_id):
            record = await timed("load", self._store.load(contact_id))
            owner = None if record is None else record.owner
            if owner is not None and owner != self._ownership.worker_id:
                await timed("hand_over", self._store.hand_over(owner, {"message_id": message_id, "item": dict(item.raw)}))
                metrics.STREAMING_NOTIFICATIONS.labels(Delivery.HANDED.value).inc()
                return Delivery.HANDED
        return self._streaming.deliver(message_id, item)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self.run(), name="botkit-relay")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def run(self) -> None:
        """Feed the notifications other workers handed over to this one, oldest first."""
        worker_id = self._ownership.worker_id
        while True:
            try:
                handed = await self._store.take_handed(worker_id, count=TAKE_BATCH, wait_seconds=TAKE_WAIT)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("could not take notifications handed over (%s); retrying", type(error).__name__)
                await asyncio.sleep(RETRY_PAUSE)
                continue
            for message in handed:
                self._streaming.deliver(str(message["message_id"]), Item.from_wire(message["item"]))
