"""The floor: the least code that does botkit's job, with aiohttp + websockets and no framework.

    python benchmarks/baselines/minimal_bot.py --endpoint http://127.0.0.1:PORT [--prefix "echo: "]

It registers a contact-flow webhook with the emulator; for each contact:
CreateParticipant (CUSTOM_BOT) → CreateParticipantConnection (ConnectParticipant,
websocket + credentials) → websocket subscribe, heartbeat every 10 s → for every
customer MESSAGE, SendMessage `<prefix><text>`, one at a time per contact.

What it leaves out, and botkit does not: reconnects and gap fill, de-duplication,
ClientTokens derived for replays, receipts, plugins, error containment, shutdown.
So it is a floor for cost, not a bot to deploy. Prints `bot: <url>` when ready.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import uuid

import aiohttp
from aiohttp import web
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

SUBSCRIBE = json.dumps({"topic": "aws/subscribe", "content": {"topics": ["aws/chat"]}})
HEARTBEAT = json.dumps({"topic": "aws/heartbeat"})
CHAT_ENDED = "application/vnd.amazonaws.connect.event.chat.ended"


class MinimalBot:
    def __init__(self, endpoint: str, prefix: str, heartbeat: float) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.prefix = prefix
        self.heartbeat = heartbeat
        self.http: aiohttp.ClientSession | None = None
        self.instance_id = ""
        self.tasks: set[asyncio.Task[None]] = set()

    async def post(self, path: str, body: dict, bearer: str | None = None) -> dict:
        assert self.http is not None
        headers = {"X-Amz-Bearer": bearer} if bearer else None
        async with self.http.post(self.endpoint + path, json=body, headers=headers) as answer:
            data = await answer.json(content_type=None)
            if answer.status >= 300:
                raise RuntimeError(f"{path}: HTTP {answer.status} {data}")
            return data

    async def contact_flow(self, request: web.Request) -> web.Response:
        event = await request.json()
        contact_id = event["Details"]["ContactData"]["ContactId"]
        task = asyncio.get_running_loop().create_task(self.run_contact(contact_id))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return web.json_response({})

    async def run_contact(self, contact_id: str) -> None:
        try:
            joined = await self.post(
                "/contact/create-participant",
                {
                    "InstanceId": self.instance_id,
                    "ContactId": contact_id,
                    "ClientToken": str(uuid.uuid4()),
                    "ParticipantDetails": {"ParticipantRole": "CUSTOM_BOT", "DisplayName": "Bot"},
                },
            )
            connection = await self.post(
                "/participant/connection",
                {"Type": ["WEBSOCKET", "CONNECTION_CREDENTIALS"], "ConnectParticipant": True},
                bearer=joined["ParticipantCredentials"]["ParticipantToken"],
            )
            token = connection["ConnectionCredentials"]["ConnectionToken"]
            async with connect(
                connection["Websocket"]["Url"], compression=None, ping_interval=None, user_agent_header=None
            ) as ws:
                await ws.send(SUBSCRIBE)
                beat = asyncio.get_running_loop().create_task(self.beat(ws))
                try:
                    async for raw in ws:
                        frame = json.loads(raw)
                        if frame.get("topic") != "aws/chat":
                            continue
                        item = json.loads(frame["content"])
                        if item.get("Type") == "MESSAGE" and item.get("ParticipantRole") == "CUSTOMER":
                            await self.post(
                                "/participant/message",
                                {"ContentType": "text/plain", "Content": self.prefix + item.get("Content", "")},
                                bearer=token,
                            )
                        elif item.get("ContentType") == CHAT_ENDED:
                            break
                finally:
                    beat.cancel()
        except (ConnectionClosed, aiohttp.ClientError, RuntimeError, KeyError) as error:
            print(f"contact {contact_id}: {type(error).__name__}: {error}", file=sys.stderr, flush=True)

    async def beat(self, ws) -> None:  # type: ignore[no-untyped-def]
        while True:
            await ws.send(HEARTBEAT)
            await asyncio.sleep(self.heartbeat)

    async def run(self) -> None:
        self.http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100))
        async with self.http.get(self.endpoint + "/emulator/info") as answer:
            self.instance_id = (await answer.json())["instanceId"]
        app = web.Application()
        app.router.add_post("/contact-flow", self.contact_flow)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        await self.post("/emulator/webhooks", {"Url": url + "/contact-flow"})
        print(f"bot: {url}", flush=True)
        stop = asyncio.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(signum, stop.set)
        await stop.wait()
        for task in list(self.tasks):
            task.cancel()
        await runner.cleanup()
        await self.http.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint", required=True, help="the emulator, http://127.0.0.1:PORT")
    parser.add_argument("--prefix", default="echo: ")
    parser.add_argument("--heartbeat", type=float, default=10.0, help="seconds between heartbeats (default 10)")
    args = parser.parse_args()
    asyncio.run(MinimalBot(args.endpoint, args.prefix, args.heartbeat).run())


if __name__ == "__main__":
    main()
