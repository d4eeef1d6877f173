"""`botkit emulator --sigv4 ACCESS_KEY_ID:SECRET`, run as a user runs it."""

from __future__ import annotations

import subprocess
import sys

import boto3
import pytest
from botocore.exceptions import ClientError

from botkit.emulator.config import DEFAULT_CONTACT_FLOW_ID, DEFAULT_INSTANCE_ID

ACCESS_KEY_ID = "AKIACLITEST000000001"
SECRET = "cli-secret-that-must-never-print"


def start_chat(base_url: str, secret: str) -> dict:
    connect = boto3.client(
        "connect",
        endpoint_url=base_url,
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=secret,
    )
    return connect.start_chat_contact(
        InstanceId=DEFAULT_INSTANCE_ID, ContactFlowId=DEFAULT_CONTACT_FLOW_ID, ParticipantDetails={"DisplayName": "C"}
    )


def test_sigv4_flag_checks_signatures_and_never_prints_the_secret() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "botkit", "--log-level", "DEBUG", "emulator", "--port", "0",
         "--sigv4", f"{ACCESS_KEY_ID}:{SECRET}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        assert line.startswith("emulator: http://127.0.0.1:"), line
        base_url = line.split(" ", 1)[1].strip()

        assert start_chat(base_url, SECRET)["ContactId"]
        with pytest.raises(ClientError) as raised:
            start_chat(base_url, "a-wrong-secret")
        assert raised.value.response["Error"]["Code"] == "InvalidSignatureException"
        assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    finally:
        process.terminate()
        out, err = process.communicate(timeout=10)
    assert process.returncode == 0, err
    assert SECRET not in out + err


def test_a_malformed_sigv4_value_is_a_clear_error_that_does_not_echo_it() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "botkit", "emulator", "--port", "0", "--sigv4", "no-separator-secret-value"],
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert result.returncode == 2
    assert "--sigv4: expected ACCESS_KEY_ID:SECRET" in result.stderr
    assert "no-separator-secret-value" not in result.stderr
