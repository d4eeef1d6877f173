"""Validation against the real botocore models, message for message as AWS words them."""

from __future__ import annotations

from functools import cache

import botocore.session
import pytest
from botocore.model import (
    ListShape,
    MapShape,
    OperationModel,
    ServiceModel,
    Shape,
    ShapeResolver,
    StructureShape,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from botkit.emulator.validation import validate, validation_message

TOKEN = "Bearer-ZXlKaGJHY2lPaUpJVXpJMU5pSjkuc2VjcmV0LXNlc3Npb24tdG9rZW4tdmFsdWU"


@cache
def model(service: str) -> ServiceModel:
    return botocore.session.get_session().get_service_model(service)


def operation(service: str, name: str) -> OperationModel:
    return model(service).operation_model(name)


def participant_errors(name: str, params: dict[str, object]) -> list[str]:
    return validate(operation("connectparticipant", name).input_shape, params)


def send_message(**overrides: object) -> dict[str, object]:
    return {"ContentType": "text/plain", "Content": "hello", "ConnectionToken": TOKEN, **overrides}


def start_chat(**overrides: object) -> dict[str, object]:
    return {
        "InstanceId": "11111111-2222-3333-4444-555555555555",
        "ContactFlowId": "66666666-7777-8888-9999-000000000000",
        "ParticipantDetails": {"DisplayName": "Customer"},
        **overrides,
    }


def start_chat_errors(**overrides: object) -> list[str]:
    return validate(operation("connect", "StartChatContact").input_shape, start_chat(**overrides))


def test_a_valid_send_message_has_no_errors() -> None:
    assert participant_errors("SendMessage", send_message()) == []


def test_content_of_exactly_16384_bytes_passes() -> None:
    assert participant_errors("SendMessage", send_message(Content="a" * 16_384)) == []


def test_content_of_16385_bytes_fails_with_a_truncated_value() -> None:
    errors = participant_errors("SendMessage", send_message(Content="a" * 16_385))

    assert errors == [
        f"Value '{'a' * 97}...' at 'content' failed to satisfy constraint: "
        "Member must have length less than or equal to 16384"
    ]


def test_content_length_counts_utf8_bytes_not_characters() -> None:
    errors = participant_errors("SendMessage", send_message(Content="€" * 5_462))

    assert len(errors) == 1
    assert errors[0].endswith(
        "at 'content' failed to satisfy constraint: Member must have length less than or equal to 16384"
    )


def test_multibyte_content_just_under_the_limit_passes() -> None:
    assert participant_errors("SendMessage", send_message(Content="€" * 5_461 + "a")) == []


def test_empty_content_breaks_the_minimum_length() -> None:
    assert participant_errors("SendMessage", send_message(Content="")) == [
        "Value '' at 'content' failed to satisfy constraint: "
        "Member must have length greater than or equal to 1"
    ]


def test_missing_content_type_is_reported_as_null() -> None:
    params = send_message()
    del params["ContentType"]

    assert participant_errors("SendMessage", params) == [
        "Value null at 'contentType' failed to satisfy constraint: Member must not be null"
    ]


def test_json_null_counts_as_missing() -> None:
    assert participant_errors("SendMessage", send_message(ContentType=None)) == [
        "Value null at 'contentType' failed to satisfy constraint: Member must not be null"
    ]


def test_unknown_members_are_ignored() -> None:
    assert participant_errors("SendMessage", send_message(Unexpected="x" * 100_000)) == []


def test_scan_direction_must_be_in_the_enum() -> None:
    errors = participant_errors("GetTranscript", {"ConnectionToken": TOKEN, "ScanDirection": "SIDEWAYS"})

    assert errors == [
        "Value 'SIDEWAYS' at 'scanDirection' failed to satisfy constraint: "
        "Member must satisfy enum value set: [FORWARD, BACKWARD]"
    ]


@pytest.mark.parametrize(
    ("max_results", "constraint"),
    [
        (101, "Member must have value less than or equal to 100"),
        (-1, "Member must have value greater than or equal to 0"),
    ],
)
def test_max_results_out_of_range(max_results: int, constraint: str) -> None:
    errors = participant_errors("GetTranscript", {"ConnectionToken": TOKEN, "MaxResults": max_results})

    assert errors == [f"Value '{max_results}' at 'maxResults' failed to satisfy constraint: {constraint}"]


@pytest.mark.parametrize("max_results", [0, 100])
def test_max_results_at_the_bounds_passes(max_results: int) -> None:
    assert participant_errors("GetTranscript", {"ConnectionToken": TOKEN, "MaxResults": max_results}) == []


@pytest.mark.parametrize(
    ("ids", "constraint"),
    [
        ([], "Member must have length greater than or equal to 1"),
        (["a", "b"], "Member must have length less than or equal to 1"),
    ],
)
def test_attachment_ids_must_hold_exactly_one(ids: list[str], constraint: str) -> None:
    params = {"AttachmentIds": ids, "ClientToken": "c", "ConnectionToken": TOKEN}

    errors = participant_errors("CompleteAttachmentUpload", params)

    rendered = "[" + ", ".join(ids) + "]"
    assert errors == [f"Value '{rendered}' at 'attachmentIds' failed to satisfy constraint: {constraint}"]


def test_list_elements_are_checked_at_a_member_path() -> None:
    params = {"AttachmentIds": ["x" * 257], "ClientToken": "c", "ConnectionToken": TOKEN}

    errors = participant_errors("CompleteAttachmentUpload", params)

    assert len(errors) == 1
    assert errors[0].endswith(
        "at 'attachmentIds.1.member' failed to satisfy constraint: "
        "Member must have length less than or equal to 256"
    )


def test_null_list_element_is_reported() -> None:
    params = {"AttachmentIds": [None], "ClientToken": "c", "ConnectionToken": TOKEN}

    assert participant_errors("CompleteAttachmentUpload", params) == [
        "Value null at 'attachmentIds.1.member' failed to satisfy constraint: Member must not be null"
    ]


def test_a_valid_start_chat_contact_has_no_errors() -> None:
    assert start_chat_errors() == []


def test_nested_display_name_is_required() -> None:
    assert start_chat_errors(ParticipantDetails={}) == [
        "Value null at 'participantDetails.displayName' failed to satisfy constraint: Member must not be null"
    ]


def test_nested_display_name_length_is_checked() -> None:
    errors = start_chat_errors(ParticipantDetails={"DisplayName": ""})

    assert errors == [
        "Value '' at 'participantDetails.displayName' failed to satisfy constraint: "
        "Member must have length greater than or equal to 1"
    ]


@pytest.mark.parametrize(
    ("minutes", "constraint"),
    [
        (59, "Member must have value greater than or equal to 60"),
        (10_081, "Member must have value less than or equal to 10080"),
    ],
)
def test_chat_duration_range(minutes: int, constraint: str) -> None:
    assert start_chat_errors(ChatDurationInMinutes=minutes) == [
        f"Value '{minutes}' at 'chatDurationInMinutes' failed to satisfy constraint: {constraint}"
    ]


@pytest.mark.parametrize("minutes", [60, 10_080])
def test_chat_duration_bounds_pass(minutes: int) -> None:
    assert start_chat_errors(ChatDurationInMinutes=minutes) == []


def test_map_keys_are_checked_with_aws_wording() -> None:
    errors = start_chat_errors(Attributes={"": "value"})

    assert errors == [
        "Value '' at 'attributes' failed to satisfy constraint: "
        "Map keys must satisfy constraint: [Member must have length greater than or equal to 1]"
    ]


def test_map_values_are_checked_with_aws_wording() -> None:
    errors = start_chat_errors(Attributes={"key": 5})

    assert errors == [
        "Value '5' at 'attributes' failed to satisfy constraint: "
        "Map value must satisfy constraint: [Member must be of type string]"
    ]


def test_a_structure_inside_a_map_is_walked_at_the_key() -> None:
    errors = start_chat_errors(SegmentAttributes={"connect:Subtype": {"ValueString": "v" * 1_025}})

    assert len(errors) == 1
    assert " at 'segmentAttributes.connect:Subtype.valueString' failed to satisfy constraint: " in errors[0]
    assert errors[0].endswith("Member must have length less than or equal to 1024")


def test_a_null_map_value_is_reported() -> None:
    assert start_chat_errors(Attributes={"key": None}) == [
        "Value null at 'attributes' failed to satisfy constraint: "
        "Map value must satisfy constraint: [Member must not be null]"
    ]


def test_an_int_where_a_string_belongs_is_a_type_error() -> None:
    assert participant_errors("SendMessage", send_message(Content=42)) == [
        "Value '42' at 'content' failed to satisfy constraint: Member must be of type string"
    ]


@pytest.mark.parametrize(
    ("value", "shown"),
    [("10", "10"), (True, "true"), (10.0, "10.0"), (2**31, "2147483648")],
    ids=["string", "bool", "float", "beyond-32-bits"],
)
def test_max_results_must_be_a_32_bit_integer(value: object, shown: str) -> None:
    errors = participant_errors("GetTranscript", {"ConnectionToken": TOKEN, "MaxResults": value})

    assert errors == [
        f"Value '{shown}' at 'maxResults' failed to satisfy constraint: Member must be of type integer"
    ]


def test_a_string_where_a_boolean_belongs_is_a_type_error() -> None:
    params = {"ParticipantToken": TOKEN, "ConnectParticipant": "yes"}

    errors = participant_errors("CreateParticipantConnection", params)

    assert errors == [
        "Value 'yes' at 'connectParticipant' failed to satisfy constraint: Member must be of type boolean"
    ]


def test_a_list_where_a_structure_belongs_is_a_type_error() -> None:
    assert start_chat_errors(ParticipantDetails=["Customer"]) == [
        "Value '[Customer]' at 'participantDetails' failed to satisfy constraint: "
        "Member must be of type structure"
    ]


@pytest.mark.parametrize(
    "moment", [1714566615, 1714566615.5, "2024-05-01T12:30:15Z", "2024-05-01T12:30:15.500+02:00"]
)
def test_a_timestamp_is_epoch_seconds_or_iso_text(moment: object) -> None:
    assert errors_at("connect", "GetMetricDataV2", {"StartTime": moment}, "startTime") == []


@pytest.mark.parametrize(("moment", "shown"), [("yesterday", "yesterday"), (True, "true"), ([1], "[1]")])
def test_anything_else_is_not_a_timestamp(moment: object, shown: str) -> None:
    assert errors_at("connect", "GetMetricDataV2", {"StartTime": moment}, "startTime") == [
        f"Value '{shown}' at 'startTime' failed to satisfy constraint: Member must be of type timestamp"
    ]


@pytest.mark.parametrize("level", [1, 4.5, 5.0])
def test_a_float_takes_any_number_in_range(level: float) -> None:
    assert validate(model("connect").shape_for("ProficiencyLevel"), level) == []


@pytest.mark.parametrize(
    ("level", "shown", "problem"),
    [
        (0.5, "0.5", "Member must have value greater than or equal to 1.0"),
        (5.5, "5.5", "Member must have value less than or equal to 5.0"),
        ("3", "3", "Member must be of type float"),
        (False, "false", "Member must be of type float"),
    ],
)
def test_a_float_out_of_range_or_of_another_type_fails(level: object, shown: str, problem: str) -> None:
    errors = validate(model("connect").shape_for("ProficiencyLevel"), level)

    assert errors == [f"Value '{shown}' at '' failed to satisfy constraint: {problem}"]


def blob_shape() -> Shape:
    """Neither Connect model has a blob, so this one is made up."""
    return ShapeResolver({"Data": {"type": "blob", "min": 1, "max": 4}}).get_shape_by_name("Data")


@pytest.mark.parametrize("data", ["AAEC", "AAECAw==", b"\x00"])
def test_a_blob_is_base64_text_or_bytes(data: object) -> None:
    assert validate(blob_shape(), data) == []


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ("", "Member must have length greater than or equal to 1"),
        ("AAECAwQ=", "Member must have length less than or equal to 4"),
        ("not base64!", "Member must be of type blob"),
        (12, "Member must be of type blob"),
    ],
)
def test_a_blob_length_counts_decoded_bytes(data: object, problem: str) -> None:
    assert validate(blob_shape(), data) == [f"Value '{data}' at '' failed to satisfy constraint: {problem}"]


def errors_at(service: str, name: str, params: dict[str, object], path: str) -> list[str]:
    """The errors about one member, so tests need not fill every required member."""
    errors = validate(operation(service, name).input_shape, params)
    return [error for error in errors if f" at '{path}' " in error]


def test_a_model_pattern_is_enforced_whole() -> None:
    params = {"EffectiveFrom": "2024-01-01x"}

    errors = errors_at("connect", "CreateHoursOfOperationOverride", params, "effectiveFrom")

    assert errors == [
        "Value '2024-01-01x' at 'effectiveFrom' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: ^\\d{4}-\\d{2}-\\d{2}$"
    ]


def test_a_start_anchored_pattern_must_still_match_the_whole_value() -> None:
    """`^[0-9a-zA-Z._-]+` has no `$`; fullmatch still refuses text after the matching prefix."""
    errors = errors_at("connect", "CreateRule", {"Name": "rule name!"}, "name")

    assert errors == [
        "Value 'rule name!' at 'name' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: ^[0-9a-zA-Z._-]+"
    ]


def test_a_value_matching_the_model_pattern_passes() -> None:
    params = {"EffectiveFrom": "2024-01-01"}

    assert errors_at("connect", "CreateHoursOfOperationOverride", params, "effectiveFrom") == []


def test_pattern_classes_have_their_java_ascii_meaning() -> None:
    """Java's `\\d` is [0-9]; Python's would also take full-width digits."""
    params = {"EffectiveFrom": "２０２４-01-01"}

    assert len(errors_at("connect", "CreateHoursOfOperationOverride", params, "effectiveFrom")) == 1


def test_a_java_only_pattern_is_skipped() -> None:
    """`\\p{L}` is Java's; Python's re cannot compile it, so the value is not judged by it."""
    shape = operation("connect", "CreateDataTable").input_shape.members["Name"]
    assert "\\p{L}" in shape.metadata["pattern"]

    assert errors_at("connect", "CreateDataTable", {"Name": "!!! not a letter"}, "name") == []


def test_a_doubly_escaped_model_pattern_is_enforced_as_meant() -> None:
    shape = operation("connect", "StartOutboundVoiceContact").input_shape.members["DestinationPhoneNumber"]
    assert shape.metadata["pattern"] == "\\\\+[1-9]\\\\d{1,14}$"

    def phone_errors(number: str) -> list[str]:
        params = {"DestinationPhoneNumber": number}
        return errors_at("connect", "StartOutboundVoiceContact", params, "destinationPhoneNumber")

    assert phone_errors("+14155550100") == []
    assert phone_errors("4155550100") == [
        "Value '4155550100' at 'destinationPhoneNumber' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: \\+[1-9]\\d{1,14}$"
    ]


def test_a_slash_delimited_model_pattern_is_enforced_as_meant() -> None:
    shape = model("connect").shape_for("Password")
    assert shape.metadata["pattern"].startswith("/^")

    assert validate(shape, "Passw0rd!") == []
    assert validate(shape, "password") == [
        "Value at '' failed to satisfy constraint: Member must satisfy regular expression pattern: "
        + shape.metadata["pattern"][1:-1]
    ]


def test_a_token_that_breaks_a_constraint_never_appears() -> None:
    secret = TOKEN * 20
    errors = participant_errors("SendMessage", send_message(ConnectionToken=secret))

    assert errors == [
        "Value at 'connectionToken' failed to satisfy constraint: "
        "Member must have length less than or equal to 1000"
    ]
    assert TOKEN[:20] not in validation_message(errors)


@pytest.mark.parametrize(
    ("name", "params", "path"),
    [
        ("CreateParticipantConnection", {"ParticipantToken": TOKEN * 20}, "participantToken"),
        ("GetTranscript", {"ConnectionToken": TOKEN, "NextToken": TOKEN * 20}, "nextToken"),
        (
            "SendEvent",
            {"ContentType": "t", "ConnectionToken": TOKEN, "ClientToken": TOKEN * 20},
            "clientToken",
        ),
        ("DescribeView", {"ConnectionToken": TOKEN, "ViewToken": 7}, "viewToken"),
    ],
)
def test_no_token_value_is_ever_shown(name: str, params: dict[str, object], path: str) -> None:
    errors = participant_errors(name, params)

    assert len(errors) == 1
    assert errors[0].startswith(f"Value at '{path}' failed to satisfy constraint: ")
    assert TOKEN[:20] not in errors[0]


def test_a_sensitive_member_value_is_not_shown() -> None:
    secret = "customer-" + "9" * 200

    errors = start_chat_errors(CustomerId=secret)

    assert errors == [
        "Value at 'customerId' failed to satisfy constraint: "
        "Member must have length less than or equal to 128"
    ]


def test_a_list_of_sensitive_values_is_never_printed() -> None:
    shape = model("connect").shape_for("SearchTextList")
    assert not shape.metadata.get("sensitive") and shape.member.metadata["sensitive"]
    secrets = [f"secret-{index}" for index in range(101)]

    errors = validate(shape, secrets + ["s" * 129])

    assert errors == [
        "Value at '' failed to satisfy constraint: Member must have length less than or equal to 100",
        "Value at '102.member' failed to satisfy constraint: "
        "Member must have length less than or equal to 128",
    ]


def test_a_long_structure_value_is_truncated_to_100_characters() -> None:
    errors = start_chat_errors(ParticipantDetails=["y" * 1_000])

    shown = errors[0].split("'")[1]
    assert len(shown) == 100
    assert shown.endswith("...")


def test_a_deeply_nested_wrong_value_renders_without_recursion_trouble() -> None:
    nested: object = "leaf"
    for _ in range(5_000):
        nested = [nested]

    errors = participant_errors("SendMessage", send_message(Content=nested))

    assert len(errors) == 1
    assert errors[0].endswith("at 'content' failed to satisfy constraint: Member must be of type string")


def test_the_message_of_one_error() -> None:
    assert validation_message(["a"]) == "1 validation error detected: a"


def test_the_message_of_several_errors() -> None:
    assert validation_message(["a", "b", "c"]) == "3 validation errors detected: a; b; c"


def test_several_problems_are_all_reported() -> None:
    errors = participant_errors("GetTranscript", {"MaxResults": 101, "ScanDirection": "UP"})

    assert len(errors) == 3
    assert validation_message(errors).startswith("3 validation errors detected: Value '101' at 'maxResults'")


def every_input_shape() -> list[Shape]:
    return [
        model(service).operation_model(name).input_shape
        for service in ("connectparticipant", "connect")
        for name in model(service).operation_names
        if model(service).operation_model(name).input_shape is not None
    ]


INPUT_SHAPES = every_input_shape()
MEMBER_NAMES = sorted({name for shape in INPUT_SHAPES for name in shape.members})

json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)


def near(shape: Shape, depth: int = 4) -> st.SearchStrategy[object]:
    """Arbitrary JSON, or values keyed and nested as `shape` wants, so the walk reaches deep members."""
    if depth == 0:
        return json_like
    if isinstance(shape, StructureShape):
        members = {name: near(member, depth - 1) for name, member in shape.members.items()}
        return json_like | st.fixed_dictionaries({}, optional=members)
    if isinstance(shape, ListShape):
        return json_like | st.lists(near(shape.member, depth - 1), max_size=3)
    if isinstance(shape, MapShape):
        return json_like | st.dictionaries(st.text(max_size=12), near(shape.value, depth - 1), max_size=3)
    return json_like


def assert_a_list_of_messages(errors: object) -> None:
    assert isinstance(errors, list)
    assert all(isinstance(error, str) for error in errors)


@settings(max_examples=100, deadline=None)
@given(value=json_like | st.dictionaries(st.sampled_from(MEMBER_NAMES), json_like, max_size=8))
def test_validate_never_raises_on_any_json_like_input_of_any_operation(value: object) -> None:
    for shape in INPUT_SHAPES:
        assert_a_list_of_messages(validate(shape, value))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), shape=st.sampled_from(INPUT_SHAPES))
def test_validate_never_raises_on_values_shaped_like_an_input(data: st.DataObject, shape: Shape) -> None:
    assert_a_list_of_messages(validate(shape, data.draw(near(shape))))
