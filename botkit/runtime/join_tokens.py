"""ClientTokens for the calls that join a contact, the same from every worker, so that a join retried by another
worker gets the participant and the stream the first one made.

CreateParticipant and StartContactStreaming are idempotent by ClientToken at the service: the same token and
request get the first answer again. A worker that dies after CreateParticipant and before the contact's record
is saved leaves a participant whose token nobody kept. The worker that takes the contact over derives the same
ClientToken (the contact, the instance and the bot's name), so it is handed that participant back instead of
adding a second bot to the chat.

The service answers a retry with the first answer even when its participant can no longer be used: a custom bot
must connect within 15 s of CreateParticipant, and one that left the chat is gone. Such an answer (its Expiry
passed) spends its generation, and the next one is asked for; every worker walks the generations in the same
order, so they still meet on one participant.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from datetime import UTC, datetime, timedelta

from botkit.connect.control import JoinedParticipant
from botkit.connect.secrets import Secret

_PERSONALISATION = b"botkit-join"

GENERATIONS = 8
"""Generations a join walks before it gives up looking for a usable participant."""
GONE_REMEMBERED = 10_000
"""Participants that left, remembered per process (the oldest forgotten first)."""
CONNECT_MARGIN = timedelta(seconds=2)
"""How long a participant's credentials must still be good for: the session connects right after the first save."""


def join_token(operation: str, instance_id: str, contact_id: str, bot_name: str, discriminator: str) -> str:
    """A ClientToken (32 hex digits, the model allows 500) for `operation` on the contact, the same in every worker.

    `discriminator` tells joins of one contact apart: a generation, or the participant handed in."""
    seed = "\x1f".join((operation, instance_id, contact_id, bot_name, discriminator)).encode()
    return hashlib.blake2b(seed, digest_size=16, person=_PERSONALISATION).hexdigest()


def participant_discriminator(participant_token: Secret) -> str:
    """Tells apart the participants of a contact by their token, which a hash does not reveal."""
    digest = hashlib.blake2b(participant_token.reveal().encode(), digest_size=16, person=_PERSONALISATION)
    return "participant-" + digest.hexdigest()


def spent(joined: JoinedParticipant) -> bool:
    """Whether the service answered with a participant whose credentials expire before the bot can connect."""
    return joined.expiry is not None and joined.expiry <= datetime.now(UTC) + CONNECT_MARGIN


class GoneParticipants:
    """The bot participants whose sessions left their chat in this process.

    The service answers a join's token with its first participant even after that participant left, and until its
    Expiry passes `spent` cannot tell: a contact flow that hands the contact back to the bot soon after it left
    would be given the participant that is gone. A participant named here spends its generation too.
    """

    def __init__(self, capacity: int = GONE_REMEMBERED) -> None:
        self._capacity = capacity
        self._ids: OrderedDict[str, None] = OrderedDict()

    def add(self, participant_id: str) -> None:
        self._ids[participant_id] = None
        if len(self._ids) > self._capacity:
            self._ids.popitem(last=False)

    def __contains__(self, participant_id: object) -> bool:
        return participant_id in self._ids
