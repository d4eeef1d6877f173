"""What a store keeps per contact, and the check that keeps `session.state` saveable.

The record is everything a worker needs to pick a chat up where another left it: the participant token to
reconnect with, where the transcript was read up to, the ids already handled, and the plugins' state. It is a
frozen snapshot: a session makes a new one per handled event (`dispatched`) and saves that.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from json.encoder import encode_basestring
from typing import Any

from botkit.connect.secrets import Secret

__all__ = ["RECENT_IDS_KEPT", "ContactRecord", "RecordError", "UnsavableState", "encode_state"]

RECENT_IDS_KEPT = 128
"""Dispatched item ids a record keeps, newest last. After a resume the session reads the transcript forward from
`last_item_id`, so these only have to cover items that arrive twice around that point (a redelivered frame or SNS
notification), not the whole chat; more would make every save bigger."""

_FORMAT = 1
_STATE_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
"""Made once: json.dumps with options builds a new encoder on every call, and the state is encoded per event."""


class RecordError(ValueError):
    """A stored record that cannot be read back (written by an incompatible botkit, or damaged)."""


class UnsavableState(TypeError):
    """A `session.state` value that JSON cannot carry; the message names the key, and the plugin when known."""

    def __init__(self, reason: str, *, key: str, path: str, plugin: str | None) -> None:
        owner = f" (set by plugin {plugin!r})" if plugin else ""
        super().__init__(f"session.state{path}{owner} cannot be saved: {reason}")
        self.key = key
        self.path = path
        self.plugin = plugin


def _json_problem(value: Any, path: str, depth: int) -> tuple[str, str] | None:
    """The first (sub-path, reason) that would not survive a JSON round trip unchanged, or None.

    json.dumps alone is not enough: it turns int keys into strings and writes NaN, which come back different
    (or not at all, for other JSON readers); a round trip must give the plugin back what it stored.
    """
    if depth > 100:
        return path, "it nests more than 100 levels deep"
    if value is None or isinstance(value, bool | str | int):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else (path, f"{value} is not a JSON number")
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            if problem := _json_problem(item, f"{path}[{index}]", depth + 1):
                return problem
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"{path}[{key!r}]", f"its key is {type(key).__name__}, and JSON keys are strings"
            if problem := _json_problem(item, f"{path}[{key!r}]", depth + 1):
                return problem
        return None
    return path, f"a {type(value).__name__} is not JSON (use str, int, float, bool, None, list or dict)"


def encode_state(state: Mapping[str, Any], plugin_of_key: Callable[[str], str | None] | None = None) -> str:
    """`session.state` as JSON text, or UnsavableState naming the first key (and its plugin) that cannot be saved.

    `plugin_of_key` maps a top-level key to the plugin that set it, when the runtime knows; pass a dict's `.get`.
    """
    for key, value in state.items():
        if not isinstance(key, str):
            raise UnsavableState(
                f"its key is {type(key).__name__}, and JSON keys are strings",
                key=repr(key), path=f"[{key!r}]", plugin=None,
            )
        if problem := _json_problem(value, f"[{key!r}]", 1):
            path, reason = problem
            raise UnsavableState(reason, key=key, path=path, plugin=plugin_of_key(key) if plugin_of_key else None)
    return _STATE_ENCODER.encode(state)


def _string(value: str | None) -> str:
    return "null" if value is None else encode_basestring(value)


@dataclass(frozen=True, slots=True)
class ContactRecord:
    """One contact's durable facts. `participant_token` is kept in the store (a new owner reconnects with it) but
    its repr is masked, so a logged record shows no secret.

    `owner` and `fence` are the store's, filled in by `load`: the worker that acquired the contact last and the
    newest fencing token handed out. They are not part of the saved text, and `save` ignores them.
    """

    contact_id: str
    participant_token: Secret
    participant_id: str | None = None
    initial_contact_id: str | None = None
    instance_id: str | None = None
    streaming_id: str | None = None
    last_item_id: str | None = None
    last_item_time: str | None = None
    recent_ids: tuple[str, ...] = ()
    state: Mapping[str, Any] = field(default_factory=dict, hash=False)
    started: bool = False
    """on_session_start has run to its end: a worker resuming the contact runs on_session_resume, not it."""
    owner: str | None = None
    fence: int = 0
    _encoded_ids: tuple[tuple[str, ...], tuple[str, ...]] | None = field(default=None, compare=False, repr=False)
    """(the `recent_ids` tuple it encodes, each id as JSON, encoded when it joined): used only while that very
    tuple is the record's, so a record made with other ids (dataclasses.replace) encodes them afresh."""
    _head: tuple[tuple[Any, ...], str] | None = field(default=None, compare=False, repr=False)
    """The unchanging fields' values and their encoding, reused while the values are the same."""

    def dispatched(
        self, item_id: str, absolute_time: str | None, state: Mapping[str, Any] | None = None
    ) -> ContactRecord:
        """The record after `item_id` was handled: it becomes the last item, joins the recent ids (bounded), and
        `state`, when given, replaces the plugins' state.

        This runs once per handled event, so it builds the new record directly (dataclasses.replace inspects the
        fields every call) and carries the encoded ids and head along, so that `to_json` encodes only what is new.
        """
        recent, encoded = self.recent_ids, self._encoded_recent_ids()
        if item_id in recent:  # rare (a redelivery): drop the old place, so the id is newest
            place = recent.index(item_id)
            recent = (*recent[:place], *recent[place + 1 :], item_id)
            encoded = (*encoded[:place], *encoded[place + 1 :], encode_basestring(item_id))
        else:
            recent = (*recent[-RECENT_IDS_KEPT + 1 :], item_id)
            encoded = (*encoded[-RECENT_IDS_KEPT + 1 :], encode_basestring(item_id))
        return ContactRecord(
            self.contact_id,
            self.participant_token,
            self.participant_id,
            self.initial_contact_id,
            self.instance_id,
            self.streaming_id,
            item_id,
            absolute_time,
            recent,
            self.state if state is None else state,
            self.started,
            self.owner,
            self.fence,
            (recent, encoded),
            self._head,
        )

    def to_json(self, plugin_of_key: Callable[[str], str | None] | None = None) -> str:
        """The stored form. It reveals the participant token: it is for the store, never for a log.

        Saved after every event, so only what changes per event is encoded here: the fields that stay put for the
        whole chat are encoded once (and again only if they changed), and each recent id when it joined."""
        state = encode_state(self.state, plugin_of_key)
        head = self._head
        if head is None or head[0] != self._head_values():
            head = (self._head_values(), self._encode_head())
            object.__setattr__(self, "_head", head)
        encoded = self._encoded_recent_ids()[-RECENT_IDS_KEPT:]
        return (
            f'{head[1]},"last_item_id":{_string(self.last_item_id)},"last_item_time":{_string(self.last_item_time)}'
            f',"recent_ids":[{",".join(encoded)}],"state":{state}}}'
        )

    def _encoded_recent_ids(self) -> tuple[str, ...]:
        cached = self._encoded_ids
        if cached is not None and cached[0] is self.recent_ids:
            return cached[1]
        return tuple(encode_basestring(i) for i in self.recent_ids)

    def _head_values(self) -> tuple[Any, ...]:
        return (self.contact_id, self.participant_token, self.participant_id, self.initial_contact_id,
                self.instance_id, self.streaming_id, self.started)

    def _encode_head(self) -> str:
        """The fields that do not change from event to event, as the opening of the stored JSON object."""
        body = {
            "format": _FORMAT,
            "contact_id": self.contact_id,
            "participant_token": self.participant_token.reveal(),
            "participant_id": self.participant_id,
            "initial_contact_id": self.initial_contact_id,
            "instance_id": self.instance_id,
            "streaming_id": self.streaming_id,
            "started": self.started,
        }
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False)[:-1]

    @classmethod
    def from_json(cls, text: str | bytes, *, owner: str | None = None, fence: int = 0) -> ContactRecord:
        """Read a stored record, with the store's ownership facts; RecordError (never echoing the text, which holds
        the token) if it is not one."""
        try:
            body = json.loads(text)
            if body.get("format") != _FORMAT:
                raise RecordError(f"a record in format {body.get('format')!r}, this botkit reads {_FORMAT}")
            return cls(
                contact_id=body["contact_id"],
                participant_token=Secret(body["participant_token"]),
                participant_id=body["participant_id"],
                initial_contact_id=body["initial_contact_id"],
                instance_id=body["instance_id"],
                streaming_id=body["streaming_id"],
                last_item_id=body["last_item_id"],
                last_item_time=body["last_item_time"],
                recent_ids=tuple(body["recent_ids"]),
                state=body["state"],
                started=body.get("started", True),
                owner=owner,
                fence=fence,
            )
        except RecordError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise RecordError(f"not a contact record ({type(error).__name__})") from None
