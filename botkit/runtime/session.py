"""One contact's session: ordered, de-duplicated events, the participants, state, and the send API.

Items come from the session's transport (a websocket, or message streaming; see runtime/transport.py),
and the session never knows which: `feed` drops what was seen and queues the rest in order; one consumer
task hands them to the hooks, one at a time.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import logging
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, TypeVar

import aiohttp

from botkit.connect import vocabulary as v
from botkit.connect.client import ParticipantClient
from botkit.connect.control import ControlPlaneClient, checked_attributes
from botkit.connect.errors import ParticipantConnectionError, ParticipantServiceError
from botkit.connect.models import Item, SendResult
from botkit.connect.secrets import Secret
from botkit.runtime import metrics
from botkit.runtime.connection import ConnectionSettings, ContactConnection
from botkit.runtime.dispatch import Dispatcher
from botkit.runtime.persistence import Keeper, LeaseLost, SessionState
from botkit.runtime.policies import Receipts, ReceiptSettings, TypingThrottle
from botkit.runtime.transport import ChatOver, OpenTransport
from botkit.store import Fenced

log = logging.getLogger(__name__)

T = TypeVar("T")

_TOKEN_PERSONALISATION = b"botkit-send"
_SESSION_START = "session-start"
"""What on_session_start's sends are derived from, in place of an item id."""
RECENT_IDS = 4096
SENT_IDS = 256
QUEUE_LIMIT = 10_000
# At shutdown, after the grace: how long on_session_end may take, and then leaving the chat, so that the
# process exits within the grace plus a few seconds.
SHUTDOWN_END_SECONDS = 1.5
SHUTDOWN_LEAVE_SECONDS = 1.0

_EVENT_HOOKS = {
    v.EVENT_TYPING: "on_typing",
    v.EVENT_PARTICIPANT_JOINED: "on_participant_joined",
    v.EVENT_PARTICIPANT_LEFT: "on_participant_left",
    v.EVENT_TRANSFER_SUCCEEDED: "on_transfer",
    v.EVENT_TRANSFER_FAILED: "on_transfer",
    v.EVENT_CHAT_ENDED: "on_chat_ended",
    v.EVENT_MESSAGE_DELIVERED: "on_receipt",
    v.EVENT_MESSAGE_READ: "on_receipt",
}


@dataclass(frozen=True, slots=True)
class ChatParticipant:
    participant_id: str
    role: str
    display_name: str | None


@dataclass(frozen=True, slots=True)
class ContactControl:
    """The `connect` API for the session's own contact: a hand-off sets the contact's attributes through it.

    Attributes are keyed on the InitialContactId, the id the chat had before any transfer.
    """

    client: ControlPlaneClient
    instance_id: str
    initial_contact_id: str


@dataclass(frozen=True, slots=True)
class SessionSettings:
    receipts: ReceiptSettings = ReceiptSettings()
    typing_throttle_seconds: float = 10.0
    connection: ConnectionSettings = ConnectionSettings()
    dispatch_bot_messages: bool = False


class _Handling:
    """Which event a handler is answering, so its sends get replay-stable ClientTokens."""

    __slots__ = ("item_id", "sends")

    def __init__(self, item_id: str) -> None:
        self.item_id = item_id
        self.sends = 0


_handling: contextvars.ContextVar[_Handling | None] = contextvars.ContextVar("botkit_handling", default=None)


class Session:
    """A bot's part in one chat contact."""

    def __init__(
        self,
        contact_id: str,
        participant_token: Secret,
        client: ParticipantClient,
        dispatcher: Dispatcher,
        settings: SessionSettings | None = None,
        plugin_config: Mapping[str, Mapping[str, Any]] | None = None,
        participant_id: str | None = None,
        *,
        control: ContactControl | None = None,
        attributes: Mapping[str, str] | None = None,
        transport: OpenTransport | None = None,
        keeper: Keeper | None = None,
    ) -> None:
        """`transport` opens the link to the chat (the manager's choice); without it, a websocket. `keeper` saves
        the session after each event; a resumed one's record gives the state and the items already handled."""
        self.contact_id = contact_id
        # The contact's attributes when the flow invoked the bot; read-only: `handoff` is how a bot sets them.
        self.attributes: Mapping[str, str] = MappingProxyType(dict(attributes or {}))
        self.participant_id = participant_id
        self.state = SessionState()
        self.participants: dict[str, ChatParticipant] = {}
        self._keeper = keeper
        self._client = client
        self._dispatcher = dispatcher
        self._settings = settings or SessionSettings()
        self._plugin_config = {} if plugin_config is None else plugin_config  # may be a live view
        self._control = control
        self._connection_token: Secret | None = None
        self._loop = asyncio.get_running_loop()
        self._queue = _Inbox(QUEUE_LIMIT)
        self._recent = _RecentIds(RECENT_IDS)
        if keeper is not None and keeper.taken_up:
            self._resume_from(keeper)
        self._sent = _RecentIds(SENT_IDS)
        self._ready: asyncio.Future[None] = self._loop.create_future()
        self._refusing = False
        self._resync: asyncio.Task[None] | None = None
        self._ended_reason: str | None = None
        self._last_word: Item | None = None
        self._last_word_due: asyncio.Event | None = None
        self._leave_on_shutdown = True
        self._connecting: asyncio.Task[None] | None = None
        self._consuming: asyncio.Task[None] | None = None
        self._grace: asyncio.TimerHandle | None = None
        self._typing = TypingThrottle(self._settings.typing_throttle_seconds)
        self._receipts = Receipts(self._settings.receipts, self.send_event, self._receipts_allowed)
        if transport is None:
            settings = self._settings.connection
            transport = lambda feed: ContactConnection(client, participant_token, feed, settings)  # noqa: E731
        self._transport = transport(self)

    def __repr__(self) -> str:
        return f"Session(contact_id={self.contact_id!r}, participant_id={self.participant_id!r})"

    def _resume_from(self, keeper: Keeper) -> None:
        """Pick up where the last owner saved: its state, and the items it handled, so that the transport's gap
        fill reads back to the last of them and dispatches only what came after."""
        record = keeper.record
        self.state = SessionState(record.state)
        self.participant_id = record.participant_id or self.participant_id
        for item_id in record.recent_ids:
            self._recent.add(item_id)
        if record.last_item_id:
            self._recent.add(record.last_item_id)
        if self.participant_id is not None:  # the bot is in the chat: a refusal now means the chat ended
            self.participants[self.participant_id] = ChatParticipant(self.participant_id, v.CUSTOM_BOT, None)

    # What the transport calls ------------------------------------------------

    @property
    def finished(self) -> bool:
        return self._ended_reason is not None

    def seen(self, item_id: str) -> bool:
        return item_id in self._recent

    def connected(self, connection_token: Secret) -> None:
        """A new connection, about to fill its gap: what was refused while the queue was full comes back with it."""
        self._connection_token = connection_token
        self._refusing = False
        self._resync = None

    def feed(self, item: Item) -> None:
        """Queue `item` unless it was seen: the one place exactly-once is decided."""
        if not item.id or item.id in self._recent:
            return
        if self.finished:
            if self._last_word_due is not None and item.content_type == v.EVENT_CHAT_ENDED:
                self._recent.add(item.id)
                self._last_word = item
                self._last_word_due.set()
                return
            metrics.EVENTS_DROPPED_AFTER_END.inc()
            return
        if item.content_type == v.EVENT_CHAT_ENDED:
            self._recent.add(item.id)
            self._end("chat_ended", last_word=item)
            return
        if item.content_type == v.EVENT_PARTICIPANT_LEFT and self.participant_id is not None and item.participant_id == self.participant_id:
            self._recent.add(item.id)
            self._end("removed")
            return
        if self._refusing or self._queue.full():
            # Not marked seen, so the transcript brings it back. Once one item is refused, every
            # later one is too until the next gap fill: a later item marked seen would make that
            # fill (which stops at the newest seen item) skip the refused one.
            metrics.EVENTS_REFUSED.inc()
            if not self._refusing:
                self._refusing = True
                log.error(
                    "contact %s: event queue full; refusing items until it drains, then reading them back"
                    " from the transcript",
                    self.contact_id,
                )
            return
        self._recent.add(item.id)
        if self._echo_of_own_send(item):
            return
        self._queue.put(item)

    def _echo_of_own_send(self, item: Item) -> bool:
        """The bot's own message coming back over the socket, once the bot is tracked: nothing to do, so no queue trip.

        The first echo, one that beats its send's answer, and the bot's own participant.left still go
        through the queue, where `_handle` tracks them in order.
        """
        return (
            item.id in self._sent
            and item.participant_id is not None
            and item.participant_id in self.participants
            and item.content_type != v.EVENT_PARTICIPANT_LEFT
        )

    def _resync_when_drained(self) -> None:
        """Once a full queue is half empty, reconnect: the gap fill brings back every refused item, in order."""
        if self._refusing and self._resync is None and self._queue.size() <= self._queue.limit // 2:
            self._resync = self._loop.create_task(self._transport.resync())

    # The life of the session ----------------------------------------------------

    async def run(self) -> str:
        """Connect, dispatch until the chat is over for the bot, end the session, and return why it ended."""
        self._connecting = asyncio.create_task(self._stay_connected())
        consuming = self._consuming = asyncio.create_task(self._consume())
        # What asyncio.wait([consuming]) does, without its set, counter and inner coroutine: every idle session waits here.
        finished = self._loop.create_future()
        consuming.add_done_callback(lambda _: finished.done() or finished.set_result(None))
        try:
            await finished
        finally:
            consuming.cancel()
            self._connecting.cancel()
            self._receipts.cancel()
            if self._grace is not None:
                self._grace.cancel()
        if not consuming.cancelled() and (failure := consuming.exception()) is not None:
            raise failure
        reason = self._ended_reason or "shutdown"
        if reason == "fenced":
            await self._transport.close(final=False)
            return reason
        if reason == "shutdown" and not self._leave_on_shutdown:
            await self._transport.close(final=False)
            return "abandoned"
        try:
            await self._finish(reason)
        finally:
            await self._transport.close(final=True)
        return reason

    async def _finish(self, reason: str) -> None:
        """on_session_end, always; at shutdown, bounded in time, and then the bot leaves the chat."""
        if reason != "shutdown":
            await self._dispatcher.call("on_session_end", self, None, reason=reason)
            return
        try:
            async with asyncio.timeout(SHUTDOWN_END_SECONDS):
                await self._dispatcher.call("on_session_end", self, None, reason=reason)
        except TimeoutError:
            log.warning("contact %s: on_session_end ran past %s s at shutdown; leaving anyway",
                        self.contact_id, SHUTDOWN_END_SECONDS)
        try:
            async with asyncio.timeout(SHUTDOWN_LEAVE_SECONDS):
                await self._leave_at_shutdown()
        except (TimeoutError, ParticipantServiceError, ParticipantConnectionError, aiohttp.ClientError) as error:
            log.warning("contact %s: could not leave the chat at shutdown: %s", self.contact_id, type(error).__name__)

    async def _leave_at_shutdown(self) -> None:
        """DisconnectParticipant, so the contact flow takes its "bot participant disconnected" branch."""
        if self._connection_token is None:
            log.warning("contact %s: shut down before it connected; it cannot leave the chat", self.contact_id)
            return
        await self.disconnect()

    async def _stay_connected(self) -> None:
        try:
            await self._transport.run()
        except ChatOver:
            self._end("removed" if self._removed() else "chat_ended")
        finally:
            self._set_ready()

    def _removed(self) -> bool:
        return self.participant_id is not None and self.participant_id not in self.participants

    def live(self) -> None:
        self._set_ready()

    async def until_live(self, timeout: float) -> bool:
        """True once connected and subscribed (or still trying after `timeout`); False if the service refused it."""
        try:
            async with asyncio.timeout(timeout):
                await asyncio.shield(self._ready)
        except TimeoutError:
            return True
        return not self.finished

    def stop(self, *, grace: float | None = None, leave: bool = True) -> None:
        """The process is shutting down: the session ends, and takes no more live items.

        The handler running gets `grace` seconds, then it is cancelled. With
        `leave`, on_session_end runs and the bot leaves the chat, so the contact flow moves on; without,
        the chat is left as it is, for another worker to resume.
        """
        self._leave_on_shutdown = leave
        self._end("shutdown")
        self._set_ready()
        if self._connecting is not None:
            self._connecting.cancel()
        if grace is not None and self._grace is None:
            self._grace = self._loop.call_later(grace, self._cut_short)

    def _cut_short(self) -> None:
        if self._consuming is not None and not self._consuming.done():
            log.warning("contact %s: a handler was still running after the shutdown grace; cancelled", self.contact_id)
            self._consuming.cancel()

    def _end(self, reason: str, last_word: Item | None = None) -> None:
        """The chat is over for the bot: drop (and count) what is queued, so no plugin hears of it.

        The first reason given is the one reported. `last_word`, the chat-ended event, is still
        dispatched once, after whatever handler is running: it is the end itself, not more chat.
        """
        if self._ended_reason is not None:
            return
        self._ended_reason = reason
        self._last_word = last_word
        dropped = self._queue.clear()
        if dropped:
            metrics.EVENTS_DROPPED_AFTER_END.inc(dropped)
            log.info("contact %s: chat over (%s); %d queued event(s) dropped, not dispatched", self.contact_id, reason, dropped)
        if last_word is not None:
            self._queue.put(last_word)
        self._queue.put(_END)

    def _set_ready(self) -> None:
        if not self._ready.done():
            self._ready.set_result(None)

    async def _consume(self) -> None:
        await asyncio.shield(self._ready)
        if self._ended_reason is not None and self._queue.empty():
            return
        keeper = self._keeper
        if keeper is not None and not await keeper.may_handle():
            self._fence()
            return
        if keeper is not None and keeper.resumed:
            await self._dispatcher.call("on_session_resume", self, None)
        elif not await self._started(keeper):
            return
        while True:
            item = await self._queue.get()
            self._resync_when_drained()
            if item is _END:
                await self._last_word_if_due()
                return
            if keeper is not None and not await keeper.may_handle():
                self._fence()
                return
            handled = await self._handle(item)
            if handled and keeper is not None and not await self._saved(keeper, item):
                return

    async def _started(self, keeper: Keeper | None) -> bool:
        """on_session_start, its sends under ClientTokens a replay repeats (a worker that died before the start
        was saved is followed by one that starts again); False when another worker owns the contact now."""
        handling = _handling.set(_Handling(_SESSION_START))
        try:
            await self._dispatcher.call("on_session_start", self, None)
        finally:
            _handling.reset(handling)
        if keeper is None:
            return True
        try:
            await keeper.started(self.state)
        except Fenced:
            self._fence()
            return False
        return True

    async def _saved(self, keeper: Keeper, item: Item) -> bool:
        """The event counts as done once its record is saved; False when another worker owns the contact now."""
        try:
            unsavable = await keeper.done(item.id, item.absolute_time, self.state)
        except Fenced:
            self._fence()
            return False
        if unsavable is not None:
            await self._dispatcher.call("on_error", self, None, error=unsavable, event=item)
        return True

    def _fence(self) -> None:
        """Another worker owns the contact: stop at once, with no on_session_end and nothing more sent.

        Once per session: a refused renewal and a refused save may both report it."""
        if self._ended_reason == "fenced":
            return
        log.warning("contact %s: another worker owns the contact now; this session stops without sending", self.contact_id)
        metrics.FENCED.inc()
        self._end("fenced")
        if self._connecting is not None:
            self._connecting.cancel()

    def fenced(self) -> None:
        """The lease was lost (the store refused its renewal): stop as for a refused save."""
        if self._ended_reason is None:
            self._fence()
            self._set_ready()

    async def _last_word_if_due(self) -> None:
        due = self._last_word_due
        if due is None:
            return
        try:
            async with asyncio.timeout(self._transport.end_grace):
                await due.wait()
        except TimeoutError:
            return
        if self._last_word is not None:
            await self._handle(self._last_word)

    def _may_dispatch(self, item: Item) -> bool:
        """Nothing reaches a plugin once the chat is over for the bot, but the chat-ended event itself."""
        return self._ended_reason is None or item is self._last_word

    async def _handle(self, item: Item) -> bool:
        """Dispatch `item`; False for the bot's own items and other bots' messages, which no plugin hears (so there
        is nothing to save: a resume reads them again and skips them the same way)."""
        own = self._own(item)
        self._track(item)
        if own:
            if item.content_type == v.EVENT_PARTICIPANT_LEFT:
                self._end("removed")
            return False
        is_message = item.type in (v.MESSAGE, v.ATTACHMENT)
        if is_message and self._from_another_bot(item):
            return False
        hook = self._hook_for(item)
        if hook is None:
            _note_unknown(self.contact_id, item)
        if is_message:
            self._receipts.delivered(item.id)
        handling = _handling.set(_Handling(item.id))
        try:
            with self._dispatcher.pinned():  # a live reload mid-event: this event still ends on the code it began on
                if hook is not None and self._may_dispatch(item):
                    await self._dispatcher.call(hook, self, item, **{_argument_of(hook): item})
                if not is_message and self._may_dispatch(item):
                    await self._dispatcher.call("on_event", self, item, event=item)
        finally:
            _handling.reset(handling)
        if is_message:
            self._receipts.read(item.id)
        return True

    def _from_another_bot(self, item: Item) -> bool:
        """Two bots that answer each other would talk forever: another bot is heard only when configured."""
        return item.participant_role == v.CUSTOM_BOT and not self._settings.dispatch_bot_messages

    @staticmethod
    def _hook_for(item: Item) -> str | None:
        if item.type == v.MESSAGE:
            return "on_message"
        if item.type == v.ATTACHMENT:
            return "on_attachment"
        if item.type == v.MESSAGEMETADATA:
            return "on_receipt"
        return _EVENT_HOOKS.get(item.content_type or "")

    def own(self, item: Item) -> bool:
        return self._own(item)

    def _own(self, item: Item) -> bool:
        """The bot's own items: by its participant id, by the ids its sends got back, or its own receipts."""
        if item.id in self._sent:
            if self.participant_id is None:
                self.participant_id = item.participant_id
            return True
        if item.type == v.MESSAGEMETADATA and item.message_metadata is not None:
            recipients = {r.recipient_participant_id for r in item.message_metadata.receipts}
            return recipients == {self.participant_id}
        return item.participant_id is not None and item.participant_id == self.participant_id

    def _remember_sent(self, result: SendResult) -> SendResult:
        self._sent.add(result.id)
        return result

    def _track(self, item: Item) -> None:
        if item.participant_id is None or item.participant_role == v.SYSTEM:
            return
        if item.content_type == v.EVENT_PARTICIPANT_LEFT:
            self.participants.pop(item.participant_id, None)
        elif item.content_type == v.EVENT_PARTICIPANT_JOINED or item.type in (v.MESSAGE, v.ATTACHMENT):
            self.participants.setdefault(
                item.participant_id,
                ChatParticipant(item.participant_id, item.participant_role or "", item.display_name),
            )

    def _receipts_allowed(self) -> bool:
        return self._ended_reason is None and len(self.participants) <= 2

    # The API handlers use ---------------------------------------------------------

    def plugin_config(self, plugin: str) -> Any:
        """The `plugin_config` section of bot.yaml for `plugin`: its validated `Config` model if the plugin has one,
        else its settings as a read-only mapping (empty when absent)."""
        return self._plugin_config.get(plugin, {})

    async def send_message(self, content: str, content_type: str = v.TEXT_PLAIN) -> SendResult:
        """Send a message; a retry or a replay of the same event never delivers it twice."""
        result = await self._ending_on_403(
            self._client.send_message(self._token(), content, content_type, client_token=self._next_client_token())
        )
        return self._remember_sent(result)

    async def send_event(self, content_type: str, content: str | None = None) -> SendResult:
        result = await self._ending_on_403(
            self._client.send_event(self._token(), content_type, content, client_token=self._next_client_token())
        )
        return self._remember_sent(result)

    async def _ending_on_403(self, call: Awaitable[T]) -> T:
        """AccessDenied on a send means the chat is over for the bot: end now, so nothing queued is dispatched."""
        try:
            return await call
        except ParticipantServiceError as error:
            if error.status == 403:
                self._end("removed" if self._removed() else "chat_ended")
                self._await_last_word()
            raise

    def _await_last_word(self) -> None:
        """An end learned from a refusal, ahead of the chat-ended event: a transport that brings events later than
        the service refuses (message streaming) gets its `end_grace` to bring it, so on_chat_ended runs the same
        on every transport."""
        if self._last_word is None and self._last_word_due is None and self._transport.end_grace > 0:
            self._last_word_due = asyncio.Event()

    async def send_typing(self) -> SendResult | None:
        """Typing, at most once per window (10 s by default, like chatjs); None when throttled."""
        if not self._typing.allow():
            return None
        return await self.send_event(v.EVENT_TYPING)

    async def send_attachment(self, name: str, data: bytes, content_type: str) -> str:
        """Upload `data` as an attachment of the chat; returns its AttachmentId."""
        token = self._token()
        target = await self._ending_on_403(
            self._client.start_attachment_upload(token, content_type, len(data), name, client_token=self._next_client_token())
        )
        async with aiohttp.ClientSession() as http:
            async with http.put(target.url, data=data, headers=dict(target.headers_to_include)) as response:
                if response.status >= 300:
                    raise ParticipantConnectionError("UploadAttachment", 1, f"upload answered HTTP {response.status}")
        await self._ending_on_403(
            self._client.complete_attachment_upload(token, target.attachment_id, client_token=self._next_client_token())
        )
        return target.attachment_id

    async def disconnect(self) -> None:
        """Leave the chat; the session ends with reason `left`."""
        await self._leave("left")

    async def handoff(self, attributes: Mapping[str, str] | None = None, message: str | None = None) -> None:
        """Hand the contact on (to an agent, say): say `message`, set `attributes` on the contact, then leave.

        The contact flow goes on through the branch it takes when the bot leaves and routes on the
        attributes (a `queue` attribute, for example); the session ends with reason `handoff`. The arguments
        are checked before anything is sent. If the attributes cannot be set, the bot stays in the chat and
        the error is raised: leaving would strand the customer in a queue with nothing to route on, so the
        plugin decides what to do (try again, tell the customer, or `disconnect`).
        """
        checked = checked_attributes({} if attributes is None else attributes)
        if message is not None and not isinstance(message, str):
            raise TypeError(f"the hand-off message must be a string, not {type(message).__name__}")
        if message == "":
            raise ValueError("the hand-off message must not be empty (pass None to say nothing)")
        control = self._control
        if checked and control is None:
            raise RuntimeError("this session has no control-plane client to set contact attributes with")
        self._token()
        if message is not None:
            await self.send_message(message)
        if control is not None and checked:
            await control.client.update_contact_attributes(control.instance_id, control.initial_contact_id, checked)
        await self._leave("handoff")

    async def _leave(self, reason: str) -> None:
        """DisconnectParticipant; the session is ended first, so the bot's own participant.left is not a removal."""
        self._end(reason)
        try:
            await self._client.disconnect_participant(self._token(), client_token=self._next_client_token())
        except ParticipantServiceError as error:
            if error.status != 403:
                raise

    @property
    def blocking(self) -> BlockingSession:
        """The same API for plain-function handlers, which run in threads: `session.blocking.send_message("hi")`."""
        return BlockingSession(self)

    def _token(self) -> Secret:
        if self._connection_token is None:
            raise RuntimeError("the session is not connected yet")
        if self._keeper is not None and (self._ended_reason == "fenced" or not self._keeper.may_act()):
            raise LeaseLost(self.contact_id)
        return self._connection_token

    def _next_client_token(self) -> str:
        """Derived from (contact, triggering item, ordinal), so a replay after a crash sends the same tokens."""
        handling = _handling.get()
        if handling is None:
            return str(uuid.uuid4())
        handling.sends += 1
        seed = f"{self.contact_id}/{handling.item_id}/{handling.sends}".encode()
        return hashlib.blake2b(seed, digest_size=16, person=_TOKEN_PERSONALISATION).hexdigest()

    def _run_blocking(self, make: Callable[[], Awaitable[T]]) -> T:
        async def run() -> T:
            return await make()

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result()


class BlockingSession:
    """Session calls for code running in a handler thread; each waits for the loop to finish it."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def send_message(self, content: str, content_type: str = v.TEXT_PLAIN) -> SendResult:
        return self._session._run_blocking(lambda: self._session.send_message(content, content_type))

    def send_event(self, content_type: str, content: str | None = None) -> SendResult:
        return self._session._run_blocking(lambda: self._session.send_event(content_type, content))

    def send_typing(self) -> SendResult | None:
        return self._session._run_blocking(self._session.send_typing)

    def disconnect(self) -> None:
        self._session._run_blocking(self._session.disconnect)

    def handoff(self, attributes: Mapping[str, str] | None = None, message: str | None = None) -> None:
        self._session._run_blocking(lambda: self._session.handoff(attributes, message))


_KNOWN_EVENTS = frozenset(
    value for name, value in vars(v).items() if name.startswith("EVENT_") and isinstance(value, str)
)
_ITEM_TYPES = frozenset({v.MESSAGE, v.ATTACHMENT, v.MESSAGEMETADATA, v.EVENT})
_noted: set[tuple[str, str | None]] = set()


def _note_unknown(contact_id: str, item: Item) -> None:
    """An item of a type or content type botkit does not know goes to `on_event` only: INFO the first time, then DEBUG."""
    if item.type in _ITEM_TYPES and item.content_type in _KNOWN_EVENTS:
        return
    kind = (item.type, item.content_type)
    first = kind not in _noted and len(_noted) < 256
    if first:
        _noted.add(kind)
    log.log(
        logging.INFO if first else logging.DEBUG,
        "contact %s: item %s of unknown kind (Type %.40r, ContentType %.120r): only on_event gets it",
        contact_id,
        item.id,
        item.type,
        item.content_type,
    )


class _RecentIds:
    """A set that keeps at least its `limit` newest members (a dict keeps insertion order).

    It forgets in batches: deleting the oldest key one by one leaves a growing run of dead
    slots at the front of the dict that every `next(iter(...))` has to walk over.
    """

    __slots__ = ("_ids", "_limit")

    def __init__(self, limit: int) -> None:
        self._ids: dict[str, None] = {}
        self._limit = limit

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._ids

    def add(self, item_id: str) -> None:
        self._ids[item_id] = None
        if len(self._ids) > self._limit + self._limit // 8:
            self._ids = dict.fromkeys(list(self._ids)[-self._limit :])


class _Inbox:
    """A bounded FIFO with one consumer: asyncio.Queue's three deques and locks, for a tenth of the memory.

    An empty inbox holds no deque: a deque allocates a 64-slot block (about 0.7 KiB) as it is made, and most
    sessions sit idle with nothing queued.
    """

    __slots__ = ("_items", "_waiter", "limit")

    _NOTHING: deque[Item] = deque()  # shared, never appended to

    def __init__(self, limit: int) -> None:
        self._items = self._NOTHING
        self._waiter: asyncio.Future[None] | None = None
        self.limit = limit

    def size(self) -> int:
        return len(self._items)

    def empty(self) -> bool:
        return not self._items

    def full(self) -> bool:
        return len(self._items) >= self.limit

    def clear(self) -> int:
        """Empty the inbox; how many items it held."""
        held = len(self._items)
        self._items = self._NOTHING
        return held

    def put(self, item: Item) -> None:
        if self._items is self._NOTHING:
            self._items = deque()
        self._items.append(item)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def get(self) -> Item:
        while not self._items:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        item = self._items.popleft()
        if not self._items:
            self._items = self._NOTHING
        return item


_HOOK_ARGUMENTS = {"on_message": "message", "on_attachment": "attachment", "on_receipt": "receipt"}


def _argument_of(hook: str) -> str:
    return _HOOK_ARGUMENTS.get(hook, "event")


_END = Item.from_wire({"Id": "", "Type": "END"})
