"""What a session runs on: a transport brings the chat's items to it, and that is all the session knows of it.

Two transports implement this: the websocket (runtime/connection.py, a socket per contact) and message
streaming (runtime/streaming.py, SNS notifications and GetTranscript). Both only `feed` items to the
session, in transcript order; the session decides exactly-once and dispatches, the same on both, so no
plugin can tell which one runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from botkit.connect.models import Item
from botkit.connect.secrets import Secret


class ChatOver(Exception):
    """The service no longer lets this participant in: the chat ended or the bot was removed."""


class Feed(Protocol):
    """What a transport feeds: a session (or anything that orders and dedupes items)."""

    contact_id: str

    def feed(self, item: Item) -> None:
        """Take `item` unless seen; an item not `seen` afterwards was refused (a full queue) or came too late."""

    def seen(self, item_id: str) -> bool: ...

    def own(self, item: Item) -> bool:
        """Whether `item` is this bot's own (its messages, its receipts): no plugin hears it."""

    def connected(self, connection_token: Secret) -> None:
        """A connection token to act with; what the session refused will be read back from here on."""

    def live(self) -> None:
        """Everything up to now has been fed: the session may start."""

    @property
    def finished(self) -> bool: ...


class Transport(Protocol):
    """One contact's link to its chat."""

    end_grace: float
    """Seconds the chat-ended event may come after the service has refused the bot (403) and still be dispatched:
    0 where events come before the refusal (the websocket), more where they may come later (message streaming)."""

    async def run(self) -> None:
        """Feed the session until the chat is over for the bot; raises ChatOver when the service says so."""

    async def resync(self) -> None:
        """The session refused items (its queue was full) and has room again: bring them back, in order."""

    async def close(self, *, final: bool) -> None:
        """The session stops. `final`: the chat is over for this bot, so release what the transport holds on
        the service (message streaming); otherwise another worker may resume the contact and needs it."""


OpenTransport = Callable[[Feed], Transport]
"""How a session gets its transport: given itself as the feed."""


class Transports(Protocol):
    """A kind of transport, for a whole process: what the manager does around a join, and each session's link."""

    async def before_join(self, contact_id: str, *, client_token: str | None = None, timeout: float | None) -> None:
        """Called before CreateParticipant, within the join's deadline (message streaming starts here), and before
        a handed-in token's first save. `client_token` makes what it starts the same from any worker."""

    def join_failed(self, contact_id: str, *, stop: bool = False) -> None:
        """The join did not happen (without waiting: it may run while cancelled). What `before_join` started on the
        service stays for the join's retry, which gets it again by its ClientToken, unless `stop`: that join is
        given up for good (its participant can no longer connect)."""

    def stream_of(self, contact_id: str) -> str | None:
        """The StreamingId started for a contact being joined or handed in (message streaming), for its record;
        else None."""

    def opener(
        self,
        contact_id: str,
        participant_token: Secret,
        *,
        streaming_id: str | None = None,
        after_item_id: str | None = None,
    ) -> OpenTransport:
        """How the contact's session opens its transport with the bot's participant token. A resumed session
        passes its record's `streaming_id` (the stream is the contact's, not the process's: it is not started
        again) and `after_item_id`, the last item it handled (the transcript is read forward from there)."""
