"""SqliteStore: what one process wrote is there for the next, even when the first was killed."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

from botkit.store import SqliteStore

WRITER = textwrap.dedent(
    """
    import asyncio, os, signal, sys
    from botkit.connect.secrets import Secret
    from botkit.store import ContactRecord, SqliteStore

    async def main() -> None:
        store = SqliteStore(sys.argv[1], lease_seconds=0.5)
        for n in range(3):
            lease = await store.acquire(f"contact-{n}", "worker-old")
            record = ContactRecord(f"contact-{n}", Secret(f"token-{n}"), participant_id=f"participant-{n}")
            for item in range(5):
                record = record.dispatched(f"item-{item}", f"2026-11-23T20:00:0{item}.000Z", {"counter": item})
                await store.save(f"contact-{n}", record, fence=lease.fence)
        await store.heartbeat("worker-old", {"pid": os.getpid()})
        os.kill(os.getpid(), signal.SIGKILL)  # no close, no clean shutdown: as a crash leaves it

    asyncio.run(main())
    """
)


async def test_records_survive_the_process_that_wrote_them_being_killed(tmp_path: Path) -> None:
    path = tmp_path / "sessions.db"
    writer = subprocess.run([sys.executable, "-c", WRITER, str(path)], capture_output=True, timeout=60)
    assert writer.returncode == -9, writer.stderr.decode()

    store = SqliteStore(path, lease_seconds=0.5)
    try:
        assert await store.live_contacts() == ["contact-0", "contact-1", "contact-2"]
        loaded = await store.load("contact-1")
        assert loaded is not None
        assert (loaded.participant_token.reveal(), loaded.participant_id) == ("token-1", "participant-1")
        assert (loaded.last_item_id, loaded.recent_ids[-2:], dict(loaded.state)) == (
            "item-4", ("item-3", "item-4"), {"counter": 4}
        )
        assert (loaded.owner, loaded.fence) == ("worker-old", 1)

        deadline = time.monotonic() + 10
        while sorted(await store.orphans()) != ["contact-0", "contact-1", "contact-2"]:  # its leases run out
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        taken = await store.acquire("contact-1", "worker-new")
        assert taken is not None and taken.fence == 2
    finally:
        await store.close()


async def test_statements_run_on_the_store_thread_not_the_event_loop(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "sessions.db")
    ran_on: list[str] = []
    try:
        await store._run(lambda db: ran_on.append(threading.current_thread().name))
        await store.seen_once("key", 60)
    finally:
        await store.close()
    assert ran_on and ran_on[0].startswith("botkit-sqlite") and ran_on[0] != threading.main_thread().name


async def test_the_file_is_in_wal_mode(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "sessions.db")
    try:
        mode = await store._run(lambda db: db.execute("PRAGMA journal_mode").fetchone()[0])
    finally:
        await store.close()
    assert mode == "wal"


async def test_opening_waits_out_another_process_writing_to_the_file_as_it_turns_to_wal(tmp_path: Path) -> None:
    """Turning a file to WAL meets a writer with an immediate "database is locked", whatever the busy timeout."""
    path = tmp_path / "sessions.db"
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("CREATE TABLE other (n INTEGER)")
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO other VALUES (1)")
    asyncio.get_running_loop().call_later(0.3, writer.execute, "COMMIT")
    store = SqliteStore(path)
    try:
        assert await store.seen_once("key", 60) is True
        mode = await store._run(lambda db: db.execute("PRAGMA journal_mode").fetchone()[0])
    finally:
        await store.close()
        writer.close()
    assert mode == "wal"
