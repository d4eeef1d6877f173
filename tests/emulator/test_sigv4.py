"""`EmulatorConfig.sigv4`: `connect` calls must carry a real SigV4 signature by the known key, as on AWS."""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import boto3
import botocore.auth
import pytest
from botocore.exceptions import ClientError

from botkit.connect.secrets import Secret
from botkit.emulator import EmulatorConfig
from botkit.emulator.sigv4 import SigV4Key
from tests.conftest import EmulatorThread

ACCESS_KEY_ID = "AKIAEMULATORTEST0001"
SECRET = "s3cr3t-emulator-signing-key-do-not-print"
MISMATCH = "The request signature we calculated does not match the signature you provided."


@pytest.fixture(scope="module")
def signed_emulator() -> Iterator[EmulatorThread]:
    with EmulatorThread(EmulatorConfig(port=0, sigv4=SigV4Key(ACCESS_KEY_ID, Secret(SECRET)))) as running:
        yield running


def client(emulator: EmulatorThread, service: str = "connect", **credentials: Any) -> Any:
    keys = {"aws_access_key_id": ACCESS_KEY_ID, "aws_secret_access_key": SECRET, **credentials}
    return boto3.client(service, endpoint_url=emulator.base_url, region_name=emulator.config.region, **keys)


def start_chat(connect: Any, emulator: EmulatorThread) -> dict[str, Any]:
    return connect.start_chat_contact(
        InstanceId=emulator.config.instance_id,
        ContactFlowId=emulator.config.contact_flow_id,
        ParticipantDetails={"DisplayName": "Customer"},
    )


def refused(call: Callable[[], Any]) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as raised:
        call()
    response = raised.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Message"]


def after_signing(connect: Any, change: Callable[[Any], None]) -> None:
    """Alter every request once botocore has signed it, as a proxy or an attacker would."""
    connect.meta.events.register("before-send.connect.*", lambda request, **_: change(request))


def test_the_right_key_signs_every_kind_of_connect_call(signed_emulator: EmulatorThread) -> None:
    connect = client(signed_emulator)
    started = start_chat(connect, signed_emulator)  # PUT with a JSON body
    described = connect.describe_contact(  # GET with path parameters
        InstanceId=signed_emulator.config.instance_id, ContactId=started["ContactId"]
    )
    connect.create_participant(
        InstanceId=signed_emulator.config.instance_id,
        ContactId=started["ContactId"],
        ParticipantDetails={"ParticipantRole": "CUSTOM_BOT", "DisplayName": "Bot"},
    )

    assert described["Contact"]["Id"] == started["ContactId"]


def test_a_wrong_secret_is_an_invalid_signature(signed_emulator: EmulatorThread) -> None:
    connect = client(signed_emulator, aws_secret_access_key="not-the-secret")

    code, status, message = refused(lambda: start_chat(connect, signed_emulator))

    assert (code, status) == ("InvalidSignatureException", 403)
    assert message.startswith(MISMATCH)


def test_an_unknown_access_key_id_is_an_unrecognized_client(signed_emulator: EmulatorThread) -> None:
    connect = client(signed_emulator, aws_access_key_id="AKIAUNKNOWNKEY000000")

    assert refused(lambda: start_chat(connect, signed_emulator)) == (
        "UnrecognizedClientException",
        403,
        "The security token included in the request is invalid.",
    )


def test_a_body_changed_after_signing_is_an_invalid_signature(signed_emulator: EmulatorThread) -> None:
    connect = client(signed_emulator)

    def rename_customer(request: Any) -> None:
        request.body = request.body.replace(b'"Customer"', b'"Mallorys"')  # same length: only the signature can tell

    after_signing(connect, rename_customer)

    code, status, message = refused(lambda: start_chat(connect, signed_emulator))
    assert (code, status) == ("InvalidSignatureException", 403)
    assert message.startswith(MISMATCH)


def test_session_credentials_verify_and_their_token_is_signed(signed_emulator: EmulatorThread) -> None:
    """A session token is accepted with the known key: X-Amz-Security-Token is among the signed headers."""
    connect = client(signed_emulator, aws_session_token="session-token-1")
    assert start_chat(connect, signed_emulator)["ContactId"]

    def swap_token(request: Any) -> None:
        request.headers["X-Amz-Security-Token"] = "session-token-2"

    after_signing(connect, swap_token)
    code, status, _ = refused(lambda: start_chat(connect, signed_emulator))
    assert (code, status) == ("InvalidSignatureException", 403)


@pytest.mark.parametrize(
    "skew, expected",
    [(timedelta(minutes=-6), "Signature expired: "), (timedelta(minutes=6), "Signature not yet current: ")],
)
def test_a_signature_more_than_five_minutes_off_is_refused(
    signed_emulator: EmulatorThread, monkeypatch: pytest.MonkeyPatch, skew: timedelta, expected: str
) -> None:
    connect = client(signed_emulator)
    now = botocore.auth.get_current_datetime
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: now() + skew)

    code, status, message = refused(lambda: start_chat(connect, signed_emulator))

    assert (code, status) == ("InvalidSignatureException", 403)
    assert message.startswith(expected)


def test_a_signature_within_five_minutes_is_accepted(
    signed_emulator: EmulatorThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    connect = client(signed_emulator)
    now = botocore.auth.get_current_datetime
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: now() - timedelta(minutes=4))

    assert start_chat(connect, signed_emulator)["ContactId"]


def test_a_signature_for_another_region_says_so(signed_emulator: EmulatorThread) -> None:
    connect = boto3.client(
        "connect",
        endpoint_url=signed_emulator.base_url,
        region_name="eu-west-2",
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET,
    )

    assert refused(lambda: start_chat(connect, signed_emulator)) == (
        "InvalidSignatureException",
        403,
        "Credential should be scoped to a valid region, not 'eu-west-2'.",
    )


def test_an_unsigned_request_is_refused(signed_emulator: EmulatorThread) -> None:
    request = urllib.request.Request(
        f"{signed_emulator.base_url}/contact/chat",
        data=b'{"InstanceId": "x", "ContactFlowId": "y", "ParticipantDetails": {"DisplayName": "C"}}',
        method="PUT",
        headers={"Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=5)

    assert raised.value.code == 403
    assert raised.value.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"


def test_participant_service_calls_are_not_sigv4_and_stay_unaffected(signed_emulator: EmulatorThread) -> None:
    started = start_chat(client(signed_emulator), signed_emulator)
    participant = client(signed_emulator, "connectparticipant", aws_access_key_id="AKIAOTHER", aws_secret_access_key="x")

    connection = participant.create_participant_connection(
        ParticipantToken=started["ParticipantToken"], Type=["CONNECTION_CREDENTIALS"]
    )
    sent = participant.send_message(
        ConnectionToken=connection["ConnectionCredentials"]["ConnectionToken"], ContentType="text/plain", Content="hi"
    )

    assert sent["Id"]


def test_the_secret_is_never_logged_shown_or_answered(
    signed_emulator: EmulatorThread, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="botkit")
    wrong = client(signed_emulator, aws_secret_access_key="not-the-secret")
    with pytest.raises(ClientError) as raised:
        start_chat(wrong, signed_emulator)

    assert SECRET not in repr(signed_emulator.config)
    assert SECRET not in str(raised.value.response)
    assert SECRET not in caplog.text


def test_without_a_key_any_signature_is_accepted(api: Any) -> None:
    connect = boto3.client(
        "connect",
        endpoint_url=api.base_url,
        region_name="eu-west-2",
        aws_access_key_id="AKIAANYONE",
        aws_secret_access_key="anything",
    )

    assert connect.describe_contact(InstanceId=api.instance_id, ContactId=api.start_chat().contact_id)["Contact"]


def test_a_path_that_needed_escaping_verifies_as_the_client_signed_it(signed_emulator: EmulatorThread) -> None:
    """The signature covers the path as sent (escaped), so the check must not re-read a decoded path."""
    connect = client(signed_emulator)

    code, status, _ = refused(
        lambda: connect.get_contact_attributes(
            InstanceId=signed_emulator.config.instance_id, InitialContactId="no such contact: ä/?"
        )
    )

    assert (code, status) == ("ResourceNotFoundException", 404)


@pytest.mark.parametrize(
    "authorization",
    ["Basic dXNlcjpwYXNz", f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY_ID}/20240101/us-east-1/connect/aws4_request"],
)
def test_an_authorization_header_not_shaped_like_sigv4_is_an_incomplete_signature(
    signed_emulator: EmulatorThread, authorization: str
) -> None:
    request = urllib.request.Request(
        f"{signed_emulator.base_url}/contacts/{signed_emulator.config.instance_id}/any-contact",
        headers={"Authorization": authorization, "X-Amz-Date": "20240101T000000Z"},
    )
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=5)

    assert raised.value.code == 400
    assert raised.value.headers["x-amzn-ErrorType"] == "IncompleteSignatureException"
