"""`botkit chat`: a terminal customer for a chat on the emulator.

It starts a chat, sends each line typed, and shows the other participants'
messages, typing and events as they come.
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
from botkit.connect.websocket import ChatSocket

SUPPORTED = [v.TEXT_PLAIN, v.TEXT_MARKDOWN, v.INTERACTIVE_RESPONSE]


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


async def run_chat(endpoint: str, name: str, out: TextIO = sys.stdout, lines: asyncio.Queue[str | None] | None = None) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{endpoint}/emulator/info") as answer:
            info = await answer.json()
    control = ControlPlaneClient(endpoint, info["region"])
    client = ParticipantClient(endpoint)
    try:
        chat = await control.start_chat_contact(
            info["instanceId"], info["contactFlowId"], name, supported_content_types=SUPPORTED
        )
        details = await client.create_participant_connection(chat.participant_token)
        assert details.websocket_url is not None and details.connection_token is not None
        token = details.connection_token
        socket = await ChatSocket.open(details.websocket_url)
        ended = asyncio.Event()

        def show(item: Item) -> None:
            line = describe(item, chat.participant_id)
            if line is not None:
                print(line, file=out, flush=True)
            if item.content_type == v.EVENT_CHAT_ENDED:
                ended.set()

        print(f"chat {chat.contact_id} started; type a message, Ctrl-D to leave", file=out, flush=True)
        listening = asyncio.create_task(socket.run(show))
        typed = lines or _stdin_lines()
        while not ended.is_set():
            line = await _next_line(typed, ended)
            if line is None:
                break
            if line.strip():
                await client.send_message(token, line.rstrip("\n"))
        if not ended.is_set():
            await client.disconnect_participant(token)
            await asyncio.wait_for(ended.wait(), 5)
        listening.cancel()
        await socket.close()
    finally:
        await client.close()
        await control.close()


async def _next_line(lines: asyncio.Queue[str | None], ended: asyncio.Event) -> str | None:
    getting = asyncio.ensure_future(lines.get())
    stopping = asyncio.ensure_future(ended.wait())
    done, _ = await asyncio.wait({getting, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if getting in done:
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
