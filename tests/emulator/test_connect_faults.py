"""Faults on `connect` operations answer with the `connect` model's own errors, so every client retries them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.emulator.helpers import Api, clients

CONNECT_OPERATIONS = ["StartChatContact", "CreateParticipant", "DescribeContact"]


def set_faults(api: Api, **spec: Any) -> None:
    status, body = api.control("PUT", "/emulator/faults", spec)
    assert status == 200, body


@pytest.fixture
def faulty(api: Api) -> Iterator[Api]:
    """Faults are the module emulator's: always switched off again, whatever the test did."""
    try:
        yield api
    finally:
        set_faults(api)


def modelled_errors(client: Any, operation: str) -> set[str]:
    return {shape.name for shape in client.meta.service_model.operation_model(operation).error_shapes}


def call(api: Api, connect: Any, operation: str) -> Any:
    """One call of `operation` on a fresh chat (made before the faults are on)."""
    if operation == "StartChatContact":
        return lambda: connect.start_chat_contact(
            InstanceId=api.instance_id, ContactFlowId=api.contact_flow_id, ParticipantDetails={"DisplayName": "C"}
        )
    chat = api.start_chat()
    if operation == "CreateParticipant":
        return lambda: connect.create_participant(
            InstanceId=api.instance_id,
            ContactId=chat.contact_id,
            ParticipantDetails={"ParticipantRole": "CUSTOM_BOT", "DisplayName": "Bot"},
        )
    return lambda: connect.describe_contact(InstanceId=api.instance_id, ContactId=chat.contact_id)


@pytest.mark.parametrize("operation", CONNECT_OPERATIONS)
@pytest.mark.parametrize("fault", [{"lost_response_rate": 1}, {"error_rate": 1, "error_statuses": [500]}])
def test_a_connect_fault_is_the_models_500_error(faulty: Api, operation: str, fault: dict[str, Any]) -> None:
    connect, _ = clients(faulty.base_url, retries={"max_attempts": 1})
    attempt = call(faulty, connect, operation)
    set_faults(faulty, operations=[operation], **fault)

    with pytest.raises(ClientError) as raised:
        attempt()

    response = raised.value.response
    assert response["Error"]["Code"] == "InternalServiceException"
    assert response["Error"]["Code"] in modelled_errors(connect, operation)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert isinstance(raised.value, connect.exceptions.InternalServiceException)


def test_a_participant_lost_response_keeps_the_participant_models_500_error(faulty: Api) -> None:
    _, participant = clients(faulty.base_url, retries={"max_attempts": 1})
    chat = faulty.start_chat()
    set_faults(faulty, lost_response_rate=1, operations=["SendMessage"])

    with pytest.raises(participant.exceptions.InternalServerException) as raised:
        participant.send_message(ConnectionToken=chat.customer.connection_token, ContentType="text/plain", Content="x")

    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert "InternalServerException" in modelled_errors(participant, "SendMessage")


def test_boto3_standard_retries_get_through_connect_faults_and_start_each_chat_once(faulty: Api) -> None:
    """StartChatContact's ClientToken is filled once per call by boto3, so a retry after a lost answer is the same chat."""
    connect, _ = clients(faulty.base_url, retries={"max_attempts": 10, "mode": "standard"})
    _, before = faulty.control("GET", "/emulator/contacts")
    set_faults(
        faulty, error_rate=0.3, error_statuses=[500], lost_response_rate=0.3, operations=CONNECT_OPERATIONS, seed=7
    )

    started = [
        connect.start_chat_contact(
            InstanceId=faulty.instance_id, ContactFlowId=faulty.contact_flow_id, ParticipantDetails={"DisplayName": "C"}
        )
        for _ in range(8)
    ]
    bots = [
        connect.create_participant(
            InstanceId=faulty.instance_id,
            ContactId=chat["ContactId"],
            ParticipantDetails={"ParticipantRole": "CUSTOM_BOT", "DisplayName": "Bot"},
        )
        for chat in started
    ]
    set_faults(faulty)

    assert sum(chat["ResponseMetadata"]["RetryAttempts"] for chat in started + bots) > 0
    _, after = faulty.control("GET", "/emulator/contacts")
    new = {c["ContactId"] for c in after["Contacts"]} - {c["ContactId"] for c in before["Contacts"]}
    assert new == {chat["ContactId"] for chat in started}
    for chat, bot in zip(started, bots, strict=True):
        participants = faulty.contact_state(chat["ContactId"])["Participants"]
        assert [p["ParticipantId"] for p in participants if p["ParticipantRole"] == "CUSTOM_BOT"] == [
            bot["ParticipantId"]
        ]
