"""Driving the emulator the way a real deployment does: boto3 for the service, HTTP for the control API.

Nothing here reaches into the emulator's objects; every observation goes
through a public surface (boto3, the control API, the participant websocket).
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.config import Config
from websockets.sync.client import connect as ws_connect

from tests.conftest import EmulatorThread, aws_clients

EVENT = "application/vnd.amazonaws.connect.event."
TYPING = EVENT + "typing"
JOINED = EVENT + "participant.joined"
LEFT = EVENT + "participant.left"
CHAT_ENDED = EVENT + "chat.ended"
DELIVERED = EVENT + "message.delivered"
READ = EVENT + "message.read"
METADATA = EVENT + "message.metadata"
INTERACTIVE = "application/vnd.amazonaws.connect.message.interactive"
INTERACTIVE_RESPONSE = INTERACTIVE + ".response"

WIRE_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
REQUEST_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
CONTACT_STATE_CONFLICT = "Operation can not be performed due to the state of the contact."
DEADLINE = 5.0


@dataclass
class Party:
    """One participant as a client sees it: its ids and tokens."""

    participant_id: str
    participant_token: str
    connection_token: str | None = None
    role: str = "CUSTOMER"


@dataclass
class Chat:
    contact_id: str
    customer: Party
    others: list[Party] = field(default_factory=list)


class Api:
    """boto3's two clients against one emulator, plus its control API."""

    def __init__(self, emulator: EmulatorThread, *, validate_params: bool = True) -> None:
        self.emulator = emulator
        self.base_url = emulator.base_url
        self.instance_id = emulator.config.instance_id
        self.contact_flow_id = emulator.config.contact_flow_id
        if validate_params:
            self.connect, self.participant = aws_clients(self.base_url)
        else:
            self.connect, self.participant = clients(self.base_url, parameter_validation=False)

    # connect ---------------------------------------------------------------

    def start_chat(self, *, connect_customer: bool = True, **overrides: Any) -> Chat:
        params: dict[str, Any] = {
            "InstanceId": self.instance_id,
            "ContactFlowId": self.contact_flow_id,
            "ParticipantDetails": {"DisplayName": "Customer"},
            **overrides,
        }
        started = self.connect.start_chat_contact(**params)
        customer = Party(started["ParticipantId"], started["ParticipantToken"])
        if connect_customer:
            customer.connection_token = self.connection_token(customer.participant_token)
        return Chat(started["ContactId"], customer)

    def add_bot(self, chat: Chat, name: str = "Bot", *, connect: bool = True) -> Party:
        created = self.connect.create_participant(
            InstanceId=self.instance_id,
            ContactId=chat.contact_id,
            ParticipantDetails={"ParticipantRole": "CUSTOM_BOT", "DisplayName": name},
        )
        bot = Party(created["ParticipantId"], created["ParticipantCredentials"]["ParticipantToken"], role="CUSTOM_BOT")
        if connect:
            bot.connection_token = self.connection_token(bot.participant_token, connect_participant=True)
        chat.others.append(bot)
        return bot

    # participant -----------------------------------------------------------

    def connection_token(self, participant_token: str, *, connect_participant: bool = False) -> str:
        options: dict[str, Any] = {"ConnectParticipant": True} if connect_participant else {}
        reply = self.participant.create_participant_connection(
            ParticipantToken=participant_token, Type=["CONNECTION_CREDENTIALS"], **options
        )
        return reply["ConnectionCredentials"]["ConnectionToken"]

    def websocket_url(self, participant_token: str) -> str:
        reply = self.participant.create_participant_connection(ParticipantToken=participant_token, Type=["WEBSOCKET"])
        return reply["Websocket"]["Url"]

    def say(self, party: Party, text: str, content_type: str = "text/plain", **options: Any) -> dict[str, Any]:
        return self.participant.send_message(
            ConnectionToken=party.connection_token, ContentType=content_type, Content=text, **options
        )

    def transcript(self, party: Party, **options: Any) -> list[dict[str, Any]]:
        """The whole transcript, oldest first, walked FORWARD with NextToken."""
        items: list[dict[str, Any]] = []
        params: dict[str, Any] = {"ScanDirection": "FORWARD", "SortOrder": "ASCENDING", "MaxResults": 100, **options}
        while True:
            page = self.participant.get_transcript(ConnectionToken=party.connection_token, **params)
            items += page["Transcript"]
            if "NextToken" not in page:
                return items
            params["NextToken"] = page["NextToken"]

    # control API -----------------------------------------------------------

    def control(self, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base_url + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=DEADLINE) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")

    def join(self, chat: Chat, role: str, name: str | None = None) -> Party:
        """A human joins through the control API, then opens a connection as its client would."""
        status, body = self.control(
            "POST", f"/emulator/contacts/{chat.contact_id}/participants", {"ParticipantRole": role, "DisplayName": name or role.title()}
        )
        assert status == 200, body
        party = Party(body["ParticipantId"], body["ParticipantToken"], role=role)
        party.connection_token = self.connection_token(party.participant_token)
        chat.others.append(party)
        return party

    def contact_state(self, contact_id: str) -> dict[str, Any]:
        status, body = self.control("GET", f"/emulator/contacts/{contact_id}")
        assert status == 200, body
        return body


    def wait_for_state(self, contact_id: str, check: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """Poll the control API until `check` holds, within the deadline."""
        deadline = time.monotonic() + DEADLINE
        while True:
            state = self.contact_state(contact_id)
            if check(state):
                return state
            assert time.monotonic() < deadline, f"contact never reached the expected state: {state}"


def clients(base_url: str, **config: Any) -> tuple[Any, Any]:
    """Like `aws_clients`, with a botocore Config (e.g. client-side validation off)."""
    options: dict[str, Any] = {
        "endpoint_url": base_url,
        "region_name": "us-east-1",
        "aws_access_key_id": "AKIDEXAMPLE",
        "aws_secret_access_key": "placeholder-secret",
        "config": Config(**config),
    }
    return boto3.client("connect", **options), boto3.client("connectparticipant", **options)


def expect_error(exception: type[Exception], call: Callable[..., Any], /, **params: Any) -> dict[str, Any]:
    """Call, expect botocore to raise `exception`, and check the envelope every error carries."""
    with pytest.raises(exception) as raised:
        call(**params)
    response = raised.value.response  # type: ignore[attr-defined]
    code = exception.__name__
    assert response["Error"]["Code"] == code
    assert REQUEST_ID.match(response["ResponseMetadata"]["RequestId"]), response["ResponseMetadata"]
    assert response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"] == code
    assert response["Error"]["Message"]
    return response


def assert_request_id(reply: dict[str, Any]) -> None:
    metadata = reply["ResponseMetadata"]
    assert metadata["HTTPStatusCode"] == 200
    assert REQUEST_ID.match(metadata["RequestId"])
    assert metadata["HTTPHeaders"]["x-amzn-requestid"] == metadata["RequestId"]


def content_types(items: list[dict[str, Any]]) -> list[str]:
    return [item["ContentType"] for item in items]


class Listener:
    """A participant's websocket, subscribed to aws/chat; items arrive as dicts."""

    def __init__(self, ws: Any) -> None:
        self._ws = ws
        self.items: list[dict[str, Any]] = []
        self._ws.send(json.dumps({"topic": "aws/subscribe", "content": {"topics": ["aws/chat"]}}))
        reply = json.loads(self._ws.recv(timeout=DEADLINE))
        assert reply == {"topic": "aws/subscribe", "content": {"status": "success", "topics": ["aws/chat"]}}

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The first item (seen or still to come) that satisfies `predicate`, within the deadline."""
        for item in self.items:
            if predicate(item):
                return item
        deadline = time.monotonic() + DEADLINE
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no matching item; saw {content_types(self.items)}"
            frame = json.loads(self._ws.recv(timeout=remaining))
            if frame.get("topic") != "aws/chat":
                continue
            item = json.loads(frame["content"])
            self.items.append(item)
            if predicate(item):
                return item



@contextmanager
def listening(api: Api, participant_token: str) -> Iterator[Listener]:
    """A websocket for the participant, from a fresh CreateParticipantConnection."""
    with ws_connect(api.websocket_url(participant_token), open_timeout=DEADLINE) as ws:
        yield Listener(ws)


def quoted(text: str) -> str:
    return urllib.parse.quote(text, safe="")
