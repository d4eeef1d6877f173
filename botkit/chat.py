"""`botkit chat`: a terminal customer for a chat on the emulator.

It starts a chat, sends each line typed, and shows the other participants'
messages, typing and events as they come. An interactive message (a ListPicker,
a QuickReply, ...) shows as numbered choices; typing a number answers it with an
interactive response, as a click in a chat widget would.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from typing import TextIO

import aiohttp

from botkit.connect import vocabulary as v
from botkit.connect.client import ParticipantClient
from botkit.connect.control import ControlPlaneClient
from botkit.connect.models import Item
from botkit.connect.secrets import Secret
from botkit.connect.websocket import ChatSocket
from botkit.interactive import Choice, read_prompt

SUPPORTED = [v.TEXT_PLAIN, v.TEXT_MARKDOWN, v.INTERACTIVE, v.INTERACTIVE_RESPONSE]
LEAVE_TIMEOUT = 5.0


def describe(item: Item, customer_id: str) -> str | None:
    """One line for the terminal, or None for what a customer would not see (its own items, receipts)."""
    if item.participant_id == customer_id or item.type == v.MESSAGEMETADATA:
        return None
    who = item.display_name or item.participant_role or "system"
    if item.type == v.MESSAGE:
        return f"{who}: {item.content}"
    if item.type == v.ATTACHMENT:
        names = ", ".join(a.attachment_name or "?" for a in item.attachments)
        return f"{who} shared {names}"
    if item.content_type == v.EVENT_TYPING:
        return f"({who} is typing…)"
    event = (item.content_type or "").removeprefix("application/vnd.amazonaws.connect.event.")
    return f"[{event}{'' if event == 'chat.ended' else ' ' + who}]"


class ChatLost(Exception):
    """The emulator went away mid-chat: the socket closed before the chat ended."""


async def run_chat(
    endpoint: str,
    name: str,
    out: TextIO = sys.stdout,
    lines: asyncio.Queue[str | None] | None = None,
    stop: asyncio.Event | None = None,
    attributes: dict[str, str] | None = None,
) -> None:
    """Chat until it ends, stdin closes or `stop` is set (the CLI sets it on SIGINT and SIGTERM).

    `attributes` are the contact's, as a website's chat widget passes them to StartChatContact.

    Unless the chat already ended, the customer leaves with DisconnectParticipant,
    so the contact ends as it would for a customer who closes the chat window.
    """
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{endpoint}/emulator/info") as answer:
            info = await answer.json()
    control = ControlPlaneClient(endpoint, info["region"])
    client = ParticipantClient(endpoint)
    try:
        chat = await control.start_chat_contact(
            info["instanceId"], info["contactFlowId"], name, attributes=attributes, supported_content_types=SUPPORTED
        )
        details = await client.create_participant_connection(chat.participant_token)
        assert details.websocket_url is not None and details.connection_token is not None
        token = details.connection_token
        socket = await ChatSocket.open(details.websocket_url)
        ended = asyncio.Event()
        choices: list[Choice] = []  # the latest interactive prompt's, until one is picked

        def show(item: Item) -> None:
            if item.content_type == v.EVENT_CHAT_ENDED:
                ended.set()
            if item.content_type == v.INTERACTIVE and item.participant_id != chat.participant_id:
                prompt = read_prompt(item.content or "")
                if prompt is not None and prompt.choices:
                    who = item.display_name or item.participant_role or "system"
                    titled = not prompt.lines[0].startswith(" ")  # a template may come without a title
                    head, rest = (prompt.lines[0], prompt.lines[1:]) if titled else ("", prompt.lines)
                    print(f"{who}: {head}".rstrip(), *rest, "(type a number to choose)", sep="\n", file=out, flush=True)
                    choices[:] = prompt.choices
                    return
            line = describe(item, chat.participant_id)
            if line is not None:
                print(line, file=out, flush=True)

        print(f"chat {chat.contact_id} started; type a message, Ctrl-D to leave", file=out, flush=True)
        listening = asyncio.create_task(socket.run(show))
        typed = lines or _stdin_lines()
        stopping = stop or asyncio.Event()
        try:
            while (line := await _next_line(typed, ended, listening, stopping)) is not None:
                if (choice := _chosen(line, choices)) is not None:
                    await client.send_message(token, choice.response(), v.INTERACTIVE_RESPONSE)
                    choices.clear()
                    print(f"(you chose {choice.title})", file=out, flush=True)
                elif line.strip():
                    await client.send_message(token, line.rstrip("\n"))
            if ended.is_set():
                return
            if listening.done():
                reason = "failed" if listening.exception() else listening.result()
                raise ChatLost(f"lost the chat on {endpoint}: the connection closed ({reason})")
            await _leave(client, token, ended)
        finally:
            listening.cancel()
            await socket.close()
    finally:
        await client.close()
        await control.close()


def _chosen(line: str, choices: list[Choice]) -> Choice | None:
    """The choice a typed number picks; any other line is a message (so is a number when no prompt waits)."""
    typed = line.strip()
    if typed.isdigit() and 1 <= int(typed) <= len(choices):
        return choices[int(typed) - 1]
    return None


async def _leave(client: ParticipantClient, token: Secret, ended: asyncio.Event) -> None:
    """DisconnectParticipant, then a short wait for the chat.ended event it causes."""
    async with asyncio.timeout(LEAVE_TIMEOUT):
        await client.disconnect_participant(token)
    try:
        await asyncio.wait_for(ended.wait(), LEAVE_TIMEOUT)
    except TimeoutError:
        pass  # the customer has left; the event only confirms it on the terminal


async def _next_line(
    lines: asyncio.Queue[str | None], ended: asyncio.Event, listening: asyncio.Task[str], stop: asyncio.Event
) -> str | None:
    """The next typed line, or None once stdin closes, the chat ends, the socket closes or `stop` is set."""
    getting = asyncio.ensure_future(lines.get())
    others = [asyncio.ensure_future(ended.wait()), asyncio.ensure_future(stop.wait())]
    try:
        await asyncio.wait({getting, listening, *others}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in others:
            waiter.cancel()
    if getting.done() and not (ended.is_set() or stop.is_set() or listening.done()):
        return getting.result()
    getting.cancel()
    return None


def _stdin_lines() -> asyncio.Queue[str | None]:
    """Lines typed on stdin, read by a daemon thread so the loop never blocks and exit never waits for Enter."""
    queue: asyncio.Queue[str | None] = asyncio.Queue()
    loop = asyncio.get_running_loop()

    def read() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(queue.put_nowait, line)
        loop.call_soon_threadsafe(queue.put_nowait, None)

    threading.Thread(target=read, name="botkit-chat-stdin", daemon=True).start()
    return queue
