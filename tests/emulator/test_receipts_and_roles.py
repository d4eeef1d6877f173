"""SendEvent: typing, delivered/read receipts and the two-participant rule, and who counts as a participant."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.emulator.helpers import (
    CONTACT_STATE_CONFLICT,
    DELIVERED,
    EVENT,
    JOINED,
    LEFT,
    METADATA,
    READ,
    TYPING,
    WIRE_TIME,
    Api,
    Chat,
    Party,
    assert_request_id,
    content_types,
    expect_error,
    listening,
)


def send_event(api: Api, party: Party, content_type: str, content: str | None = None, **options: Any) -> dict[str, Any]:
    if content is not None:
        options["Content"] = content
    return api.participant.send_event(ConnectionToken=party.connection_token, ContentType=content_type, **options)


def receipt(message_id: str, **extra: Any) -> str:
    return json.dumps({"messageId": message_id, **extra})


def message_item(api: Api, party: Party, message_id: str) -> dict[str, Any]:
    return next(item for item in api.transcript(party) if item["Id"] == message_id)


def chat_with_agent(api: Api) -> tuple[Chat, Party]:
    chat = api.start_chat()
    return chat, api.join(chat, "AGENT")


def conflict(api: Api, party: Party, content_type: str, content: str) -> None:
    response = expect_error(
        api.participant.exceptions.ConflictException,
        send_event,
        api=api,
        party=party,
        content_type=content_type,
        content=content,
    )
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert response["Error"]["Message"] == CONTACT_STATE_CONFLICT


# Typing ------------------------------------------------------------------------------------


def test_typing_is_shown_live_but_not_kept(api: Api) -> None:
    chat, agent = chat_with_agent(api)
    before = api.transcript(chat.customer)
    with listening(api, agent.participant_token) as agent_socket:
        reply = send_event(api, chat.customer, TYPING)
        typing = agent_socket.wait_for(lambda item: item["ContentType"] == TYPING)

    assert_request_id(reply)
    assert WIRE_TIME.match(reply["AbsoluteTime"])
    assert typing["Id"] == reply["Id"]
    assert typing["Type"] == "EVENT"
    assert typing["ParticipantId"] == chat.customer.participant_id
    assert typing["ParticipantRole"] == "CUSTOMER"
    assert api.transcript(chat.customer) == before


def test_typing_is_allowed_with_many_participants(api: Api) -> None:
    chat, agent = chat_with_agent(api)
    supervisor = api.join(chat, "SUPERVISOR")
    api.join(chat, "SUPERVISOR", "Second supervisor")

    for party in (chat.customer, agent, supervisor):
        assert_request_id(send_event(api, party, TYPING))
    assert TYPING not in content_types(api.transcript(chat.customer))


def test_connection_acknowledged_is_still_accepted_and_not_kept(api: Api) -> None:
    chat, _ = chat_with_agent(api)
    assert_request_id(send_event(api, chat.customer, EVENT + "connection.acknowledged"))
    assert EVENT + "connection.acknowledged" not in content_types(api.transcript(chat.customer))


@pytest.mark.parametrize(
    "content_type",
    [EVENT + "chat.ended", EVENT + "participant.left", EVENT + "participant.joined", EVENT + "made.up", "text/plain"],
)
def test_events_a_participant_may_not_send_are_refused(api: Api, content_type: str) -> None:
    """SendEvent takes typing, connection.acknowledged and the two receipts; a client cannot forge the rest."""
    chat, agent = chat_with_agent(api)
    before = api.transcript(chat.customer)

    expect_error(
        api.participant.exceptions.ValidationException, send_event, api=api, party=agent, content_type=content_type
    )

    assert api.transcript(chat.customer) == before
    assert api.contact_state(chat.contact_id)["Ended"] is False


# Receipts ------------------------------------------------------------------------------------


def test_a_delivered_receipt_lands_on_the_message(api: Api) -> None:
    chat, agent = chat_with_agent(api)
    sent = api.say(chat.customer, "Hello agent")

    with listening(api, chat.customer.participant_token) as customer_socket:
        reply = send_event(api, agent, DELIVERED, receipt(sent["Id"]))
        metadata = customer_socket.wait_for(lambda item: item["Type"] == "MESSAGEMETADATA")

    assert_request_id(reply)
    assert WIRE_TIME.match(reply["AbsoluteTime"])
    assert metadata["ContentType"] == METADATA
    assert metadata["ContactId"] == chat.contact_id
    assert metadata["MessageMetadata"]["MessageId"] == sent["Id"]
    [live] = metadata["MessageMetadata"]["Receipts"]
    assert live["RecipientParticipantId"] == agent.participant_id
    assert WIRE_TIME.match(live["DeliveredTimestamp"])

    message = message_item(api, chat.customer, sent["Id"])
    assert message["MessageMetadata"]["MessageId"] == sent["Id"]
    [kept] = message["MessageMetadata"]["Receipts"]
    assert kept == {"DeliveredTimestamp": live["DeliveredTimestamp"], "RecipientParticipantId": agent.participant_id}
    assert "MESSAGEMETADATA" not in [item["Type"] for item in api.transcript(chat.customer)]
    assert DELIVERED not in content_types(api.transcript(chat.customer))


def test_a_read_receipt_marks_the_message_read(api: Api) -> None:
    chat, agent = chat_with_agent(api)
    sent = api.say(agent, "Hello customer")

    send_event(api, chat.customer, DELIVERED, receipt(sent["Id"]))
    send_event(api, chat.customer, READ, receipt(sent["Id"]))

    [kept] = message_item(api, agent, sent["Id"])["MessageMetadata"]["Receipts"]
    assert kept["RecipientParticipantId"] == chat.customer.participant_id
    assert WIRE_TIME.match(kept["DeliveredTimestamp"])
    assert WIRE_TIME.match(kept["ReadTimestamp"])
    assert kept["DeliveredTimestamp"] <= kept["ReadTimestamp"]
    assert READ not in content_types(api.transcript(agent))


def test_a_read_receipt_alone_implies_delivery(api: Api) -> None:
    chat, agent = chat_with_agent(api)
    sent = api.say(agent, "Read me")

    send_event(api, chat.customer, READ, receipt(sent["Id"]))

    [kept] = message_item(api, agent, sent["Id"])["MessageMetadata"]["Receipts"]
    assert set(kept) == {"DeliveredTimestamp", "ReadTimestamp", "RecipientParticipantId"}


def test_extra_keys_in_a_receipt_are_tolerated(api: Api) -> None:
    chat, agent = chat_with_agent(api)
    sent = api.say(agent, "Hi")

    send_event(api, chat.customer, READ, receipt(sent["Id"], disableThrottle=True))

    assert message_item(api, agent, sent["Id"])["MessageMetadata"]["Receipts"][0]["ReadTimestamp"]


def test_chatjs_fixed_receipt_token_marks_every_message(api: Api) -> None:
    """chatjs sends every read receipt with the token INCOMING_READ_RECEIPT: the body tells them apart."""
    chat, agent = chat_with_agent(api)
    first = api.say(agent, "one")
    second = api.say(agent, "two")

    replies = [
        send_event(api, chat.customer, READ, receipt(sent["Id"]), ClientToken="INCOMING_READ_RECEIPT")
        for sent in (first, second)
    ]
    again = send_event(api, chat.customer, READ, receipt(first["Id"]), ClientToken="INCOMING_READ_RECEIPT")

    assert replies[0]["Id"] != replies[1]["Id"]
    assert again["Id"] == replies[0]["Id"]
    for sent in (first, second):
        [kept] = message_item(api, agent, sent["Id"])["MessageMetadata"]["Receipts"]
        assert kept["RecipientParticipantId"] == chat.customer.participant_id
        assert kept["ReadTimestamp"]


@pytest.mark.parametrize(
    "content",
    [
        None,
        "not json",
        "[]",
        '"abc"',
        "{}",
        '{"messageId": ""}',
        '{"messageId": 42}',
        '{"MessageId": "capitalised"}',
    ],
)
@pytest.mark.parametrize("content_type", [DELIVERED, READ])
def test_malformed_receipts_are_validation_exceptions(api: Api, content_type: str, content: str | None) -> None:
    chat, _ = chat_with_agent(api)
    response = expect_error(
        api.participant.exceptions.ValidationException,
        send_event,
        api=api,
        party=chat.customer,
        content_type=content_type,
        content=content,
    )
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_receipts_conflict_with_more_than_two_participants(api: Api) -> None:
    chat, agent = chat_with_agent(api)
    sent = api.say(agent, "Hello")
    supervisor = api.join(chat, "SUPERVISOR")

    for party in (chat.customer, agent, supervisor):
        conflict(api, party, READ, receipt(sent["Id"]))
        conflict(api, party, DELIVERED, receipt(sent["Id"]))
    assert "MessageMetadata" not in message_item(api, agent, sent["Id"])

    api.participant.disconnect_participant(ConnectionToken=supervisor.connection_token)

    send_event(api, chat.customer, READ, receipt(sent["Id"]))
    [kept] = message_item(api, agent, sent["Id"])["MessageMetadata"]["Receipts"]
    assert kept["RecipientParticipantId"] == chat.customer.participant_id


def test_a_connected_custom_bot_counts_as_a_participant(api: Api) -> None:
    chat = api.start_chat()
    bot = api.add_bot(chat)
    sent = api.say(bot, "I am a bot")
    send_event(api, chat.customer, READ, receipt(sent["Id"]))

    supervisor = api.join(chat, "SUPERVISOR")
    conflict(api, chat.customer, READ, receipt(sent["Id"]))
    conflict(api, bot, DELIVERED, receipt(sent["Id"]))

    api.participant.disconnect_participant(ConnectionToken=supervisor.connection_token)
    send_event(api, bot, DELIVERED, receipt(sent["Id"]))


def test_a_custom_bot_that_never_connected_does_not_count(api: Api) -> None:
    chat = api.start_chat()
    api.add_bot(chat, connect=False)
    supervisor = api.join(chat, "SUPERVISOR")
    sent = api.say(chat.customer, "Hello")

    send_event(api, supervisor, READ, receipt(sent["Id"]))

    api.join(chat, "CUSTOMER", "Guest")
    conflict(api, supervisor, READ, receipt(sent["Id"]))


# Roles ------------------------------------------------------------------------------------------


def test_every_role_is_named_on_its_items(api: Api) -> None:
    chat = api.start_chat()
    bot = api.add_bot(chat, "Botty")
    api.say(bot, "bot speaking")
    agent = api.join(chat, "AGENT", "Alice")
    supervisor = api.join(chat, "SUPERVISOR", "Sam")
    for party in (chat.customer, agent, supervisor):
        api.say(party, f"{party.role} speaking")

    messages = [item for item in api.transcript(chat.customer) if item["Type"] == "MESSAGE"]
    assert [(m["ParticipantRole"], m["DisplayName"], m["Content"]) for m in messages] == [
        ("CUSTOM_BOT", "Botty", "bot speaking"),
        ("CUSTOMER", "Customer", "CUSTOMER speaking"),
        ("AGENT", "Alice", "AGENT speaking"),
        ("SUPERVISOR", "Sam", "SUPERVISOR speaking"),
    ]
    joined = [(i["ParticipantRole"], i["ParticipantId"]) for i in api.transcript(chat.customer) if i["ContentType"] == JOINED]
    assert joined == [
        ("CUSTOMER", chat.customer.participant_id),
        ("CUSTOM_BOT", bot.participant_id),
        ("AGENT", agent.participant_id),
        ("SUPERVISOR", supervisor.participant_id),
    ]
    left = [(i["ParticipantRole"], i["ParticipantId"]) for i in api.transcript(chat.customer) if i["ContentType"] == LEFT]
    assert left == [("CUSTOM_BOT", bot.participant_id)]


def test_a_supervisor_leaving_does_not_end_the_chat(api: Api) -> None:
    chat, agent = chat_with_agent(api)
    supervisor = api.join(chat, "SUPERVISOR")

    api.participant.disconnect_participant(ConnectionToken=supervisor.connection_token)

    assert api.contact_state(chat.contact_id)["Ended"] is False
    assert content_types(api.transcript(agent))[-1] == LEFT
    api.say(agent, "still here")
