"""The flow's "bot participant disconnected" branch: the bot leaves, the contact waits in a queue, an agent takes it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from botkit.emulator import EmulatorConfig
from tests.conftest import EmulatorThread
from tests.emulator.helpers import Api, Chat, Party


def hand_off(api: Api, chat: Chat, bot: Party, attributes: dict[str, str]) -> None:
    """What a bot's handoff does on the wire: set the attributes, then leave."""
    api.connect.update_contact_attributes(
        InstanceId=api.instance_id, InitialContactId=chat.contact_id, Attributes=attributes
    )
    api.participant.disconnect_participant(ConnectionToken=bot.connection_token)


def messages(api: Api, party: Party) -> list[tuple[str, str]]:
    return [(i["ParticipantRole"], i["Content"]) for i in api.transcript(party) if i["Type"] == "MESSAGE"]


def test_a_bot_hands_off_the_contact_waits_in_its_queue_and_an_agent_talks_to_the_customer(api: Api) -> None:
    chat = api.start_chat()
    bot = api.add_bot(chat)
    api.say(chat.customer, "I want a refund")
    api.say(bot, "Let me find someone for you")
    assert api.contact_state(chat.contact_id)["State"] == "IN_FLOW"

    hand_off(api, chat, bot, {"queue": "Billing", "reason": "refund"})

    waiting = api.contact_state(chat.contact_id)
    assert (waiting["State"], waiting["Queue"], waiting["Ended"]) == ("QUEUED", "Billing", False)
    assert waiting["Attributes"] == {"queue": "Billing", "reason": "refund"}
    assert waiting["QueuedAt"]
    roles = {p["ParticipantRole"]: p["Active"] for p in waiting["Participants"]}
    assert roles == {"CUSTOMER": True, "CUSTOM_BOT": False}

    agent = api.join(chat, "AGENT", "Ann")
    taken = api.contact_state(chat.contact_id)
    assert (taken["State"], taken["Queue"]) == ("CONNECTED_TO_AGENT", "Billing")

    api.say(agent, "Hi, I am Ann from Billing")
    api.say(chat.customer, "Thanks, order 42 please")
    expected = [
        ("CUSTOMER", "I want a refund"),
        ("CUSTOM_BOT", "Let me find someone for you"),
        ("AGENT", "Hi, I am Ann from Billing"),
        ("CUSTOMER", "Thanks, order 42 please"),
    ]
    assert messages(api, chat.customer) == expected
    assert messages(api, agent) == expected


def test_without_a_queue_attribute_the_flows_default_queue_is_used(api: Api) -> None:
    chat = api.start_chat()
    bot = api.add_bot(chat)

    hand_off(api, chat, bot, {"reason": "other"})

    state = api.contact_state(chat.contact_id)
    assert (state["State"], state["Queue"]) == ("QUEUED", "BasicQueue")


@pytest.fixture(scope="module")
def billing_default() -> Iterator[Api]:
    with EmulatorThread(EmulatorConfig(port=0, default_queue="GeneralSupport")) as running:
        yield Api(running)


def test_the_default_queue_is_configurable(billing_default: Api) -> None:
    chat = billing_default.start_chat()
    bot = billing_default.add_bot(chat)

    billing_default.participant.disconnect_participant(ConnectionToken=bot.connection_token)

    assert billing_default.contact_state(chat.contact_id)["Queue"] == "GeneralSupport"


def test_a_bot_leaving_after_the_customer_does_not_queue_an_ended_contact(api: Api) -> None:
    chat = api.start_chat()
    api.add_bot(chat)

    api.participant.disconnect_participant(ConnectionToken=chat.customer.connection_token)

    state = api.contact_state(chat.contact_id)
    assert (state["State"], state["Queue"], state["Ended"]) == ("ENDED", None, True)


def test_an_agent_joining_while_the_bot_is_there_takes_the_contact_without_a_queue(api: Api) -> None:
    chat = api.start_chat()
    api.add_bot(chat)

    api.join(chat, "AGENT")

    state = api.contact_state(chat.contact_id)
    assert (state["State"], state["Queue"]) == ("CONNECTED_TO_AGENT", None)
    assert [p["Active"] for p in state["Participants"] if p["ParticipantRole"] == "CUSTOM_BOT"] == [False]


def test_one_of_two_bots_leaving_keeps_the_contact_in_the_flow(api: Api) -> None:
    chat = api.start_chat()
    first = api.add_bot(chat, "First")
    api.add_bot(chat, "Second")

    api.participant.disconnect_participant(ConnectionToken=first.connection_token)

    state = api.contact_state(chat.contact_id)
    assert (state["State"], state["Queue"]) == ("IN_FLOW", None)
