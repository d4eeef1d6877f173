"""UpdateContactAttributes and GetContactAttributes through boto3's `connect` client, keyed on InitialContactId."""

from __future__ import annotations

import pytest

from tests.emulator.helpers import Api, assert_request_id, expect_error


def update(api: Api, contact_id: str, attributes: dict[str, str]) -> dict:
    return api.connect.update_contact_attributes(
        InstanceId=api.instance_id, InitialContactId=contact_id, Attributes=attributes
    )


def attributes_of(api: Api, contact_id: str) -> dict[str, str]:
    reply = api.connect.get_contact_attributes(InstanceId=api.instance_id, InitialContactId=contact_id)
    assert_request_id(reply)
    return reply["Attributes"]


def test_update_creates_and_updates_and_get_reads_them(api: Api) -> None:
    chat = api.start_chat(Attributes={"customerId": "c-1", "tier": "gold"})

    assert_request_id(update(api, chat.contact_id, {"tier": "platinum", "queue": "Billing"}))

    assert attributes_of(api, chat.contact_id) == {"customerId": "c-1", "tier": "platinum", "queue": "Billing"}
    described = api.connect.describe_contact(InstanceId=api.instance_id, ContactId=chat.contact_id)
    assert described["Contact"]["Attributes"] == {"customerId": "c-1", "tier": "platinum", "queue": "Billing"}


def test_the_key_is_the_initial_contact_id(api: Api) -> None:
    chat = api.start_chat()
    initial = api.connect.describe_contact(InstanceId=api.instance_id, ContactId=chat.contact_id)["Contact"][
        "InitialContactId"
    ]

    update(api, initial, {"reason": "refund"})

    assert attributes_of(api, initial) == {"reason": "refund"}


def test_an_empty_value_removes_the_attribute(api: Api) -> None:
    chat = api.start_chat(Attributes={"keep": "1", "drop": "2"})

    update(api, chat.contact_id, {"drop": ""})

    assert attributes_of(api, chat.contact_id) == {"keep": "1"}


def test_attributes_of_an_ended_contact_can_still_be_updated(api: Api) -> None:
    chat = api.start_chat()
    api.connect.stop_contact(InstanceId=api.instance_id, ContactId=chat.contact_id)

    update(api, chat.contact_id, {"outcome": "resolved"})

    assert attributes_of(api, chat.contact_id) == {"outcome": "resolved"}


def test_an_unknown_contact_is_resource_not_found(api: Api) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    response = expect_error(
        api.connect.exceptions.ResourceNotFoundException,
        api.connect.update_contact_attributes,
        InstanceId=api.instance_id,
        InitialContactId=missing,
        Attributes={"a": "b"},
    )
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 404
    expect_error(
        api.connect.exceptions.ResourceNotFoundException,
        api.connect.get_contact_attributes,
        InstanceId=api.instance_id,
        InitialContactId=missing,
    )


def test_an_unknown_instance_is_resource_not_found(api: Api) -> None:
    chat = api.start_chat()
    for call, params in (
        (api.connect.update_contact_attributes, {"Attributes": {"a": "b"}}),
        (api.connect.get_contact_attributes, {}),
    ):
        response = expect_error(
            api.connect.exceptions.ResourceNotFoundException,
            call,
            InstanceId="not-this-instance",
            InitialContactId=chat.contact_id,
            **params,
        )
        assert "Instance not found" in response["Error"]["Message"]


def test_more_than_32768_bytes_across_all_attributes_is_refused_and_nothing_changes(api: Api) -> None:
    chat = api.start_chat(Attributes={"a": "x" * 16_000})
    fits = {"b": "y" * (32_768 - 16_001 - 1)}  # a, its value and b, its value: exactly 32,768 bytes
    update(api, chat.contact_id, fits)

    response = expect_error(
        api.connect.exceptions.InvalidParameterException,
        update,
        api=api,
        contact_id=chat.contact_id,
        attributes={"c": "é"},  # three more bytes
    )

    assert "32768" in response["Error"]["Message"]
    assert set(attributes_of(api, chat.contact_id)) == {"a", "b"}


def test_a_key_with_other_characters_is_refused(api: Api) -> None:
    chat = api.start_chat()

    response = expect_error(
        api.connect.exceptions.InvalidParameterException,
        update,
        api=api,
        contact_id=chat.contact_id,
        attributes={"has space": "v", "ok_key-1": "v"},
    )

    assert "has space" in response["Error"]["Message"]
    assert attributes_of(api, chat.contact_id) == {}


@pytest.mark.parametrize(
    "attributes, problem",
    [({"k": "v" * 32_768}, "less than or equal to 32767"), ({"": "v"}, "Map keys must satisfy constraint")],
)
def test_the_models_length_limits_hold(raw: Api, attributes: dict[str, str], problem: str) -> None:
    chat = raw.start_chat()

    response = expect_error(
        raw.connect.exceptions.InvalidParameterException,
        raw.connect.update_contact_attributes,
        InstanceId=raw.instance_id,
        InitialContactId=chat.contact_id,
        Attributes=attributes,
    )

    assert problem in response["Error"]["Message"]
