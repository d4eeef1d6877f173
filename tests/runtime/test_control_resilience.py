"""Control-plane calls survive the faults participant calls survive: twenty chats, each gets the bot once.

A bot on its embedded emulator joins every chat through the emulator's contact flow webhook
(CreateParticipant, a `connect` call). With the emulator's faults on, a CreateParticipant may be
answered 429 or 500 before any work, or done and then answered 500 (a lost response). The bot must
retry it with the same ClientToken, inside the intake's deadline, so that:
- every contact is joined by the bot's first join, answered 2xx to the first webhook delivery: the bot
  does not lean on the caller (a contact flow's Lambda has 8 s) to try again;
- every contact has exactly one CUSTOM_BOT participant, in the emulator's own view of the contact and
  among every participant CreateParticipant ever created for it (a retry with a fresh token after a
  lost response would have made a second one);
- every customer is answered.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from typing import Any

import aiohttp
import pytest

from botkit import hookimpl
from botkit.bot import BotProcess
from tests.runtime.harness import running_bot
from tests.runtime.test_reliability import CUSTOM_BOT, FaultLedger, ResilientCustomer

CHATS = 20

RETRIES = """
connect: {retry: {max_attempts: 12, base_delay: 0.01, max_delay: 0.2}}
"""

AS_A_NEW_USER_TRIED = {"error_rate": 0.1, "lost_response_rate": 0.05, "seed": 10}
CREATE_PARTICIPANT_HAMMERED = {
    "error_rate": 0.25,
    "lost_response_rate": 0.25,
    "operations": ["CreateParticipant"],
    "seed": 11,
}


class Echo:
    @hookimpl
    async def on_message(self, session: Any, message: Any) -> None:
        await session.send_message(f"reply:{message.content}")


class JoinRecord:
    """What the bot's joins and the emulator's CreateParticipant did, per contact."""

    def __init__(self, bot: BotProcess) -> None:
        assert bot.manager is not None and bot.emulator is not None
        self.joins: Counter[str] = Counter()
        self.failed_joins: list[str] = []
        self.bots_created: defaultdict[str, set[str]] = defaultdict(set)
        self.create_requests_served: Counter[str] = Counter()
        manager, center = bot.manager, bot.emulator.center
        join, add_custom_bot = manager.join, center.add_custom_bot

        async def recorded_join(contact_id: str, *args: Any, **kwargs: Any) -> Any:
            self.joins[contact_id] += 1
            try:
                return await join(contact_id, *args, **kwargs)
            except Exception as error:
                self.failed_joins.append(f"{contact_id}: {type(error).__name__}: {error}")
                raise

        async def recorded_add_custom_bot(params: dict[str, Any]) -> dict[str, Any]:
            reply = await add_custom_bot(params)  # a ClientToken's replay answers the first participant again
            self.create_requests_served[params["ContactId"]] += 1
            self.bots_created[params["ContactId"]].add(reply["ParticipantId"])
            return reply

        manager.join = recorded_join  # type: ignore[method-assign]
        center.add_custom_bot = recorded_add_custom_bot  # type: ignore[method-assign]


async def put_faults(base_url: str, spec: dict[str, Any]) -> None:
    async with aiohttp.ClientSession() as http, http.put(f"{base_url}/emulator/faults", json=spec) as answer:
        assert answer.status == 200, await answer.text()


async def custom_bots_seen_by_the_emulator(base_url: str, contact_id: str) -> list[str]:
    async with aiohttp.ClientSession() as http, http.get(f"{base_url}/emulator/contacts/{contact_id}") as answer:
        assert answer.status == 200, await answer.text()
        contact = await answer.json()
    return [p["ParticipantId"] for p in contact["Participants"] if p["ParticipantRole"] == CUSTOM_BOT]


async def chat(customer: ResilientCustomer, number: int) -> None:
    await customer.start()
    await customer.wait_for(
        lambda items: any(
            i["ContentType"].endswith("participant.joined") and i.get("ParticipantRole") == CUSTOM_BOT for i in items
        ),
        timeout=20,
    )
    await customer.send(f"hello {number}")
    await customer.wait_for_reply(f"hello {number}", timeout=20)


@pytest.mark.parametrize(
    "faults",
    [AS_A_NEW_USER_TRIED, CREATE_PARTICIPANT_HAMMERED],
    ids=["as-a-new-user-tried", "create-participant-hammered"],
)
async def test_every_chat_gets_the_bot_exactly_once_through_faults(
    faults: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    async with running_bot([Echo()], RETRIES) as bot:
        assert bot.emulator is not None
        base_url = bot.emulator.base_url
        record = JoinRecord(bot)
        ledger = FaultLedger(bot.emulator)
        customers = [ResilientCustomer(base_url) for _ in range(CHATS)]
        await put_faults(base_url, faults)
        try:
            await asyncio.gather(*(chat(customer, number) for number, customer in enumerate(customers)))
            await put_faults(base_url, {})
            contact_ids = [customer.contact_id for customer in customers]
            assert len(set(contact_ids)) == CHATS
            assert not record.failed_joins, record.failed_joins
            assert record.joins == Counter(contact_ids), "a contact needed the caller to deliver it again"
            for customer in customers:
                seen = await custom_bots_seen_by_the_emulator(base_url, customer.contact_id)
                assert len(seen) == 1, f"contact {customer.contact_id} has CUSTOM_BOT participants {seen}"
                assert record.bots_created[customer.contact_id] == set(seen)
                assert customer.bot_messages() == [f"reply:hello {customers.index(customer)}"]
        finally:
            await asyncio.gather(*(customer.close() for customer in customers))
    with capsys.disabled():
        print(f"\n[control resilience] {CHATS} chats, faults {faults}: {ledger.summary()}")
    if faults is CREATE_PARTICIPANT_HAMMERED:
        assert sum(n for key, n in ledger.errors.items() if key.startswith("CreateParticipant")) >= 1
        assert ledger.lost["CreateParticipant"] >= 1
        # A CreateParticipant done and then answered 500 was sent again, and answered with the same participant.
        assert max(record.create_requests_served.values()) >= 2
