"""A chat as one participant saw it, and its rendering for failure messages: who said what, and when."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import overload

from botkit.connect import vocabulary as v
from botkit.connect.models import Item, parse_time

MAX_SHOWN_CHARACTERS = 200
"""A long message is cut in the rendering, so one essay does not bury the rest of the transcript."""

_EVENT_PREFIX = "application/vnd.amazonaws.connect.event."


class Transcript(Sequence[Item]):
    """Every item a participant received, in order: messages, events, typing, receipts.

    `str()` renders it for people (receipts left out); `messages` and `texts()` are for assertions.
    """

    def __init__(self, items: Sequence[Item], viewer: str = "") -> None:
        self._items = tuple(items)
        self.viewer = viewer

    @overload
    def __getitem__(self, index: int) -> Item: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Item]: ...

    def __getitem__(self, index: int | slice) -> Item | Sequence[Item]:
        return self._items[index]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Item]:
        return iter(self._items)

    @property
    def messages(self) -> tuple[Item, ...]:
        return tuple(item for item in self._items if item.type == v.MESSAGE)

    def texts(self, role: str | None = None) -> list[str]:
        """The content of every message, or of those sent by `role` (e.g. "CUSTOM_BOT")."""
        return [item.content or "" for item in self.messages if role is None or item.participant_role == role]

    def __str__(self) -> str:
        return render(self._items, self.viewer)

    def __repr__(self) -> str:
        return f"<Transcript of {len(self._items)} items seen by {self.viewer or '?'}>"


def render(items: Sequence[Item], viewer: str = "") -> str:
    """One line per item: time since the first item, role, display name, and what happened."""
    shown = [item for item in items if item.type != v.MESSAGEMETADATA]
    heading = f"transcript as {viewer} saw it" if viewer else "transcript"
    if not shown:
        return f"{heading}: (nothing yet)"
    start = _time_of(shown[0])
    lines = [f"{heading} ({len(shown)} items):"]
    for item in shown:
        moment = _time_of(item)
        offset = f"{(moment - start).total_seconds():+8.3f}s" if moment and start else "       ?s"
        who = f"{item.participant_role:<10} {item.display_name or '?'}" if item.participant_role else f"{'(chat)':<10}"
        lines.append(f"  {offset}  {who}: {describe(item)}")
    return "\n".join(lines)


def describe(item: Item) -> str:
    """What an item says, in a few words: a message's text (quoted, cut if long), or the event's name."""
    if item.type == v.MESSAGE:
        content = item.content or ""
        if len(content) > MAX_SHOWN_CHARACTERS:
            content = content[:MAX_SHOWN_CHARACTERS] + "..."
        kind = "" if item.content_type in (v.TEXT_PLAIN, None) else f" [{item.content_type}]"
        return f"{content!r}{kind}"
    if item.type == v.ATTACHMENT:
        names = ", ".join(a.attachment_name or "?" for a in item.attachments)
        return f"attachment {names}"
    content_type = item.content_type or item.type
    return content_type.removeprefix(_EVENT_PREFIX)


def _time_of(item: Item) -> datetime | None:
    try:
        return parse_time(item.absolute_time)
    except ValueError:
        return None
