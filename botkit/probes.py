"""The probes of `botkit serve`, for an orchestrator: is the process alive, and may it be sent contacts?

- `GET /livez`: 200 while the event loop runs (a blocked loop cannot answer at all), with its lag.
- `GET /readyz`: 200 only when contacts can be taken; else 503 naming the conditions that fail.
- `GET /healthz`: the same as `/readyz`, for what was set up before the two were told apart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from botkit.runtime.watchdog import LoopWatchdog

LIVE_PATH = "/livez"
READY_PATH = "/readyz"
HEALTH_PATH = "/healthz"


@dataclass(slots=True)
class Readiness:
    """Each condition for taking contacts: the bot sets the first two, its Connect monitor the others."""

    accepting: bool = False
    """Started, and not shutting down."""
    server: bool = False
    """The intake server listens."""
    connect: bool = False
    """Amazon Connect or the emulator answered the last check (any HTTP answer, even an error)."""
    webhook: bool | None = None
    """The emulator has the bot's webhook; None where there is no webhook to have."""

    def checks(self) -> dict[str, bool]:
        conditions = {"accepting": self.accepting, "server": self.server, "connect": self.connect}
        if self.webhook is not None:
            conditions["webhook"] = self.webhook
        return conditions

    def ready(self) -> bool:
        return all(self.checks().values())


def add_probe_routes(
    app: web.Application, readiness: Readiness, watchdog: LoopWatchdog, sessions: Callable[[], int]
) -> None:
    async def live(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "status": "ok",
                "loop_lag_seconds": round(watchdog.lag, 3),
                "last_stall_seconds": round(watchdog.last_stall_seconds, 3),
                "stalls": watchdog.stalls,
            }
        )

    async def ready(request: web.Request) -> web.Response:
        checks = readiness.checks()
        if all(checks.values()):
            return web.json_response({"status": "ready", "checks": checks, "sessions": sessions()})
        failing = [name for name, passed in checks.items() if not passed]
        return web.json_response(
            {"status": "not ready", "failing": failing, "checks": checks}, status=503, headers={"Retry-After": "1"}
        )

    app.router.add_get(LIVE_PATH, live)
    app.router.add_get(READY_PATH, ready)
    app.router.add_get(HEALTH_PATH, ready)
