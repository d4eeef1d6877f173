"""botkit's per-message path in one process, against the least code that does the same, with no network.

    .venv/bin/python benchmarks/hot_path.py                  # CPU µs per message, both paths
    .venv/bin/python benchmarks/hot_path.py --instructions   # instructions per message, under callgrind
    .venv/bin/python benchmarks/hot_path.py --instructions --path botkit+redis --redis redis://127.0.0.1:6379/0

A customer's message arrives as an `aws/chat` frame; the bot decodes it, queues it,
dispatches it to the echo plugin, which sends a reply through a stand-in client; the
reply's own frame comes back and is dropped as the bot's own. The floor does what
benchmarks/baselines/minimal_bot.py does with the same frames: decode twice, answer
customers, skip the rest.

Instruction counts (valgrind's callgrind, counted between a zero and a dump around the
measured messages only) are the same from run to run whatever else the machine does:
the figure to compare code changes by. CPU time is reported too, but swings on a shared
machine.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from botkit.connect.models import SendResult
from botkit.connect.secrets import Secret
from botkit.connect.websocket import _chat_item, _decode
from botkit.plugins import load_plugins, new_plugin_manager
from botkit.runtime.dispatch import Dispatcher
from botkit.runtime.ownership import Ownership
from botkit.runtime.persistence import Keeper
from botkit.runtime.policies import ReceiptSettings
from botkit.runtime.session import Session, SessionSettings
from botkit.store import ContactRecord, MemoryStore, Store
from botkit.store.redis_store import RedisStore

WARM_UP = 2000
ECHO_ID = "bot-reply-XXXXXXXX"


def frame(item_id: str, participant_id: str, role: str, text: str) -> str:
    item = {
        "AbsoluteTime": "2026-11-23T21:00:00.000Z",
        "Content": text,
        "ContentType": "text/plain",
        "Id": item_id,
        "Type": "MESSAGE",
        "ParticipantId": participant_id,
        "DisplayName": role.title(),
        "ParticipantRole": role,
        "InitialContactId": "contact-1",
        "ContactId": "contact-1",
    }
    return json.dumps({"topic": "aws/chat", "contentType": "application/json", "content": json.dumps(item)})


class StandInClient:
    """Answers SendMessage at once and queues the frame the service would echo back."""

    def __init__(self) -> None:
        self.echoes: list[str] = []
        self.answered = 0
        self.target = 0
        self.done: asyncio.Future[None] | None = None
        self._ids = itertools.count()
        self._echo = frame(ECHO_ID, "bot", "CUSTOM_BOT", "echo: hello")

    def expect(self, count: int) -> asyncio.Future[None]:
        self.answered, self.target = 0, count
        self.done = asyncio.get_running_loop().create_future()
        return self.done

    async def send_message(self, token: Any, content: str, content_type: str, *, client_token: str | None = None) -> SendResult:
        reply_id = f"bot-reply-{next(self._ids):08d}"
        self.echoes.append(self._echo.replace(ECHO_ID, reply_id))
        self.answered += 1
        if self.answered == self.target and self.done is not None:
            self.done.set_result(None)
        return SendResult(reply_id, "2026-11-23T21:00:00.001Z")


async def botkit_path(client: StandInClient, keeper: Keeper | None = None) -> Callable[[str], None]:
    manager = new_plugin_manager()
    load_plugins(manager, [str(ROOT / "plugins" / "echo.py")], ROOT, entry_points=False)
    settings = SessionSettings(receipts=ReceiptSettings(enabled=False))
    session = Session("contact-1", Secret("participant"), client, Dispatcher(manager), settings, participant_id="bot", keeper=keeper)  # type: ignore[arg-type]
    session.connected(Secret("connection"))
    session.live()
    asyncio.get_running_loop().create_task(session._consume())

    def receive(raw: str) -> None:
        frame = _decode(raw)
        item = _chat_item(frame) if frame is not None else None
        if item is not None:
            session.feed(item)

    return receive


async def minimal_path(client: StandInClient) -> Callable[[str], None]:
    frames: asyncio.Queue[str] = asyncio.Queue()

    async def consume() -> None:
        while True:
            decoded = json.loads(await frames.get())
            if decoded.get("topic") != "aws/chat":
                continue
            item = json.loads(decoded["content"])
            if item.get("Type") == "MESSAGE" and item.get("ParticipantRole") == "CUSTOMER":
                await client.send_message(None, "echo: " + item.get("Content", ""), "text/plain")

    asyncio.get_running_loop().create_task(consume())
    return frames.put_nowait


async def saving_into(store: Store, client: StandInClient) -> Callable[[str], None]:
    """The botkit path with each event's record encoded and saved into `store` under the contact's lease."""
    ownership = Ownership(store, "worker", on_lost=lambda contact_id: None, info=dict)
    lease = await ownership.acquire("contact-1")
    assert lease is not None
    keeper = Keeper(ownership, ContactRecord("contact-1", Secret("participant"), "bot"), resumed=False)
    return await botkit_path(client, keeper)


@asynccontextmanager
async def botkit_saving_path(client: StandInClient, redis_url: str) -> AsyncIterator[Callable[[str], None]]:
    """As `botkit serve` runs on SQLite or Redis, saving into a MemoryStore: the runtime's and the record's cost
    without the store's I/O. (`store: memory`, the default, saves nothing: that is the `botkit` path.)"""
    yield await saving_into(MemoryStore(3600.0), client)


@asynccontextmanager
async def botkit_redis_path(client: StandInClient, redis_url: str) -> AsyncIterator[Callable[[str], None]]:
    """As `botkit serve` runs on `store: redis://...`: each event saved into a real Redis through RedisStore, under
    a key prefix of this run's own, removed afterwards. Redis's own work (another process) is not counted."""
    store = RedisStore(redis_url, 3600.0, prefix=f"bench:{uuid.uuid4().hex}:")
    try:
        yield await saving_into(store, client)
    finally:
        await store.forget("contact-1")
        await store.close()


@asynccontextmanager
async def plain(path: Callable[[StandInClient], Awaitable[Callable[[str], None]]], client: StandInClient,
                redis_url: str) -> AsyncIterator[Callable[[str], None]]:
    yield await path(client)


PATHS: dict[str, Callable[[StandInClient, str], Any]] = {
    "botkit": lambda client, url: plain(botkit_path, client, url),
    "botkit+saving": botkit_saving_path,
    "botkit+redis": botkit_redis_path,
    "minimal": lambda client, url: plain(minimal_path, client, url),
}
DEFAULT_PATHS = ("botkit", "botkit+saving", "minimal")
"""What a run without --path measures: the ones that need nothing outside this process."""


async def deliver(receive: Callable[[str], None], client: StandInClient, frames: list[str]) -> None:
    """Each customer frame, then the loop's turn, then the echoes of what the bot sent."""
    done = client.expect(len(frames))
    for raw in frames:
        receive(raw)
        await asyncio.sleep(0)
        while client.echoes:
            receive(client.echoes.pop())
    await asyncio.wait_for(done, 60)


class Callgrind:
    """Zero and dump this process's callgrind counters through callgrind_control.

    callgrind_control reaches the process through vgdb, which needs it running, so it is
    started in the background while this process spins.
    """

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir

    def _control(self, option: str) -> None:
        control = subprocess.Popen(
            ["callgrind_control", option, str(os.getpid())], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        while control.poll() is None:
            sum(range(100))
        if control.returncode != 0:
            raise SystemExit(f"callgrind_control {option} failed: {control.stderr.read().decode() if control.stderr else ''}")

    def zero(self) -> None:
        self._control("--zero")

    def dump(self) -> int:
        before = set(self.out_dir.glob("callgrind.out.*"))
        self._control("--dump")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for dump in set(self.out_dir.glob("callgrind.out.*")) - before:
                for line in dump.read_text(errors="replace").splitlines():
                    if line.startswith("summary:"):
                        return int(line.split()[1])
            time.sleep(0.05)
        raise SystemExit("callgrind wrote no dump within 60 s")


async def measure(path: str, messages: int, callgrind: Callgrind | None, redis_url: str) -> dict[str, float]:
    client = StandInClient()
    async with PATHS[path](client, redis_url) as receive:
        frames = [frame(f"customer-{n:08d}", "customer", "CUSTOMER", "hello") for n in range(WARM_UP + messages)]
        await deliver(receive, client, frames[:WARM_UP])
        if callgrind is not None:
            callgrind.zero()
        began = time.process_time()
        await deliver(receive, client, frames[WARM_UP:])
        cpu = time.process_time() - began
    result = {"cpu_us_per_message": round(1e6 * cpu / messages, 1)}
    if callgrind is not None:
        result["instructions_per_message"] = round(callgrind.dump() / messages)
    return result


def under_callgrind(path: str, messages: int, redis_url: str) -> dict[str, float]:
    """Run one path again in a child under callgrind and read back its figures."""
    with tempfile.TemporaryDirectory(prefix="hot-path-") as out:
        child = subprocess.run(
            [
                "valgrind", "--tool=callgrind", f"--callgrind-out-file={out}/callgrind.out",
                sys.executable, __file__, "--path", path, "--messages", str(messages), "--redis", redis_url,
                "--callgrind-child", out,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if child.returncode != 0:
            raise SystemExit(f"{path} under callgrind failed:\n{child.stderr[-2000:]}")
        return json.loads(child.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20_000, help="messages measured, after 2,000 to warm up (default 20,000)")
    parser.add_argument("--instructions", action="store_true", help="count instructions with valgrind's callgrind (slow: use --messages 3000)")
    parser.add_argument("--path", choices=tuple(PATHS), help="one path only")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0", help="the Redis of the botkit+redis path (default: %(default)s)")
    parser.add_argument("--callgrind-child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.callgrind_child:
        print(json.dumps(asyncio.run(measure(args.path, args.messages, Callgrind(args.callgrind_child), args.redis))))
        return
    results: dict[str, dict[str, float]] = {}
    for path in [args.path] if args.path else DEFAULT_PATHS:
        results[path] = (
            under_callgrind(path, args.messages, args.redis)
            if args.instructions
            else asyncio.run(measure(path, args.messages, None, args.redis))
        )
        figures = ", ".join(f"{key.replace('_', ' ')} {value:,}" for key, value in results[path].items())
        print(f"{path:8s} {figures}", flush=True)
    if "botkit" in results and "minimal" in results:
        for key in results["botkit"]:
            print(f"botkit ÷ minimal, {key.replace('_', ' ')}: ×{results['botkit'][key] / results['minimal'][key]:.2f}")


if __name__ == "__main__":
    main()
