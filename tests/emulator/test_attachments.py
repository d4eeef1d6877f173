"""Attachments through boto3 and plain HTTP: start, PUT to the pre-signed URL, complete, download."""

from __future__ import annotations

import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from botkit.emulator import EmulatorConfig
from tests.conftest import EmulatorThread
from tests.emulator.helpers import (
    WIRE_TIME,
    Api,
    Chat,
    Party,
    assert_request_id,
    expect_error,
    listening,
)

EXTENSIONS = [".csv", ".doc", ".docx", ".heic", ".jfif", ".jpeg", ".jpg", ".mov", ".mp4", ".pdf", ".png", ".ppt", ".pptx", ".rtf", ".txt", ".wav", ".xls", ".xlsx"]
PDF = b"%PDF-1.7\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"


@pytest.fixture(scope="module")
def small_quota() -> Iterator[Api]:
    """An emulator of its own, so the low quota touches no other test."""
    with EmulatorThread(EmulatorConfig(port=0, attachments_per_contact=2)) as running:
        yield Api(running)


def wire_time(text: str) -> datetime:
    assert WIRE_TIME.match(text), text
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def start(api: Api, party: Party, name: str = "report.pdf", size: int = len(PDF), content_type: str = "application/pdf", **options: Any) -> dict[str, Any]:
    return api.participant.start_attachment_upload(
        ConnectionToken=party.connection_token,
        ContentType=content_type,
        AttachmentSizeInBytes=size,
        AttachmentName=name,
        **options,
    )


def put(url: str, data: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=data, method="PUT", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def fetch(url: str) -> tuple[int, bytes, Any]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read(), response.headers
    except urllib.error.HTTPError as error:
        return error.code, error.read(), error.headers


def upload(api: Api, party: Party, data: bytes = PDF, name: str = "report.pdf", content_type: str = "application/pdf") -> str:
    started = start(api, party, name=name, size=len(data), content_type=content_type)
    metadata = started["UploadMetadata"]
    assert put(metadata["Url"], data, metadata["HeadersToInclude"]) == 200
    api.participant.complete_attachment_upload(
        ConnectionToken=party.connection_token, AttachmentIds=[started["AttachmentId"]]
    )
    return started["AttachmentId"]


def complete(api: Api, party: Party, attachment_id: str, **options: Any) -> dict[str, Any]:
    return api.participant.complete_attachment_upload(
        ConnectionToken=party.connection_token, AttachmentIds=[attachment_id], **options
    )


def attachment_items(api: Api, party: Party) -> list[dict[str, Any]]:
    return [item for item in api.transcript(party) if item["Type"] == "ATTACHMENT"]


@pytest.fixture
def chat(api: Api) -> Chat:
    chat = api.start_chat()
    api.join(chat, "AGENT")
    return chat


# The happy path ------------------------------------------------------------------------------


def test_upload_complete_and_download(api: Api, chat: Chat) -> None:
    agent = chat.others[0]
    now = datetime.now(UTC)

    started = start(api, chat.customer, ClientToken="upload-1")
    assert_request_id(started)
    metadata = started["UploadMetadata"]
    assert metadata["Url"].startswith(api.base_url + "/")
    assert now < wire_time(metadata["UrlExpiry"]) <= now + timedelta(seconds=301)
    assert metadata["HeadersToInclude"]["Content-Type"] == "application/pdf"

    assert put(metadata["Url"], PDF, metadata["HeadersToInclude"]) == 200
    with listening(api, agent.participant_token) as agent_socket:
        completed = complete(api, chat.customer, started["AttachmentId"], ClientToken="complete-1")
        live = agent_socket.wait_for(lambda item: item["Type"] == "ATTACHMENT")
    assert_request_id(completed)
    assert set(completed) == {"ResponseMetadata"}

    [item] = attachment_items(api, chat.customer)
    assert {key: live[key] for key in item} == item  # the kept item is the one delivered live
    assert item["ParticipantId"] == chat.customer.participant_id
    assert item["ParticipantRole"] == "CUSTOMER"
    assert item["ContentType"] == "application/pdf"
    assert WIRE_TIME.match(item["AbsoluteTime"])
    assert item["Attachments"] == [
        {
            "ContentType": "application/pdf",
            "AttachmentId": started["AttachmentId"],
            "AttachmentName": "report.pdf",
            "Status": "APPROVED",
        }
    ]

    for reader in (agent, chat.customer):
        now = datetime.now(UTC)
        link = api.participant.get_attachment(
            ConnectionToken=reader.connection_token, AttachmentId=started["AttachmentId"], UrlExpiryInSeconds=60
        )
        assert_request_id(link)
        assert link["AttachmentSizeInBytes"] == len(PDF)
        assert now < wire_time(link["UrlExpiry"]) <= now + timedelta(seconds=61)
        status, body, headers = fetch(link["Url"])
        assert status == 200
        assert body == PDF
        assert headers["Content-Type"].startswith("application/pdf")


@pytest.mark.parametrize("expiry", [5, 300, None])
def test_url_expiry_within_5_to_300_seconds(api: Api, chat: Chat, expiry: int | None) -> None:
    attachment_id = upload(api, chat.customer)
    options = {"UrlExpiryInSeconds": expiry} if expiry else {}
    now = datetime.now(UTC)

    link = api.participant.get_attachment(ConnectionToken=chat.customer.connection_token, AttachmentId=attachment_id, **options)

    seconds = expiry or 5
    assert now + timedelta(seconds=seconds - 1) < wire_time(link["UrlExpiry"]) <= now + timedelta(seconds=seconds + 1)
    assert fetch(link["Url"])[1] == PDF


@pytest.mark.parametrize("expiry", [4, 301, 0])
def test_url_expiry_out_of_range_is_a_validation_exception(raw: Api, expiry: int) -> None:
    chat = raw.start_chat()
    attachment_id = upload(raw, chat.customer)
    response = expect_error(
        raw.participant.exceptions.ValidationException,
        raw.participant.get_attachment,
        ConnectionToken=chat.customer.connection_token,
        AttachmentId=attachment_id,
        UrlExpiryInSeconds=expiry,
    )
    assert "urlExpiryInSeconds" in response["Error"]["Message"]


def test_a_text_attachment_round_trips(api: Api, chat: Chat) -> None:
    data = "naïve café, ünïcödé\n".encode()
    attachment_id = upload(api, chat.customer, data, name="notes.txt", content_type="text/plain")
    link = api.participant.get_attachment(ConnectionToken=chat.others[0].connection_token, AttachmentId=attachment_id)
    assert fetch(link["Url"])[1] == data


def test_a_retried_complete_adds_one_item(api: Api, chat: Chat) -> None:
    started = start(api, chat.customer)
    metadata = started["UploadMetadata"]
    assert put(metadata["Url"], PDF, metadata["HeadersToInclude"]) == 200

    complete(api, chat.customer, started["AttachmentId"], ClientToken="same")
    complete(api, chat.customer, started["AttachmentId"], ClientToken="same")
    complete(api, chat.customer, started["AttachmentId"], ClientToken="another")

    assert len(attachment_items(api, chat.customer)) == 1


@pytest.mark.parametrize("extension", EXTENSIONS)
def test_every_documented_extension_is_accepted(api: Api, chat: Chat, extension: str) -> None:
    started = start(api, chat.customer, name=f"file{extension}", size=10, content_type="application/octet-stream")
    assert started["AttachmentId"]


# Errors ----------------------------------------------------------------------------------------


def test_complete_before_upload_is_a_conflict(api: Api, chat: Chat) -> None:
    started = start(api, chat.customer)

    response = expect_error(
        api.participant.exceptions.ConflictException, complete, api=api, party=chat.customer, attachment_id=started["AttachmentId"]
    )

    assert response["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert attachment_items(api, chat.customer) == []


def test_the_upload_url_checks_headers_and_size(api: Api, chat: Chat) -> None:
    started = start(api, chat.customer)
    metadata = started["UploadMetadata"]

    assert put(metadata["Url"], PDF, {"Content-Type": "image/png"}) == 403
    assert put(metadata["Url"], PDF[:-1], metadata["HeadersToInclude"]) == 400
    assert put(metadata["Url"], PDF + b"x", metadata["HeadersToInclude"]) == 400
    expect_error(
        api.participant.exceptions.ConflictException, complete, api=api, party=chat.customer, attachment_id=started["AttachmentId"]
    )
    assert put(metadata["Url"], PDF, metadata["HeadersToInclude"]) == 200
    assert put(metadata["Url"], PDF, metadata["HeadersToInclude"]) == 403  # a pre-signed URL is good for one upload
    complete(api, chat.customer, started["AttachmentId"])


def test_more_than_20_mb_is_a_validation_exception(api: Api, chat: Chat) -> None:
    limit = 20 * 1024 * 1024
    assert start(api, chat.customer, size=limit)["AttachmentId"]
    response = expect_error(
        api.participant.exceptions.ValidationException, start, api=api, party=chat.customer, size=limit + 1
    )
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400


@pytest.mark.parametrize("name", ["setup.exe", "script.js", "archive.zip", "no-extension", "report.pdf.exe", "pdf"])
def test_unsupported_file_types_are_validation_exceptions(api: Api, chat: Chat, name: str) -> None:
    expect_error(api.participant.exceptions.ValidationException, start, api=api, party=chat.customer, name=name)


def test_the_per_contact_quota(small_quota: Api) -> None:
    chat = small_quota.start_chat()
    for _ in range(2):
        start(small_quota, chat.customer)

    response = expect_error(
        small_quota.participant.exceptions.ServiceQuotaExceededException, start, api=small_quota, party=chat.customer
    )

    assert response["ResponseMetadata"]["HTTPStatusCode"] == 402
    other = small_quota.start_chat()
    assert start(small_quota, other.customer)["AttachmentId"]


def test_a_custom_bot_cannot_get_attachments(api: Api) -> None:
    chat = api.start_chat()
    bot = api.add_bot(chat)
    attachment_id = upload(api, chat.customer)

    response = expect_error(
        api.participant.exceptions.AccessDeniedException,
        api.participant.get_attachment,
        ConnectionToken=bot.connection_token,
        AttachmentId=attachment_id,
    )
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_unknown_or_unfinished_attachments_are_validation_exceptions(api: Api, chat: Chat) -> None:
    unfinished = start(api, chat.customer)["AttachmentId"]
    for attachment_id in (str(uuid.uuid4()), unfinished):
        expect_error(
            api.participant.exceptions.ValidationException,
            api.participant.get_attachment,
            ConnectionToken=chat.customer.connection_token,
            AttachmentId=attachment_id,
        )
    expect_error(
        api.participant.exceptions.ValidationException, complete, api=api, party=chat.customer, attachment_id=str(uuid.uuid4())
    )


def test_only_the_uploader_completes_an_upload(api: Api, chat: Chat) -> None:
    started = start(api, chat.customer)
    metadata = started["UploadMetadata"]
    assert put(metadata["Url"], PDF, metadata["HeadersToInclude"]) == 200

    expect_error(
        api.participant.exceptions.ValidationException, complete, api=api, party=chat.others[0], attachment_id=started["AttachmentId"]
    )
    assert attachment_items(api, chat.customer) == []


def test_attachments_of_another_contact_are_not_found(api: Api, chat: Chat) -> None:
    other = api.start_chat()
    attachment_id = upload(api, other.customer)
    expect_error(
        api.participant.exceptions.ValidationException,
        api.participant.get_attachment,
        ConnectionToken=chat.customer.connection_token,
        AttachmentId=attachment_id,
    )
