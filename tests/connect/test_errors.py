from __future__ import annotations

import json

import pytest

from botkit.connect import (
    AccessDeniedException,
    ConflictException,
    InternalServerException,
    ParticipantServiceError,
    ResourceNotFoundException,
    Secret,
    ServiceQuotaExceededException,
    ThrottlingException,
    UnknownServiceError,
    ValidationException,
)
from botkit.connect.errors import ERRORS_BY_CODE, parse_error


def body(**members: object) -> bytes:
    return json.dumps(members).encode()


def test_every_modeled_error_has_a_class_with_the_models_status() -> None:
    import botocore.session

    model = botocore.session.get_session().get_service_model("connectparticipant")
    modeled = {
        shape.name: shape.metadata["error"]["httpStatusCode"] for shape in model.error_shapes
    }
    assert set(ERRORS_BY_CODE) == set(modeled)
    for code, status in modeled.items():
        error = parse_error(status, {"x-amzn-ErrorType": code}, body(message="m"))
        assert type(error) is ERRORS_BY_CODE[code]
        assert issubclass(ERRORS_BY_CODE[code], ParticipantServiceError)


def test_header_wins_over_body_and_request_id_is_kept() -> None:
    error = parse_error(
        403,
        {"X-Amzn-ErrorType": "AccessDeniedException", "X-Amzn-RequestId": "rid-1"},
        body(__type="ValidationException", message="Access denied"),
    )
    assert isinstance(error, AccessDeniedException)
    assert (error.status, error.code, error.message, error.request_id) == (
        403,
        "AccessDeniedException",
        "Access denied",
        "rid-1",
    )


@pytest.mark.parametrize(
    "raw, code",
    [
        ("ThrottlingException", "ThrottlingException"),
        ("com.amazonaws.connectparticipant#ThrottlingException", "ThrottlingException"),
        ("ThrottlingException:http://internal.amazon.com/coral/", "ThrottlingException"),
        ("aws.protocoljson#ThrottlingException:http://x/y#z", "ThrottlingException"),
    ],
)
@pytest.mark.parametrize("where", ["header", "code", "Code", "__type"])
def test_code_is_cleaned_like_botocore(raw: str, code: str, where: str) -> None:
    headers = {"x-amzn-ErrorType": raw} if where == "header" else {}
    payload = {} if where == "header" else {where: raw}
    error = parse_error(429, headers, body(message="slow down", **payload))
    assert isinstance(error, ThrottlingException)
    assert error.code == code


def test_body_code_wins_over_type() -> None:
    error = parse_error(409, {}, body(code="ConflictException", __type="ValidationException"))
    assert isinstance(error, ConflictException)


def test_message_falls_back_to_capital_message() -> None:
    assert parse_error(400, {}, body(__type="ValidationException", Message="M")).message == "M"
    assert parse_error(400, {}, body(__type="X", message="m", Message="M")).message == "m"


def test_unknown_code_gets_the_fallback_class() -> None:
    error = parse_error(418, {"x-amzn-ErrorType": "TeapotException"}, body(message="short"))
    assert isinstance(error, UnknownServiceError)
    assert (error.status, error.code) == (418, "TeapotException")


def test_no_code_anywhere_falls_back_to_the_status() -> None:
    error = parse_error(502, {}, b"<html><body>Bad Gateway</body></html>")
    assert isinstance(error, UnknownServiceError)
    assert (error.code, error.message) == ("502", "Bad Gateway")


def test_non_json_body_becomes_the_message() -> None:
    error = parse_error(400, {}, b"not json")
    assert (error.code, error.message) == ("400", "not json")


def test_resource_not_found_carries_resource_fields() -> None:
    error = parse_error(
        404,
        {"x-amzn-ErrorType": "ResourceNotFoundException"},
        body(message="no view", ResourceId="v1", ResourceType="VIEW"),
    )
    assert isinstance(error, ResourceNotFoundException)
    assert (error.resource_id, error.resource_type) == ("v1", "VIEW")


def test_token_echoed_by_the_service_is_masked() -> None:
    error = parse_error(
        400,
        {},
        body(__type="ValidationException", message="bad token abc123"),
        token=Secret("abc123"),
    )
    assert "abc123" not in str(error) and "abc123" not in repr(error)
    assert error.message == "bad token ****"


@pytest.mark.parametrize(
    "cls, status",
    [
        (AccessDeniedException, 403),
        (ConflictException, 409),
        (InternalServerException, 500),
        (ServiceQuotaExceededException, 402),
        (ValidationException, 400),
    ],
)
def test_str_names_code_status_operation_and_request_id(
    cls: type[ParticipantServiceError], status: int
) -> None:
    error = cls(status, cls.__name__, "why", "rid", operation="SendMessage")
    assert str(error) == f"{cls.__name__} (HTTP {status}) in SendMessage: why (request id rid)"
