"""`botkit status bot.yaml`: what the store says of the workers sharing it, for an operator.

It lists the workers alive (their last heartbeat), the contacts each owns (live leases), and the orphans (live
contacts nobody owns: their worker died or departed, and no worker has taken them up yet). Contact ids and worker
ids only: a record's participant token is never read out.
"""

from __future__ import annotations

import time
from collections import defaultdict

from botkit.store import Store, StoreSettings, without_password


async def status_lines(store: Store, settings: StoreSettings) -> list[str]:
    workers = await store.workers()
    leases = await store.leases()
    orphans = sorted(await store.orphans())
    owned: dict[str, list[str]] = defaultdict(list)
    for lease in leases:
        owned[lease.worker_id].append(lease.contact_id)
    now = time.time()
    lines = [f"store: {without_password(settings.url)} (lease {settings.lease_seconds:g} s)"]
    alive = {worker.worker_id for worker in workers}
    lines.append(f"workers: {len(workers)}")
    for worker in sorted(workers, key=lambda w: w.worker_id):
        contacts = sorted(owned.get(worker.worker_id, []))
        url = worker.info.get("url")
        where = f", {url}" if url else ""
        lines.append(
            f"  {worker.worker_id}: {len(contacts)} contact(s), last seen {max(0.0, now - worker.seen):.1f} s ago{where}"
        )
        lines.extend(f"    {contact}" for contact in contacts)
    gone = sorted(w for w in owned if w not in alive)
    for worker_id in gone:  # leases still live, their worker's heartbeat not: it is dying or paused
        lines.append(f"  {worker_id} (no heartbeat): {len(owned[worker_id])} contact(s)")
        lines.extend(f"    {contact}" for contact in sorted(owned[worker_id]))
    lines.append(f"orphans: {len(orphans)}")
    lines.extend(f"  {contact}" for contact in orphans)
    return lines
