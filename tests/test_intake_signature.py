"""Signed intake: X-Botkit-Signature, the order of the checks, the size and type limits, and the read deadlines."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
import pytest

from botkit import hookimpl
from botkit.config import IntakeConfig
from botkit.connect.secrets import Secret
from botkit.connect.signature import HEADER, Signature, SignatureError, sign
from tests.runtime.harness import Customer, running_bot
from tests.test_server import StubManager, flow_event, intake

SECRET = "intake-secret-value-1234"
TOKEN = "customer-token-value-5678"
SIGNED = IntakeConfig(secret=Secret(SECRET))


def signed(body: bytes, secret: str = SECRET, at: float | None = None) -> dict[str, str]:
    stamp = int(time.time() if at is None else at)
    return {"Content-Type": "application/json", HEADER: sign(Secret(secret), body, stamp)}


def encoded(value: Any) -> bytes:
    return json.dumps(value).encode()


# The header itself --------------------------------------------------------------------------------------


def test_a_signature_verifies_its_body_and_nothing_else() -> None:
    body = b'{"a": 1}'
    signature = Signature.parse(sign(Secret(SECRET), body, 1_700_000_000))
    signature.check_fresh(1_700_000_000 + 299, 300)
    signature.check_body(Secret(SECRET), body)
    with pytest.raises(SignatureError, match="does not match"):
        signature.check_body(Secret(SECRET), body + b" ")
    with pytest.raises(SignatureError, match="does not match"):
        signature.check_body(Secret("another-secret"), body)
    with pytest.raises(SignatureError, match="outside"):
        signature.check_fresh(1_700_000_000 + 301, 300)
    with pytest.raises(SignatureError, match="outside"):
        signature.check_fresh(1_700_000_000 - 301, 300)


def test_any_of_several_v1_values_may_match_so_secrets_can_rotate() -> None:
    body = b"{}"
    old = sign(Secret("old-secret"), body, 1_700_000_000).split(",")[1]
    new = sign(Secret("new-secret"), body, 1_700_000_000).split(",")[1]
    header = f"t=1700000000, {old}, {new}"
    Signature.parse(header).check_body(Secret("new-secret"), body)
    Signature.parse(header).check_body(Secret("old-secret"), body)
    with pytest.raises(SignatureError):
        Signature.parse(header).check_body(Secret("third-secret"), body)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "v1=" + "a" * 64,
        "t=1700000000",
        "t=1700000000,v1=xyz",
        "t=1700000000,v1=" + "a" * 63,
        "t=abc,v1=" + "a" * 64,
        "t=1,t=2,v1=" + "a" * 64,
        "t=1700000000;v1=" + "a" * 64,
        "t=1700000000," + ",".join(["v1=" + "a" * 64] * 9),
        "t=1700000000,v1=" + "a" * 64 + "," + "x" * 2000,
    ],
)
def test_a_malformed_header_is_refused(header: str | None) -> None:
    with pytest.raises(SignatureError):
        Signature.parse(header)


# The checks, against the intake app on a real socket ------------------------------------------------------


async def test_a_signed_contact_flow_event_is_taken_and_the_same_body_again_is_the_same_hand_in() -> None:
    manager = StubManager()
    body = encoded(flow_event("c-1"))
    headers = signed(body)
    async with intake(manager, config=SIGNED) as client:
        first = await client.post("/contact-flow", data=body, headers=headers)
        again = await client.post("/contact-flow", data=body, headers=headers)  # a retry, inside the window
        assert first.status == again.status == 200
        assert await first.json() == await again.json() == {"ContactId": "c-1", "ParticipantId": "bot-1"}
    assert manager.joined == ["c-1", "c-1"]


async def test_a_signed_participant_token_reaches_hand_in_with_its_participant_id() -> None:
    manager = StubManager()
    body = encoded({"ContactId": "c-1", "ParticipantToken": TOKEN, "ParticipantId": "p-9"})
    async with intake(manager, config=SIGNED) as client:
        answer = await client.post("/contacts", data=body, headers=signed(body))
        assert answer.status == 200, await answer.text()
        assert await answer.json() == {"ContactId": "c-1", "ParticipantId": "p-9"}
    assert manager.handed_in == [("c-1", TOKEN, "p-9")]


def _bad_requests() -> list[Any]:
    """(name, path, body, headers, status): every way an intake request can be refused, with a secret set."""
    event = encoded(flow_event("c-1"))
    contacts = encoded({"ContactId": "c-1", "ParticipantToken": TOKEN, "ParticipantId": "p-1"})
    json_type = {"Content-Type": "application/json"}
    now = time.time()
    too_big = encoded({**flow_event("c-1"), "Padding": "x" * 70_000})
    return [
        ("unsigned", "/contact-flow", event, json_type, 401),
        ("unsigned /contacts", "/contacts", contacts, json_type, 401),
        ("wrong secret", "/contact-flow", event, signed(event, "not-the-secret"), 401),
        ("wrong secret /contacts", "/contacts", contacts, signed(contacts, "not-the-secret"), 401),
        ("signed another body", "/contact-flow", event, signed(event + b" "), 401),
        ("stale (310 s old)", "/contact-flow", event, signed(event, at=now - 310), 401),
        ("future (310 s ahead)", "/contact-flow", event, signed(event, at=now + 310), 401),
        ("malformed header", "/contact-flow", event, {**json_type, HEADER: "v1=deadbeef"}, 401),
        ("malformed header: no v1", "/contact-flow", event, {**json_type, HEADER: f"t={int(now)}"}, 401),
        ("oversize (Content-Length)", "/contact-flow", too_big, signed(too_big), 413),
        ("wrong Content-Type", "/contact-flow", event, {**signed(event), "Content-Type": "text/plain"}, 415),
        (
            "form post",
            "/contact-flow",
            b"a=1",
            {**signed(b"a=1"), "Content-Type": "application/x-www-form-urlencoded"},
            415,
        ),
        ("malformed JSON", "/contact-flow", b"{not json", signed(b"{not json"), 400),
        ("missing ContactData", "/contact-flow", b"{}", signed(b"{}"), 400),
        ("missing ParticipantId", "/contacts", (b := encoded({"ContactId": "c-1", "ParticipantToken": TOKEN})),
         signed(b), 400),
        ("ContactId with a newline", "/contact-flow", (b := encoded(flow_event("c-1\nINFO forged"))), signed(b), 400),
        ("ContactId of 257 characters", "/contact-flow", (b := encoded(flow_event("c" * 257))), signed(b), 400),
    ]


@pytest.mark.parametrize("name", [case[0] for case in _bad_requests()])
async def test_a_bad_request_is_refused_with_a_reason_that_reveals_nothing(name: str) -> None:
    """The cases are built when the test runs, so that their timestamps are measured from then."""
    _, path, body, headers, status = next(case for case in _bad_requests() if case[0] == name)
    manager = StubManager()
    async with intake(manager, config=SIGNED) as client:
        answer = await client.post(path, data=body, headers=headers)
        text = await answer.text()
        assert answer.status == status, text
        assert json.loads(text)["message"]
        digests = [part.partition("v1=")[2] for part in headers.get(HEADER, "").split(",") if "v1=" in part]
        for secret in [SECRET, TOKEN, *digests]:
            assert secret not in text
    assert manager.joined == []


async def test_authentication_comes_before_anything_in_the_body() -> None:
    """Unsigned, with every other fault too: the answer is 401, and nothing is read or acted on."""
    manager = StubManager()
    ready = {"ready": False}
    async with intake(manager, ready, config=SIGNED) as client:
        answer = await client.post("/contact-flow", data=b"[" * 70_000, headers={"Content-Type": "text/html"})
        assert answer.status == 401
        body = encoded(flow_event("c-1"))
        answer = await client.post("/contact-flow", data=body, headers=signed(body, "not-the-secret"))
        assert answer.status == 401  # not 503: the sender is not proven, so it learns nothing more
        answer = await client.post("/contact-flow", data=body, headers=signed(body))
        assert answer.status == 503
    assert manager.joined == []


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8", "Application/JSON"])
async def test_json_with_or_without_parameters_is_taken(content_type: str) -> None:
    manager = StubManager()
    body = encoded(flow_event("c-1"))
    async with intake(manager) as client:
        answer = await client.post("/contact-flow", data=body, headers={"Content-Type": content_type})
        assert answer.status == 200
    assert manager.joined == ["c-1"]


@pytest.mark.parametrize("content_type", [None, "text/plain", "multipart/form-data; boundary=x", "application/jsonx"])
async def test_anything_but_json_is_a_415_even_without_a_secret(content_type: str | None) -> None:
    """Without it, a web page's form post to a bot on a private network would hand in a contact."""
    manager = StubManager()
    body = encoded(flow_event("c-1"))
    async with intake(manager) as client:
        headers = {} if content_type is None else {"Content-Type": content_type}
        answer = await client.post("/contact-flow", data=body, headers=headers, skip_auto_headers=["Content-Type"])
        assert answer.status == 415
    assert manager.joined == []


async def _raw_exchange(port: int, head: bytes, body_parts: list[bytes], timeout: float = 5) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head)
        for part in body_parts:
            writer.write(part)
        await writer.drain()
        return await asyncio.wait_for(reader.read(65536), timeout)
    finally:
        writer.close()


async def test_a_streamed_body_over_the_limit_is_cut_off_without_reading_the_rest() -> None:
    """Chunked, so no Content-Length warns: the answer comes once the limit is passed, while the client is still
    sending, so the server never waited for (or held) the rest."""
    manager = StubManager()
    async with intake(manager) as client:
        head = (
            b"POST /contact-flow HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        chunk = b"11000\r\n" + b" " * 0x11000 + b"\r\n"  # 68 KiB, over the 64 KiB default; no final 0-chunk comes
        answer = await _raw_exchange(client.port, head, [chunk])
    assert answer.startswith(b"HTTP/1.1 413"), answer[:100]
    assert b"at most 65536 bytes" in answer
    assert manager.joined == []


async def test_a_large_content_length_is_refused_before_the_body_is_sent() -> None:
    manager = StubManager()
    async with intake(manager) as client:
        head = b"POST /contact-flow HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\n\r\n"
        answer = await _raw_exchange(client.port, head, [])
    assert answer.startswith(b"HTTP/1.1 413"), answer[:100]


# Read deadlines ------------------------------------------------------------------------------------------


async def _trickle(port: int, head: bytes, data: bytes, every: float, bound: float) -> tuple[bytes, float]:
    """Send `head`, then `data` a byte at a time, one each `every` seconds, until the server answers or closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.monotonic()
    writer.write(head)
    try:
        for byte in data:
            if time.monotonic() - started > bound:
                break
            writer.write(bytes([byte]))
            try:
                await writer.drain()
                received = await asyncio.wait_for(reader.read(65536), every)
            except TimeoutError:
                continue  # still open and silent: send the next byte
            except ConnectionError:
                received = b""
            return received, time.monotonic() - started
        raise AssertionError(f"the server was still reading after {time.monotonic() - started:.1f} s")
    finally:
        writer.close()


async def test_a_client_trickling_its_headers_is_cut_off() -> None:
    manager = StubManager()
    headers = b"POST /contact-flow HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + b"X-Slow: " + b"a" * 200
    async with intake(manager, header_timeout=0.5) as client:
        received, after = await _trickle(client.port, b"", headers, every=0.05, bound=5)
    assert received == b"" or received.startswith(b"HTTP/1.1 408")
    assert after < 3


async def test_a_client_trickling_its_body_gets_a_408() -> None:
    manager = StubManager()
    body = encoded(flow_event("c-1"))
    head = (
        b"POST /contact-flow HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
    )
    async with intake(manager, body_timeout=0.5) as client:
        received, after = await _trickle(client.port, head, body, every=0.05, bound=5)
    assert received.startswith(b"HTTP/1.1 408"), received[:100]
    assert b"Connection: close" in received
    assert after < 3
    assert manager.joined == []


# Against a running bot and its embedded emulator -------------------------------------------------------


class Echo:
    @hookimpl
    async def on_message(self, session: Any, message: Any) -> None:
        await session.send_message(f"echo: {message.content}")


async def test_a_bot_with_a_secret_registers_it_with_its_emulator_and_answers_chats() -> None:
    async with running_bot([Echo()], f"intake: {{secret: {SECRET}}}") as bot:
        customer = Customer(bot.emulator.base_url)
        await customer.start()
        await customer.send("signed hello")
        await customer.wait_for(lambda items: "echo: signed hello" in customer.bot_messages())
        await customer.close()
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{bot.emulator.base_url}/emulator/webhooks") as answer:
                listed = await answer.text()
            async with http.post(f"{bot.server_url}/contact-flow", json=flow_event(customer.contact_id)) as answer:
                assert answer.status == 401
    assert json.loads(listed)["Webhooks"] == [f"{bot.server_url}/contact-flow"]
    assert SECRET not in listed


async def test_every_bad_intake_request_is_refused_and_a_good_one_still_served(capsys: Any) -> None:
    """The table of the issue, against a real bot process on real sockets; printed for the closing note."""
    results: list[tuple[str, int, int]] = []
    async with running_bot([Echo()], f"intake: {{secret: {SECRET}}}") as bot:
        customer = Customer(bot.emulator.base_url)
        await customer.start()
        await customer.send("hello")
        await customer.wait_for(lambda items: "echo: hello" in customer.bot_messages())
        async with aiohttp.ClientSession() as http:
            for name, path, body, headers, status in _bad_requests():
                async with http.post(bot.server_url + path, data=body, headers=headers) as answer:
                    text = await answer.text()
                    results.append((name, status, answer.status))
                    assert SECRET not in text and TOKEN not in text
            good = encoded(flow_event(customer.contact_id))
            async with http.post(f"{bot.server_url}/contact-flow", data=good, headers=signed(good)) as answer:
                assert answer.status == 200, await answer.text()
                served = await answer.json()
        await customer.send("still served?")
        await customer.wait_for(lambda items: "echo: still served?" in customer.bot_messages())
        await customer.close()
    with capsys.disabled():
        print("\n| request | expected | got |\n|---|---|---|")
        for name, expected, got in results:
            print(f"| {name} | {expected} | {got} |")
        print(f"| good signed request afterwards | 200 | 200 ({served['ParticipantId'][:8]}…) |")
    assert [(name, got) for name, _, got in results] == [(name, expected) for name, expected, _ in results]
