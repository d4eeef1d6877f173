"""The hijack storm of issue 9, replayed: a customer's own participant token posted to the bot's intake, 50 times.

    python benchmarks/hijack_storm.py [--hijacks 50] [--watch 5]

It starts `botkit emulator` and `botkit serve` (an echo bot) as real processes on free loopback ports,
starts one live chat with a customer, and counts the chat's transcript items and the bot's RSS (VmRSS
of /proc/<pid>/status). Then it fires the hijacks at once: POST /contacts with the CUSTOMER's
ParticipantToken and ParticipantId. It waits for every answer, watches the chat for `--watch` seconds,
and prints the figures before and after and the statuses the hijacks got. Last, the customer speaks
again, to show the chat still works. With --forge-contact-id each hijack names a made-up ContactId:
the old intake keyed sessions by that id, so each one started a session of its own.

A bot that took such a token would speak as the customer: its session echoes the bot, the bot echoes
it, and the chat fills without end. A bot that refuses it answers 409 and the chat does not move.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import aiohttp
import boto3

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from procs import Proc, stop_all  # noqa: E402

ROOT = BENCH.parent
BOTKIT = str(Path(sys.executable).with_name("botkit"))
SAMPLE_EVERY = 0.25


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


class Chat:
    """One customer in a live chat, through boto3 (run in threads) against the emulator."""

    def __init__(self, endpoint: str) -> None:
        options = {
            "endpoint_url": endpoint,
            "region_name": "us-east-1",
            "aws_access_key_id": "AKIDEXAMPLE",
            "aws_secret_access_key": "placeholder-secret",
        }
        self.endpoint = endpoint
        self.connect = boto3.client("connect", **options)
        self.participant = boto3.client("connectparticipant", **options)
        self.contact_id = self.participant_id = self.participant_token = self.connection_token = ""

    async def start(self, http: aiohttp.ClientSession) -> None:
        async with http.get(f"{self.endpoint}/emulator/info") as answer:
            info = await answer.json()
        chat = await asyncio.to_thread(
            lambda: self.connect.start_chat_contact(
                InstanceId=info["instanceId"], ContactFlowId=info["contactFlowId"], ParticipantDetails={"DisplayName": "Ada"}
            )
        )
        self.contact_id, self.participant_id = chat["ContactId"], chat["ParticipantId"]
        self.participant_token = chat["ParticipantToken"]
        connection = await asyncio.to_thread(
            lambda: self.participant.create_participant_connection(
                ParticipantToken=self.participant_token, Type=["CONNECTION_CREDENTIALS"], ConnectParticipant=True
            )
        )
        self.connection_token = connection["ConnectionCredentials"]["ConnectionToken"]

    async def say(self, text: str) -> None:
        await asyncio.to_thread(
            lambda: self.participant.send_message(ConnectionToken=self.connection_token, ContentType="text/plain", Content=text)
        )

    async def until_bot_says(self, text: str, timeout: float = 20) -> None:
        async with asyncio.timeout(timeout):
            while text not in await self.bot_texts():
                await asyncio.sleep(SAMPLE_EVERY)

    async def bot_texts(self) -> list[str]:
        """The bot's messages among the newest 100 items."""
        page = await asyncio.to_thread(
            lambda: self.participant.get_transcript(
                ConnectionToken=self.connection_token, ScanDirection="BACKWARD", SortOrder="DESCENDING", MaxResults=100
            )
        )
        return [i.get("Content", "") for i in page["Transcript"] if i["Type"] == "MESSAGE" and i.get("ParticipantRole") == "CUSTOM_BOT"]

    async def item_count(self, http: aiohttp.ClientSession) -> int:
        async with http.get(f"{self.endpoint}/emulator/contacts/{self.contact_id}") as answer:
            return int((await answer.json())["ItemCount"])


async def storm(bot_url: str, bot_pid: int, endpoint: str, hijacks: int, watch: float, forge_contact_id: bool) -> None:
    async with aiohttp.ClientSession() as http:
        chat = Chat(endpoint)
        await chat.start(http)
        await chat.say("hello")
        await chat.until_bot_says("echo: hello")
        items_before, rss_before = await chat.item_count(http), rss_mb(bot_pid)

        async def hijack(number: int) -> int:
            contact_id = f"forged-{number}" if forge_contact_id else chat.contact_id
            body = {"ContactId": contact_id, "ParticipantToken": chat.participant_token, "ParticipantId": chat.participant_id}
            async with http.post(f"{bot_url}/contacts", json=body) as answer:
                await answer.read()
                return answer.status

        started = time.monotonic()
        statuses = Counter(await asyncio.gather(*(hijack(number) for number in range(hijacks))))
        answered_in = time.monotonic() - started

        most_items, most_rss = items_before, rss_before
        deadline = time.monotonic() + watch
        while time.monotonic() < deadline:
            await asyncio.sleep(SAMPLE_EVERY)
            most_items = max(most_items, await chat.item_count(http))
            most_rss = max(most_rss, rss_mb(bot_pid))
        items_after, rss_after = await chat.item_count(http), rss_mb(bot_pid)

        await chat.say("still there?")
        try:
            await chat.until_bot_says("echo: still there?", timeout=10)
            still_served = "yes"
        except TimeoutError:
            still_served = "NO (no echo within 10 s)"

    contact = "made-up ContactIds" if forge_contact_id else "the chat's ContactId"
    print(f"hijacks: {hijacks} POST /contacts with the customer's ParticipantToken and ParticipantId, {contact}")
    print(f"answered in {answered_in:.2f} s")
    print("statuses: " + ", ".join(f"{status} x{count}" for status, count in sorted(statuses.items())))
    print(f"chat items: {items_before} before, {items_after} after {watch:.0f} s of watching (most seen {most_items})")
    print(f"bot RSS (VmRSS): {rss_before:.1f} MB before, {rss_after:.1f} MB after (most seen {most_rss:.1f} MB)")
    print(f"the customer's chat still served afterwards: {still_served}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hijacks", type=int, default=50, help="POST /contacts requests fired at once (default 50)")
    parser.add_argument("--watch", type=float, default=5.0, help="seconds to watch the chat after the answers (default 5)")
    parser.add_argument(
        "--forge-contact-id",
        action="store_true",
        help="post each hijack under a made-up ContactId (a session key of its own), as the storm of the issue did",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hijack-storm-") as scratch:
        logs = Path(scratch)
        try:
            emulator = Proc("emulator", [BOTKIT, "--log-level", "WARNING", "emulator", "--port", "0"], ready_prefix="emulator:", log_dir=logs)
            endpoint = emulator.start()
            bot_yaml = {
                "connect": {"endpoint": endpoint},
                "server": {"host": "127.0.0.1", "port": 0},
                "plugins": [str(BENCH / "plugins" / "sync_echo.py")],
                "plugin_config": {"sync_echo": {"prefix": "echo: ", "block_ms": 0}},
                "logging": {"level": "WARNING"},
            }
            config_path = logs / "bot.yaml"
            config_path.write_text(json.dumps(bot_yaml))  # JSON is YAML
            bot = Proc("bot", [BOTKIT, "serve", str(config_path)], ready_prefix="bot:", log_dir=logs, cwd=ROOT)
            bot_url = bot.start(timeout=30).split()[0]
            asyncio.run(storm(bot_url, bot.pid, endpoint, args.hijacks, args.watch, args.forge_contact_id))
        finally:
            stop_all()


if __name__ == "__main__":
    main()
