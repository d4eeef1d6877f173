"""The people in a chat under test: a customer (`Chat`) and the agents or supervisors who join it.

Each speaks to the emulator the way a real client does (the participant service and a subscribed
websocket), keeps every item its socket delivers, and waits on them with a deadline: an expectation
either holds or fails with the transcript, and never hangs.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from botkit.connect import vocabulary as v
from botkit.connect.models import Item, SendResult
from botkit.connect.secrets import Secret
from botkit.connect.websocket import ChatSocket
from botkit.testing.errors import ExpectationFailed
from botkit.testing.transcript import Transcript, describe

if TYPE_CHECKING:
    from botkit.testing.kit import RunningBot

DEFAULT_TIMEOUT = 5.0
"""Seconds an expectation waits before it fails."""

ROLES = (v.CUSTOMER, v.CUSTOM_BOT, v.AGENT, v.SUPERVISOR, v.SYSTEM)
JOINABLE = (v.AGENT, v.SUPERVISOR)

T = TypeVar("T")


class Participant:
    """Someone in the chat: says things, and expects what the others (the bot, by default) say."""

    def __init__(self, bot: RunningBot, contact_id: str, participant_id: str, role: str, display_name: str) -> None:
        self.bot = bot
        self.contact_id = contact_id
        self.participant_id = participant_id
        self.role = role
        self.display_name = display_name
        self._items: list[Item] = []
        self._ids: set[str] = set()
        self._cursors = {v.MESSAGE: 0, v.EVENT_TYPING: 0}
        self._token: Secret | None = None
        self._socket: ChatSocket | None = None
        self._reader: asyncio.Task[str] | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.display_name} ({self.role}) in contact {self.contact_id}>"

    @property
    def transcript(self) -> Transcript:
        """Every item this participant has received so far, in order; `str()` of it reads well."""
        return Transcript(self._items, self._viewer)

    @property
    def _viewer(self) -> str:
        return f"{self.display_name} ({self.role})"

    async def connect(self, participant_token: Secret) -> None:
        """CreateParticipantConnection, subscribe the websocket, then read what came before it subscribed."""
        details = await self.bot.participant_client.create_participant_connection(participant_token)
        assert details.websocket_url is not None and details.connection_token is not None
        self._token = details.connection_token
        self._socket = await ChatSocket.open(details.websocket_url, subscribe_timeout=DEFAULT_TIMEOUT)
        self._reader = asyncio.create_task(self._socket.run(self._receive), name=f"botkit-testing-{self.role}")
        self._reader.add_done_callback(lambda _: self.bot.pulse.fire())
        await self._catch_up()

    async def _catch_up(self) -> None:
        """The bot may have spoken before this socket subscribed: the transcript has it, the socket does not.

        Everything the transcript holds precedes what only the socket brought (typing, or items sent
        after the transcript was read), so the transcript goes first. A participant who joins late sees
        the history, but expects only what comes after its own participant.joined.
        """
        assert self._token is not None
        client = self.bot.participant_client
        earlier = [item async for item in client.iter_transcript(self._token, sort_order=v.ASCENDING)]
        known = {item.id for item in earlier}
        self._items = earlier + [item for item in self._items if item.id not in known]
        self._ids |= known
        joined = next(
            (
                index
                for index, item in enumerate(self._items)
                if item.participant_id == self.participant_id and item.content_type == v.EVENT_PARTICIPANT_JOINED
            ),
            -1,
        )
        self._cursors = dict.fromkeys(self._cursors, joined + 1)
        self.bot.pulse.fire()

    def _receive(self, item: Item) -> None:
        if item.id and item.id in self._ids:
            return
        self._ids.add(item.id)
        self._items.append(item)
        self.bot.pulse.fire()

    async def say(self, text: str, content_type: str = v.TEXT_PLAIN) -> SendResult:
        """Send a message to the chat (SendMessage), as this participant."""
        __tracebackhide__ = True
        self.bot.raise_errors()
        return await self.bot.participant_client.send_message(self._connection_token(), text, content_type)

    async def send_typing(self) -> SendResult:
        """Send a typing indicator, as this participant."""
        __tracebackhide__ = True
        self.bot.raise_errors()
        return await self.bot.participant_client.send_event(self._connection_token(), v.EVENT_TYPING)

    async def expect_message(
        self,
        text: str | None = None,
        *,
        contains: str | None = None,
        matches: str | re.Pattern[str] | None = None,
        from_role: str | None = v.CUSTOM_BOT,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> Item:
        """The next message from `from_role` (None: anyone else) must be `text`, contain `contains` and match
        `matches` (a regular expression, searched); returns it, as the hooks get it.

        Strict, like a conversation: the next such message is the one checked, and a different one fails
        at once. Each call moves on past the message it checked.
        """
        __tracebackhide__ = True
        _check_role(from_role)
        pattern = re.compile(matches) if isinstance(matches, str) else matches
        wanted = _describe_wanted("a message", from_role, text, contains, pattern)
        found = await self._next(v.MESSAGE, from_role, wanted, timeout)
        content = found.content or ""
        if (
            (text is not None and content != text)
            or (contains is not None and contains not in content)
            or (pattern is not None and pattern.search(content) is None)
        ):
            self._fail(f"expected {wanted}; the next one was {describe(found)} from {found.display_name}")
        return found

    async def expect_typing(self, *, from_role: str | None = v.CUSTOM_BOT, timeout: float = DEFAULT_TIMEOUT) -> Item:
        """The next typing indicator from `from_role` (None: anyone else); returns its event."""
        __tracebackhide__ = True
        _check_role(from_role)
        return await self._next(v.EVENT_TYPING, from_role, _describe_wanted("typing", from_role), timeout)

    async def expect_ended(self, *, timeout: float = DEFAULT_TIMEOUT) -> Item:
        """The chat ended (chat.ended reached this participant) and the bot's session is over, its
        `on_chat_ended` and `on_session_end` handlers run; returns the chat.ended event."""
        __tracebackhide__ = True

        def ended() -> Item | None:
            return next((item for item in self._items if item.content_type == v.EVENT_CHAT_ENDED), None)

        event = await self._wait(ended, "the chat to end", timeout, on_this_socket=True)
        await self._wait(lambda: self.bot.session_over(self.contact_id), "the bot's session to end", timeout)
        self.bot.raise_errors()
        return event

    async def leave(self) -> None:
        """DisconnectParticipant: this participant leaves (a customer leaving ends the chat)."""
        __tracebackhide__ = True
        self.bot.raise_errors()
        await self.bot.participant_client.disconnect_participant(self._connection_token())

    async def _next(self, kind: str, from_role: str | None, wanted: str, timeout: float) -> Item:
        """The first item of `kind` past this kind's cursor, from someone else (of `from_role`, if given)."""
        __tracebackhide__ = True

        def first() -> int | None:
            for index in range(self._cursors[kind], len(self._items)):
                item = self._items[index]
                if _kind(item) == kind and item.participant_id != self.participant_id:
                    if from_role is None or item.participant_role == from_role:
                        return index
            return None

        index = await self._wait(first, wanted, timeout, on_this_socket=True)
        self._cursors[kind] = index + 1
        return self._items[index]

    async def _wait(
        self, find: Callable[[], T | None], wanted: str, timeout: float, *, on_this_socket: bool = False
    ) -> T:
        """Until `find` gives something, the bot fails, or `timeout` passes (then fail with the transcript).

        What can only come on this participant's socket fails at once when the socket has closed.
        """
        __tracebackhide__ = True
        self.bot.raise_errors()
        found: T | None = None
        closed = False
        try:
            async with asyncio.timeout(timeout):
                while (found := find()) is None and not (closed := on_this_socket and self._socket_closed()):
                    self.bot.raise_errors()
                    await self.bot.pulse.wait()
        except TimeoutError:
            pass  # failed below, outside this block, so the failure does not drag the timeout's chain along
        self.bot.raise_errors()
        if found is None:
            why = "its connection closed before it came" if closed else "it did not come"
            self._fail(f"expected {wanted} within {timeout:g} s; {why}")
        return found

    def _socket_closed(self) -> bool:
        return self._reader is not None and self._reader.done()

    def _fail(self, what: str) -> None:
        __tracebackhide__ = True
        raise ExpectationFailed(f"{self.display_name} ({self.role}) {what}\n{self.transcript}")

    def _connection_token(self) -> Secret:
        if self._token is None:
            raise RuntimeError(f"{self!r} is not connected")
        return self._token

    async def close(self) -> None:
        """Close the websocket and stop reading; the participant stays in the chat (no DisconnectParticipant)."""
        if self._socket is not None:
            await self._socket.close()
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)


class Chat(Participant):
    """The customer of a chat contact: what `bot.start_chat(...)` gives."""

    async def join(self, role: str = v.AGENT, display_name: str | None = None) -> Participant:
        """An agent (or a supervisor barging in) joins this chat, connected as a real agent's client would be."""
        __tracebackhide__ = True
        if role not in JOINABLE:
            raise ValueError(f"role must be one of {', '.join(JOINABLE)}, not {role!r}")
        self.bot.raise_errors()
        name = display_name or role.title()
        joined = await self.bot.join_participant(self.contact_id, role, name)
        participant = Participant(self.bot, self.contact_id, joined.participant_id, role, name)
        self.bot.track(participant)
        await participant.connect(joined.participant_token)
        return participant


def _kind(item: Item) -> str:
    return v.EVENT_TYPING if item.content_type == v.EVENT_TYPING else item.type


def _check_role(role: str | None) -> None:
    if role is not None and role not in ROLES:
        raise ValueError(f"from_role must be one of {', '.join(ROLES)} or None, not {role!r}")


def _describe_wanted(
    what: str,
    from_role: str | None,
    text: str | None = None,
    contains: str | None = None,
    pattern: re.Pattern[str] | None = None,
) -> str:
    parts = [f"{what} from {from_role or 'another participant'}"]
    if text is not None:
        parts.append(f"exactly {text!r}")
    if contains is not None:
        parts.append(f"containing {contains!r}")
    if pattern is not None:
        parts.append(f"matching /{pattern.pattern}/")
    return ", ".join(parts)
