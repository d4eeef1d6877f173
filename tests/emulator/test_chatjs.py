"""amazon-connect-chatjs, unchanged, runs in Node as the customer against the emulator.

The chat is started with boto3, the agent is played from Python (control API join, boto3's
CreateParticipantConnection, an aiohttp websocket), and the customer is chatjs driven by
tests/js/customer.mjs, which prints one JSON line per event it observes. Every step waits for a
line or a frame with a timeout; nothing sleeps to synchronise.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from botkit import hookimpl
from tests.conftest import aws_clients
from tests.runtime.harness import running_bot

NODE = shutil.which("node")
JS_DIR = Path(__file__).resolve().parents[1] / "js"
CHATJS_PACKAGE = JS_DIR / "node_modules" / "amazon-connect-chatjs" / "package.json"

STEP_TIMEOUT = 15.0
NODE_TIMEOUT = 25  # customer.mjs gives up on its own after this many seconds

TYPING = "application/vnd.amazonaws.connect.event.typing"
CHAT_ENDED = "application/vnd.amazonaws.connect.event.chat.ended"
PARTICIPANT_LEFT = "application/vnd.amazonaws.connect.event.participant.left"
PARTICIPANT_JOINED = "application/vnd.amazonaws.connect.event.participant.joined"

INITIAL_MESSAGE = "I need help with my order (initial message)"
CUSTOMER_MESSAGE = "Hello from chatjs"
AGENT_REPLY = "Hi, this is the agent speaking"

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not on PATH: the chatjs interop test needs Node.js 18+")


@pytest.fixture(scope="session")
def chatjs_installed() -> Path:
    """tests/js/node_modules, installed once from the committed lock file if it is missing."""
    if not CHATJS_PACKAGE.is_file():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail(f"node is installed but npm is not: run `npm ci` in {JS_DIR} to install chatjs")
        result = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            check=False,
            cwd=JS_DIR,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if result.returncode != 0 or not CHATJS_PACKAGE.is_file():
            pytest.fail(f"`npm ci` in {JS_DIR} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return JS_DIR


class Stream:
    """Everything one side has produced so far; each wait takes the first matching item not taken yet.

    Lines from chatjs and frames to the agent arrive from independent sources (a websocket frame may
    come before the HTTP answer of the call that caused it), so waits look at the whole history
    instead of consuming it in order; where order matters the test compares positions itself.
    """

    def __init__(self, name: str, describe_failure: Callable[[], str]) -> None:
        self.name = name
        self.items: list[dict[str, Any]] = []
        self._taken: set[int] = set()
        self._ended = False
        self._changed = asyncio.Event()
        self._describe_failure = describe_failure

    def put(self, item: dict[str, Any]) -> None:
        self.items.append(item)
        self._changed.set()

    def close(self) -> None:
        self._ended = True
        self._changed.set()

    async def wait(self, matches: Callable[[dict[str, Any]], bool], what: str) -> dict[str, Any]:
        """The first matching item not taken yet, seen already or still to come; fails on a timeout,
        on an error line, or when the stream ends without one."""
        try:
            async with asyncio.timeout(STEP_TIMEOUT):
                while True:
                    for index, item in enumerate(self.items):
                        if item.get("event") == "error":
                            pytest.fail(
                                f"{self.name} reported {item} while we waited for {what}\n{self._describe_failure()}"
                            )
                        if index not in self._taken and matches(item):
                            self._taken.add(index)
                            return item
                    if self._ended:
                        pytest.fail(f"{self.name} ended before {what}\n{self._describe_failure()}")
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            pytest.fail(f"{self.name}: no {what} within {STEP_TIMEOUT} s\n{self._describe_failure()}")

    def position(self, item: dict[str, Any]) -> int:
        return next(index for index, candidate in enumerate(self.items) if candidate is item)


def chat_item(frame: dict[str, Any]) -> dict[str, Any] | None:
    if frame.get("topic") != "aws/chat":
        return None
    return json.loads(frame["content"])


async def test_chatjs_customer_talks_to_a_python_agent(emulator: Any, chatjs_installed: Path) -> None:
    base_url = emulator.base_url
    connect, participant = aws_clients(base_url)
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base_url}/emulator/info") as response:
            info = await response.json()

        chat = await asyncio.to_thread(
            connect.start_chat_contact,
            InstanceId=info["instanceId"],
            ContactFlowId=info["contactFlowId"],
            ParticipantDetails={"DisplayName": "Ada (chatjs)"},
            InitialMessage={"ContentType": "text/plain", "Content": INITIAL_MESSAGE},
        )
        contact_id = chat["ContactId"]
        customer_id = chat["ParticipantId"]

        # The agent joins and listens before the customer comes, so it sees every frame live.
        async with http.post(
            f"{base_url}/emulator/contacts/{contact_id}/participants",
            json={"ParticipantRole": "AGENT", "DisplayName": "Agent"},
        ) as response:
            assert response.status == 200, await response.text()
            agent = await response.json()
        agent_id = agent["ParticipantId"]
        agent_connection = await asyncio.to_thread(
            participant.create_participant_connection,
            ParticipantToken=agent["ParticipantToken"],
            Type=["WEBSOCKET", "CONNECTION_CREDENTIALS"],
            ConnectParticipant=True,
        )
        agent_token = agent_connection["ConnectionCredentials"]["ConnectionToken"]

        async with http.ws_connect(agent_connection["Websocket"]["Url"]) as ws:
            await ws.send_json({"topic": "aws/subscribe", "content": {"topics": ["aws/chat"]}})
            async with asyncio.timeout(STEP_TIMEOUT):
                subscribed = await ws.receive_json()
            assert subscribed == {"topic": "aws/subscribe", "content": {"status": "success", "topics": ["aws/chat"]}}

            node = await asyncio.create_subprocess_exec(
                NODE,
                "customer.mjs",
                base_url,
                f"--timeout={NODE_TIMEOUT}",
                f"--message={CUSTOMER_MESSAGE}",
                cwd=chatjs_installed,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            stderr_lines: list[str] = []

            def node_output() -> str:
                tail = "\n".join(stderr_lines[-40:])
                return f"customer.mjs stdout: {json.dumps(customer.items)[-4000:]}\ncustomer.mjs stderr (tail):\n{tail}"

            customer = Stream("chatjs (customer.mjs)", node_output)
            agent_frames = Stream("agent websocket", node_output)

            async def read_stdout() -> None:
                assert node.stdout is not None
                async for raw in node.stdout:
                    line = raw.decode().strip()
                    if not line:
                        continue
                    try:
                        customer.put(json.loads(line))
                    except ValueError:
                        customer.put({"event": "error", "message": f"not a JSON line: {line!r}"})
                customer.close()

            async def read_stderr() -> None:
                assert node.stderr is not None
                async for raw in node.stderr:
                    stderr_lines.append(raw.decode(errors="replace").rstrip())

            async def read_agent_socket() -> None:
                async for message in ws:
                    if message.type == aiohttp.WSMsgType.TEXT:
                        item = chat_item(json.loads(message.data))
                        if item is not None:
                            agent_frames.put(item)
                agent_frames.close()

            readers = [
                asyncio.create_task(read_stdout()),
                asyncio.create_task(read_stderr()),
                asyncio.create_task(read_agent_socket()),
            ]
            try:
                assert node.stdin is not None
                node.stdin.write(json.dumps(chat).encode())
                await node.stdin.drain()
                node.stdin.close()

                def event(name: str) -> Callable[[dict[str, Any]], bool]:
                    return lambda line: line.get("event") == name

                created = await customer.wait(event("created"), "ChatSession.create")
                assert created["chatjsVersion"].startswith("5.")

                # connect(): CreateParticipantConnection resolves it, then the websocket opens and subscribes.
                connected = await customer.wait(event("connected"), "connect() resolving")
                assert connected["connectSuccess"] is True
                await customer.wait(
                    lambda line: line.get("event") == "connectionEstablished" and line["source"] == "websocket",
                    "onConnectionEstablished for the websocket",
                )

                # getTranscript BACKWARD / ASCENDING: the InitialMessage and both joins, oldest first.
                loaded = await customer.wait(event("transcript"), "the transcript")
                assert loaded["initialContactId"] == contact_id
                transcript = loaded["items"]
                messages = [item for item in transcript if item["Type"] == "MESSAGE"]
                assert [(m["ParticipantRole"], m["ParticipantId"], m["Content"]) for m in messages] == [
                    ("CUSTOMER", customer_id, INITIAL_MESSAGE)
                ]
                joined = [item["ParticipantId"] for item in transcript if item.get("ContentType") == PARTICIPANT_JOINED]
                assert joined == [customer_id, agent_id]
                times = [item["AbsoluteTime"] for item in transcript]
                assert times == sorted(times)
                assert all(item["ContactId"] == contact_id for item in transcript)  # items carry no InitialContactId

                # chatjs's message reaches the agent over the websocket.
                sent = await customer.wait(event("messageSent"), "sendMessage resolving")
                from_customer = await agent_frames.wait(
                    lambda item: item["Type"] == "MESSAGE" and item["ParticipantId"] == customer_id,
                    "the customer's message",
                )
                assert from_customer["Id"] == sent["id"]
                assert from_customer["Content"] == CUSTOMER_MESSAGE
                assert from_customer["ContentType"] == "text/plain"
                assert from_customer["ParticipantRole"] == "CUSTOMER"

                # The agent answers; chatjs's onMessage fires with it.
                reply = await asyncio.to_thread(
                    participant.send_message, ConnectionToken=agent_token, ContentType="text/plain", Content=AGENT_REPLY
                )
                on_message = await customer.wait(
                    lambda line: line.get("event") == "message" and line["data"].get("Id") == reply["Id"],
                    "onMessage with the agent's reply",
                )
                assert on_message["data"]["Content"] == AGENT_REPLY
                assert on_message["data"]["ParticipantRole"] == "AGENT"
                assert on_message["data"]["ParticipantId"] == agent_id
                await customer.wait(event("agentReply"), "the script acknowledging the reply")

                # Typing, both ways.
                await customer.wait(event("typingSent"), "sendEvent(typing) resolving")
                customer_typing = await agent_frames.wait(
                    lambda item: item.get("ContentType") == TYPING and item["ParticipantId"] == customer_id,
                    "the customer's typing",
                )
                assert customer_typing["Type"] == "EVENT"
                await asyncio.to_thread(participant.send_event, ConnectionToken=agent_token, ContentType=TYPING)
                on_typing = await customer.wait(
                    lambda line: line.get("event") == "typing" and line["data"].get("ParticipantId") == agent_id,
                    "onTyping with the agent's typing",
                )
                assert on_typing["data"]["ContentType"] == TYPING
                await customer.wait(event("agentTyping"), "the script acknowledging the agent's typing")

                # The customer leaves: the chat ends for both.
                await customer.wait(event("disconnected"), "disconnectParticipant resolving")
                left = await agent_frames.wait(
                    lambda item: item.get("ContentType") == PARTICIPANT_LEFT, "participant.left"
                )
                assert left["ParticipantId"] == customer_id
                ended = await agent_frames.wait(
                    lambda item: item.get("ContentType") == CHAT_ENDED, "chat.ended at the agent"
                )
                assert agent_frames.position(left) < agent_frames.position(ended)
                on_message_ended = await customer.wait(
                    lambda line: line.get("event") == "message" and line["data"].get("ContentType") == CHAT_ENDED,
                    "chat.ended at chatjs's onMessage",
                )
                # The real frame, not the stand-in chatjs makes up when it finds the chat gone on reconnecting.
                assert on_message_ended["data"].get("ContactId") == contact_id, on_message_ended
                assert on_message_ended["data"].get("Id"), on_message_ended
                await customer.wait(event("ended"), "onEnded")
                await customer.wait(event("done"), "the script finishing")
                async with asyncio.timeout(STEP_TIMEOUT):
                    returncode = await node.wait()
                assert returncode == 0, node_output()

                # Nothing went wrong on the way: no error lines, no lost or broken connection.
                events = [line["event"] for line in customer.items]
                assert "error" not in events and "connectionBroken" not in events, node_output()
                assert events.index("ended") > events.index("agentTyping"), node_output()
                established = [line["source"] for line in customer.items if line["event"] == "connectionEstablished"]
                assert sorted(established) == ["connect", "websocket"], node_output()
            finally:
                if node.returncode is None:
                    node.kill()
                    await node.wait()
                for reader in readers:
                    reader.cancel()
                await asyncio.gather(*readers, return_exceptions=True)


# chatjs and the bot, on each transport ----------------------------------------------------------------

BOT_TOPIC = "arn:aws:sns:us-east-1:123456789012:botkit-chat"


class Answering:
    """A bot that types, then echoes every message; it records what it handled and how its session ended."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        self.chat_ended = 0
        self.end_reason: str | None = None
        self.ended = asyncio.Event()

    @hookimpl
    async def on_message(self, session: Any, message: Any) -> None:
        self.messages.append(message.content)
        await session.send_typing()
        await session.send_message(f"echo: {message.content}")

    @hookimpl
    def on_chat_ended(self) -> None:
        self.chat_ended += 1

    @hookimpl
    def on_session_end(self, reason: str) -> None:
        self.end_reason = reason
        self.ended.set()


async def start_chat(base_url: str) -> dict[str, Any]:
    """StartChatContact with boto3 (in a thread: the emulator may share this loop), with the initial message."""
    connect, _ = aws_clients(base_url)
    async with aiohttp.ClientSession() as http, http.get(f"{base_url}/emulator/info") as response:
        info = await response.json()
    chat: dict[str, Any] = await asyncio.to_thread(
        connect.start_chat_contact,
        InstanceId=info["instanceId"],
        ContactFlowId=info["contactFlowId"],
        ParticipantDetails={"DisplayName": "Ada (chatjs)"},
        InitialMessage={"ContentType": "text/plain", "Content": INITIAL_MESSAGE},
    )
    return {key: chat[key] for key in ("ContactId", "ParticipantId", "ParticipantToken")}


async def chatjs_customer_of_the_bot(base_url: str, chat: dict[str, Any], js_dir: Path) -> list[dict[str, Any]]:
    """customer.mjs through a whole chat with the bot: every line it printed, once it exited 0."""
    assert NODE is not None
    node = await asyncio.create_subprocess_exec(
        NODE,
        "customer.mjs",
        base_url,
        json.dumps(chat),
        f"--timeout={NODE_TIMEOUT}",
        f"--message={CUSTOMER_MESSAGE}",
        "--reply-role=CUSTOM_BOT",
        f"--reply=echo: {CUSTOMER_MESSAGE}",
        cwd=js_dir,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(NODE_TIMEOUT + 5):
            stdout, stderr = await node.communicate()
    finally:
        if node.returncode is None:
            node.kill()
            await node.wait()
    lines = [json.loads(line) for line in stdout.decode().splitlines() if line.strip()]
    tail = "\n".join(stderr.decode(errors="replace").splitlines()[-40:])
    assert node.returncode == 0, f"customer.mjs exited {node.returncode}: {lines[-3:]}\n{tail}"
    events = [line["event"] for line in lines]
    assert "error" not in events and "connectionBroken" not in events, lines
    return lines


def check_the_customer_heard_the_bot(lines: list[dict[str, Any]]) -> None:
    transcript = next(line for line in lines if line["event"] == "transcript")["items"]
    assert INITIAL_MESSAGE in [item.get("Content") for item in transcript]
    reply = next(line for line in lines if line["event"] == "agentReply")
    assert reply["content"] == f"echo: {CUSTOMER_MESSAGE}"
    bot_messages = [
        line["data"]["Content"]
        for line in lines
        if line["event"] == "message" and line["data"].get("ParticipantRole") == "CUSTOM_BOT"
        and line["data"].get("Type") == "MESSAGE"
    ]
    assert bot_messages.count(f"echo: {CUSTOMER_MESSAGE}") == 1, bot_messages
    assert any(line["event"] == "typing" and line["data"].get("ParticipantRole") == "CUSTOM_BOT" for line in lines)
    events = [line["event"] for line in lines]
    assert events.index("ended") > events.index("agentTyping")


async def test_chatjs_customer_talks_to_the_bot(transport: str, chatjs_installed: Path) -> None:
    """The same chat, unchanged, on either transport: chatjs gets its answers, the bot hears each message once."""
    bot_plugin = Answering()
    async with running_bot([bot_plugin], "typing: {throttle_seconds: 0}", transport=transport) as bot:
        assert bot.emulator is not None
        chat = await start_chat(bot.emulator.base_url)
        lines = await chatjs_customer_of_the_bot(bot.emulator.base_url, chat, chatjs_installed)
        async with asyncio.timeout(STEP_TIMEOUT):
            await bot_plugin.ended.wait()
        streamed = bot.emulator.streaming.stats.as_dict()
    check_the_customer_heard_the_bot(lines)
    assert bot_plugin.messages == [INITIAL_MESSAGE, CUSTOMER_MESSAGE]
    assert (bot_plugin.chat_ended, bot_plugin.end_reason) == (1, "chat_ended")
    if transport == "streaming":
        assert streamed["delivered"] > 0, streamed
    else:
        assert streamed["delivered"] == 0, streamed


async def test_botkit_serve_on_streaming_answers_a_chatjs_customer(tmp_path: Path, chatjs_installed: Path) -> None:
    """From a bot.yaml that says `transport: streaming`, `botkit serve` (a subprocess) answers a chatjs customer
    on its emulator; the emulator's log shows the subscription handshake and the signed deliveries."""
    (tmp_path / "answering.py").write_text(
        textwrap.dedent(
            """\
            from botkit import hookimpl


            @hookimpl
            async def on_message(session, message):
                await session.send_typing()
                await session.send_message(f"echo: {message.content}")
            """
        ),
        encoding="utf-8",
    )
    config = tmp_path / "bot.yaml"
    config.write_text(
        textwrap.dedent(
            f"""\
            connect: {{endpoint: embedded}}
            emulator: {{port: 0}}
            server: {{port: 0}}
            transport: streaming
            streaming: {{topic_arn: "{BOT_TOPIC}"}}
            plugins: [answering.py]
            typing: {{throttle_seconds: 0}}
            logging: {{level: DEBUG}}
            """
        ),
        encoding="utf-8",
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "botkit", "serve", str(config),
        cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    stderr = asyncio.create_task(process.stderr.read())
    try:
        async with asyncio.timeout(STEP_TIMEOUT):
            first = (await process.stdout.readline()).decode().strip()
            await process.stdout.readline()  # "bot: <url> (plugins: ...)": the bot is ready
        match = re.fullmatch(r"emulator: (http://127\.0\.0\.1:\d+)", first)
        assert match, f"first line was {first!r}"
        base_url = match.group(1)
        chat = await start_chat(base_url)
        lines = await chatjs_customer_of_the_bot(base_url, chat, chatjs_installed)
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), STEP_TIMEOUT)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    err = (await stderr).decode()
    assert code == 0, err[-4000:]
    assert "Traceback" not in err
    check_the_customer_heard_the_bot(lines)
    assert re.search(r"SNS: signed SubscriptionConfirmation \S+ delivered to http://127\.0\.0\.1:\d+/sns: HTTP 200", err)
    assert "SNS route: confirmed the subscription to " + BOT_TOPIC in err
    contact = chat["ContactId"]
    delivered = re.findall(rf"SNS: signed Notification \S+ \(contact {contact}\) delivered to \S+/sns: HTTP 200", err)
    assert len(delivered) >= 6, err[-4000:]  # joins, two messages each way, the leave and the end, at least
