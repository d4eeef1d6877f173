"""ClientToken idempotency of the `connect` calls that create something (StartChatContact, CreateParticipant,
StartContactStreaming), as the service gives it: a retry with the same token and the same request gets the
first answer again, the same token with a different request is refused.

The key is the operation and the token alone, not the contact: a token reused for another contact is a
different request. A call that failed is not remembered, so its retry does the work. Two calls with one token
at once get one answer: the second waits for the first's.

How long: the model and AWS's documentation give no window for these operations. The emulator remembers a
token as long as it keeps the contact the answer is about: through the chat and `ended_contact_retention`
after its end. That bounds the memory by the contacts kept, and outlasts any retry a client makes.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from botkit.emulator.errors import CONNECT, ServiceError

Reply = dict[str, Any]


@dataclass(slots=True)
class _Remembered:
    request: str
    answer: asyncio.Future[Reply]


class ClientTokens:
    """The first answer per (operation, ClientToken), kept while the emulator keeps the contact it is about."""

    def __init__(self) -> None:
        self._answers: dict[tuple[str, str], _Remembered] = {}
        self._by_contact: dict[str, list[tuple[str, str]]] = {}

    async def answer(
        self,
        operation: str,
        params: Mapping[str, Any],
        work: Callable[[], Awaitable[Reply]],
        contact_of: Callable[[Reply], str],
    ) -> Reply:
        """`work`'s answer, or the first answer to the same request under the same ClientToken.

        `contact_of` names the contact an answer is about: the token is forgotten with it.
        """
        token = params.get("ClientToken")
        if not token:
            return await work()
        key = (operation, token)
        request = json.dumps(params, sort_keys=True, separators=(",", ":"))
        remembered = self._answers.get(key)
        if remembered is not None:
            if remembered.request != request:
                raise ServiceError(
                    "InvalidRequestException",
                    f"The ClientToken was already used for a different {operation} request",
                    service=CONNECT,
                )
            return await asyncio.shield(remembered.answer)
        answer: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._answers[key] = _Remembered(request, answer)
        try:
            reply = await work()
        except BaseException as error:
            del self._answers[key]
            answer.set_exception(error if isinstance(error, Exception) else asyncio.CancelledError())
            answer.exception()  # retrieved: a call nobody else waited for is not reported as unhandled
            raise
        answer.set_result(reply)
        self._by_contact.setdefault(contact_of(reply), []).append(key)
        return reply

    def forget_contact(self, contact_id: str) -> None:
        for key in self._by_contact.pop(contact_id, []):
            self._answers.pop(key, None)
