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
from datetime import UTC, datetime, timedelta

from botkit.connect.control import JoinedParticipant
from botkit.connect.secrets import Secret

_PERSONALISATION = b"botkit-join"

GENERATIONS = 8
"""Generations a join walks before it gives up looking for a usable participant."""
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
