"""Reading requests and writing responses as the real rest-json models lay them out."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from functools import cache

import botocore.session
import pytest
from botocore.model import OperationModel, ServiceModel
from multidict import CIMultiDict, MultiDict

from botkit.emulator.wire import WireError, parse_input, serialize_output
from botkit.emulator.wireformat import new_id

TOKEN = "connection-token-value"
INSTANCE = "11111111-2222-3333-4444-555555555555"
CONTACT = "66666666-7777-8888-9999-000000000000"


@cache
def model(service: str) -> ServiceModel:
    return botocore.session.get_session().get_service_model(service)


def operation(service: str, name: str) -> OperationModel:
    return model(service).operation_model(name)


def parse(
    service: str,
    name: str,
    *,
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
    path_params: Mapping[str, str] | None = None,
    query: Mapping[str, str] | None = None,
) -> dict[str, object]:
    return parse_input(
        operation(service, name),
        body=body,
        headers=headers or {},
        path_params=path_params or {},
        query=query or {},
    )


@pytest.mark.parametrize("header", ["X-Amz-Bearer", "x-amz-bearer", "X-AMZ-BEARER"])
def test_header_member_is_found_whatever_its_case(header: str) -> None:
    params = parse("connectparticipant", "DisconnectParticipant", headers={header: TOKEN})

    assert params == {"ConnectionToken": TOKEN}


def test_header_member_from_an_aiohttp_style_multidict() -> None:
    headers = CIMultiDict({"Content-Type": "application/json", "X-Amz-Bearer": TOKEN})

    params = parse("connectparticipant", "SendMessage", headers=headers, body=b'{"Content": "hi"}')

    assert params == {"ConnectionToken": TOKEN, "Content": "hi"}


def test_body_and_header_members_are_merged() -> None:
    body = json.dumps({"ContentType": "text/plain", "Content": "hello", "ClientToken": "c-1"}).encode()

    params = parse("connectparticipant", "SendMessage", body=body, headers={"X-Amz-Bearer": TOKEN})

    assert params == {
        "ContentType": "text/plain",
        "Content": "hello",
        "ClientToken": "c-1",
        "ConnectionToken": TOKEN,
    }


def test_describe_view_takes_its_token_from_the_uri() -> None:
    params = parse(
        "connectparticipant",
        "DescribeView",
        headers={"X-Amz-Bearer": TOKEN},
        path_params={"ViewToken": "view/token with space"},
    )

    assert params == {"ViewToken": "view/token with space", "ConnectionToken": TOKEN}


def test_describe_contact_takes_both_ids_from_the_uri() -> None:
    params = parse("connect", "DescribeContact", path_params={"InstanceId": INSTANCE, "ContactId": CONTACT})

    assert params == {"InstanceId": INSTANCE, "ContactId": CONTACT}


def test_get_contact_attributes_takes_its_uri_members() -> None:
    path_params = {"InstanceId": INSTANCE, "InitialContactId": CONTACT}

    assert parse("connect", "GetContactAttributes", path_params=path_params) == {
        "InstanceId": INSTANCE,
        "InitialContactId": CONTACT,
    }


def test_a_uri_member_is_not_read_from_the_body() -> None:
    body = json.dumps({"InstanceId": "from-body", "ContactId": "from-body"}).encode()

    assert parse("connect", "DescribeContact", body=body, path_params={"InstanceId": INSTANCE}) == {
        "InstanceId": INSTANCE
    }


def test_missing_header_uri_and_query_members_are_absent() -> None:
    assert parse("connect", "ListQueues") == {}


def test_query_members_are_converted_to_their_types() -> None:
    params = parse(
        "connect",
        "ListQueues",
        path_params={"InstanceId": INSTANCE},
        query={"maxResults": "25", "nextToken": "page-2"},
    )

    assert params == {"InstanceId": INSTANCE, "MaxResults": 25, "NextToken": "page-2"}


def test_a_repeated_query_key_fills_a_list_member() -> None:
    query = MultiDict([("queueTypes", "STANDARD"), ("queueTypes", "AGENT")])

    params = parse("connect", "ListQueues", path_params={"InstanceId": INSTANCE}, query=query)

    assert params["QueueTypes"] == ["STANDARD", "AGENT"]


def test_a_single_query_value_fills_a_list_member_from_a_plain_mapping() -> None:
    params = parse("connect", "ListQueues", query={"queueTypes": "STANDARD"})

    assert params == {"QueueTypes": ["STANDARD"]}


@pytest.mark.parametrize("text", ["ten", "1.5", "", "1_000", "١٢", "9" * 5_000])
def test_a_query_integer_that_is_not_one_is_a_wire_error(text: str) -> None:
    with pytest.raises(WireError) as caught:
        parse("connect", "ListQueues", query={"maxResults": text})

    assert str(caught.value) == "The query parameter 'maxResults' must be an integer"


def test_a_signed_query_integer_is_read() -> None:
    assert parse("connect", "ListQueues", query={"maxResults": "-3"}) == {"MaxResults": -3}


def test_a_malformed_json_body_is_a_wire_error() -> None:
    with pytest.raises(WireError, match="not valid JSON"):
        parse("connectparticipant", "SendMessage", body=b'{"Content": "hi"')


def test_a_body_that_is_not_utf8_is_a_wire_error() -> None:
    with pytest.raises(WireError, match="not valid JSON"):
        parse("connectparticipant", "SendMessage", body=b'{"Content": "\xff"}')


def test_a_too_deeply_nested_body_is_a_wire_error() -> None:
    with pytest.raises(WireError, match="not valid JSON"):
        parse("connectparticipant", "SendMessage", body=b"[" * 100_000 + b"]" * 100_000)


@pytest.mark.parametrize("body", [b'["Content"]', b'"text"', b"42", b"null"])
def test_a_body_that_is_not_a_json_object_is_a_wire_error(body: bytes) -> None:
    with pytest.raises(WireError, match="must be a JSON object"):
        parse("connectparticipant", "SendMessage", body=body)


@pytest.mark.parametrize("body", [b"", b"  \r\n"])
def test_an_empty_body_means_no_body_members(body: bytes) -> None:
    assert parse("connectparticipant", "SendMessage", body=body, headers={"X-Amz-Bearer": TOKEN}) == {
        "ConnectionToken": TOKEN
    }


def test_unknown_body_keys_are_dropped() -> None:
    body = json.dumps({"Content": "hi", "Surprise": 1, "content": "lower"}).encode()

    assert parse("connectparticipant", "SendMessage", body=body) == {"Content": "hi"}


def test_json_null_in_the_body_counts_as_absent() -> None:
    body = json.dumps({"Content": None, "ContentType": "text/plain"}).encode()

    assert parse("connectparticipant", "SendMessage", body=body) == {"ContentType": "text/plain"}


def test_a_header_member_is_not_read_from_the_body() -> None:
    body = json.dumps({"ConnectionToken": "smuggled"}).encode()

    assert parse("connectparticipant", "SendMessage", body=body) == {}


def test_an_operation_without_input_has_no_parameters() -> None:
    assert parse_input(
        synthetic().operation_model("Ping"), body=b"not even json", headers={}, path_params={}, query={}
    ) == {}


@cache
def synthetic() -> ServiceModel:
    """A tiny model for what neither Connect model has: a boolean header and a renamed body member."""
    return ServiceModel(
        {
            "metadata": {"protocol": "rest-json", "apiVersion": "2024-01-01", "endpointPrefix": "x"},
            "operations": {
                "Toggle": {
                    "name": "Toggle",
                    "http": {"method": "POST", "requestUri": "/toggle"},
                    "input": {"shape": "ToggleRequest"},
                },
                "Ping": {"name": "Ping", "http": {"method": "GET", "requestUri": "/ping"}},
            },
            "shapes": {
                "ToggleRequest": {
                    "type": "structure",
                    "members": {
                        "Enabled": {"shape": "Flag", "location": "header", "locationName": "x-enabled"},
                        "Label": {"shape": "Text", "locationName": "label"},
                    },
                },
                "Flag": {"type": "boolean"},
                "Text": {"type": "string"},
            },
        }
    )


def toggle(**kwargs: object) -> dict[str, object]:
    arguments = {"body": b"", "headers": {}, "path_params": {}, "query": {}, **kwargs}
    return parse_input(synthetic().operation_model("Toggle"), **arguments)


@pytest.mark.parametrize(("text", "value"), [("true", True), ("false", False)])
def test_a_boolean_header_is_converted(text: str, value: bool) -> None:
    assert toggle(headers={"X-Enabled": text}) == {"Enabled": value}


@pytest.mark.parametrize("text", ["True", "1", "yes", ""])
def test_a_boolean_header_that_is_not_one_is_a_wire_error(text: str) -> None:
    with pytest.raises(WireError, match="The header 'x-enabled' must be 'true' or 'false'"):
        toggle(headers={"x-enabled": text})


def test_a_body_member_is_read_under_its_wire_name() -> None:
    assert toggle(body=b'{"label": "on", "Label": "ignored"}') == {"Label": "on"}


def describe_contact_output() -> object:
    return operation("connect", "DescribeContact").output_shape


def test_serialize_output_turns_timestamps_into_epoch_seconds() -> None:
    started = datetime(2024, 5, 1, 12, 30, 15, 500_000, tzinfo=UTC)
    contact = {"Id": CONTACT, "Channel": "CHAT", "InitiationTimestamp": started}

    output = serialize_output(describe_contact_output(), {"Contact": contact})

    assert output == {"Contact": {"Id": CONTACT, "Channel": "CHAT", "InitiationTimestamp": 1714566615.5}}
    assert json.loads(json.dumps(output)) == output


def test_serialize_output_respects_the_datetime_offset() -> None:
    local = datetime(2024, 5, 1, 14, 30, 15, tzinfo=timezone(timedelta(hours=2)))

    output = serialize_output(describe_contact_output(), {"Contact": {"LastUpdateTimestamp": local}})

    assert output == {"Contact": {"LastUpdateTimestamp": 1714566615.0}}


def test_serialize_output_reads_a_naive_datetime_as_utc() -> None:
    naive = datetime(1970, 1, 2)

    output = serialize_output(describe_contact_output(), {"Contact": {"InitiationTimestamp": naive}})

    assert output == {"Contact": {"InitiationTimestamp": 86400.0}}


def test_serialize_output_drops_none_at_every_level() -> None:
    value = {
        "Contact": {
            "Id": CONTACT,
            "Name": None,
            "AgentInfo": {"Id": "agent-1", "ConnectedToAgentTimestamp": None},
            "Attributes": {"kept": "v", "dropped": None},
        },
    }

    output = serialize_output(describe_contact_output(), value)

    assert output == {"Contact": {"Id": CONTACT, "AgentInfo": {"Id": "agent-1"}, "Attributes": {"kept": "v"}}}


def test_serialize_output_drops_keys_the_model_does_not_know() -> None:
    output = serialize_output(describe_contact_output(), {"Contact": {"Id": CONTACT, "_internal": object()}})

    assert output == {"Contact": {"Id": CONTACT}}


def test_serialize_output_walks_lists_and_maps() -> None:
    recorded = datetime(2024, 1, 1, tzinfo=UTC)
    value = {"Contact": {"Recordings": [{"StartTimestamp": recorded, "Location": "s3://bucket/a"}]}}

    output = serialize_output(describe_contact_output(), value)

    recording = {"StartTimestamp": recorded.timestamp(), "Location": "s3://bucket/a"}
    assert output == {"Contact": {"Recordings": [recording]}}


def test_serialize_output_uses_iso8601_where_the_model_says_so() -> None:
    shape = model("connect").shape_for("RealTimeContactAnalysisTimeData")
    moment = datetime(2024, 5, 1, 12, 30, 15, tzinfo=UTC)

    assert serialize_output(shape, {"AbsoluteTime": moment}) == {"AbsoluteTime": "2024-05-01T12:30:15Z"}


def test_serialize_output_of_no_shape_is_an_empty_object() -> None:
    assert serialize_output(None, {"anything": 1}) == {}


def test_serialize_output_of_a_participant_response() -> None:
    shape = operation("connectparticipant", "SendMessage").output_shape

    reply = {"Id": "m-1", "AbsoluteTime": "2024-05-01T12:30:15.000Z", "MessageMetadata": None}

    assert serialize_output(shape, reply) == {"Id": "m-1", "AbsoluteTime": "2024-05-01T12:30:15.000Z"}


def test_new_ids_are_distinct_canonical_version_4_uuids() -> None:
    ids = [new_id() for _ in range(20_000)]
    assert len(set(ids)) == len(ids)
    for value in ids[:2000]:
        parsed = uuid.UUID(value)
        assert str(parsed) == value and parsed.version == 4 and parsed.variant == uuid.RFC_4122
