"""How many contacts with a bot's websocket one emulator process holds, and what each costs.

    .venv/bin/python benchmarks/emulator_scale.py --contacts 10000

Starts `botkit emulator` in its own process, opens N chats, joins each with a
custom bot (CreateParticipant, CreateParticipantConnection, a subscribed
websocket), then checks that a message still reaches its bot and reads the
emulator's RSS. Prints a table and writes JSON to benchmarks/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import websockets

from botkit.oslimits import raise_open_files_limit

RESULTS = Path(__file__).parent / "results"
SUBSCRIBE = json.dumps({"topic": "aws/subscribe", "content": {"topics": ["aws/chat"]}})


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def join_one(http: aiohttp.ClientSession, base: str, info: dict[str, Any]) -> tuple[Any, str, str]:
    async with http.put(
        f"{base}/contact/chat",
        json={"InstanceId": info["instanceId"], "ContactFlowId": info["contactFlowId"], "ParticipantDetails": {"DisplayName": "c"}},
    ) as answer:
        chat = await answer.json()
    async with http.post(
        f"{base}/contact/create-participant",
        json={
            "InstanceId": info["instanceId"],
            "ContactId": chat["ContactId"],
            "ParticipantDetails": {"ParticipantRole": "CUSTOM_BOT", "DisplayName": "bot"},
        },
    ) as answer:
        bot = await answer.json()
    async with http.post(
        f"{base}/participant/connection",
        headers={"X-Amz-Bearer": bot["ParticipantCredentials"]["ParticipantToken"]},
        json={"Type": ["WEBSOCKET"], "ConnectParticipant": True},
    ) as answer:
        url = (await answer.json())["Websocket"]["Url"]
    socket = await websockets.connect(url, compression=None, ping_interval=None, max_queue=16)
    await socket.send(SUBSCRIBE)
    await socket.recv()
    async with http.post(
        f"{base}/participant/connection",
        headers={"X-Amz-Bearer": chat["ParticipantToken"]},
        json={"Type": ["CONNECTION_CREDENTIALS"]},
    ) as answer:
        customer_token = (await answer.json())["ConnectionCredentials"]["ConnectionToken"]
    return socket, customer_token, chat["ContactId"]


async def measure(contacts: int, concurrency: int) -> dict[str, Any]:
    raise_open_files_limit()
    emulator = subprocess.Popen(
        [sys.executable, "-m", "botkit", "emulator", "--port", "0"], stdout=subprocess.PIPE, text=True
    )
    try:
        base = emulator.stdout.readline().split()[-1]
        baseline = rss_kib(emulator.pid)
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(connector=connector) as http:
            async with http.get(f"{base}/emulator/info") as answer:
                info = await answer.json()
            gate = asyncio.Semaphore(concurrency)

            async def bounded() -> tuple[Any, str, str]:
                async with gate:
                    return await join_one(http, base, info)

            started = time.perf_counter()
            joined = await asyncio.gather(*(bounded() for _ in range(contacts)))
            setup_seconds = time.perf_counter() - started
            held = rss_kib(emulator.pid)
            socket, customer_token, _ = joined[-1]
            sent = time.perf_counter()
            async with http.post(
                f"{base}/participant/message",
                headers={"X-Amz-Bearer": customer_token},
                json={"ContentType": "text/plain", "Content": "still there?"},
            ) as answer:
                assert answer.status == 200, await answer.text()
            while True:
                frame = json.loads(await asyncio.wait_for(socket.recv(), 10))
                if "still there?" in frame.get("content", ""):
                    break
            fan_out_ms = (time.perf_counter() - sent) * 1000
            async with http.get(f"{base}/emulator/contacts?active=true") as answer:
                active = len((await answer.json())["Contacts"])
            for socket, _, _ in joined:
                await socket.close()
        return {
            "contacts": contacts,
            "active_contacts": active,
            "bot_websockets": len(joined),
            "setup_seconds": round(setup_seconds, 2),
            "emulator_rss_kib_idle": baseline,
            "emulator_rss_kib_held": held,
            "kib_per_contact": round((held - baseline) / contacts, 2),
            "message_round_trip_ms": round(fan_out_ms, 2),
            "open_files_limit": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
        }
    finally:
        emulator.terminate()
        emulator.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=200)
    args = parser.parse_args()
    result = asyncio.run(measure(args.contacts, args.concurrency))
    width = max(len(key) for key in result)
    for key, value in result.items():
        print(f"{key:<{width}}  {value}")
    RESULTS.mkdir(exist_ok=True)
    target = RESULTS / f"emulator_scale_{args.contacts}_{os.getpid()}.json"
    target.write_text(json.dumps(result, indent=2))
    print(f"written: {target}")


if __name__ == "__main__":
    main()
