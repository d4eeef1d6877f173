"""The browser pages: `/chat`, a website's chat widget for a customer, and `/agent`, for an agent or a supervisor.

Both are static files with dependency-free JavaScript. The chat page's one backend call is StartChatContact, as a
website's backend would make it; everything after it is the Participant Service and its websocket.
"""

from __future__ import annotations

import html
from importlib.resources import files

from aiohttp import web

from botkit.emulator.config import EmulatorConfig

STATIC_PREFIX = "/static/botkit/"
_STATIC = files("botkit.emulator") / "static"
_TYPES = {".css": "text/css", ".js": "text/javascript", ".html": "text/html"}
_HEADERS = {
    # Nothing inline runs: even a message that slipped past the renderer's escaping could not execute a script.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; "
        "connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
    "Referrer-Policy": "no-referrer",
}


class Pages:
    def __init__(self, config: EmulatorConfig) -> None:
        self._config = config
        self._assets = {entry.name: entry for entry in _STATIC.iterdir() if entry.name.endswith((".css", ".js"))}

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/chat", self.chat),
            web.get("/agent", self.agent),
            web.get(STATIC_PREFIX + "{name}", self.asset),
        ]

    async def chat(self, request: web.Request) -> web.Response:
        """The instance and flow ids are the website backend's settings, filled in here as its template would."""
        page = (_STATIC / "chat.html").read_text(encoding="utf-8")
        page = page.replace("{{instance_id}}", html.escape(self._config.instance_id))
        page = page.replace("{{contact_flow_id}}", html.escape(self._config.contact_flow_id))
        return _page(page)

    async def agent(self, request: web.Request) -> web.Response:
        return _page((_STATIC / "agent.html").read_text(encoding="utf-8"))

    async def asset(self, request: web.Request) -> web.Response:
        entry = self._assets.get(request.match_info["name"])
        if entry is None:
            raise web.HTTPNotFound()
        suffix = entry.name[entry.name.rindex(".") :]
        return web.Response(body=entry.read_bytes(), content_type=_TYPES[suffix], charset="utf-8", headers=_HEADERS)


def _page(text: str) -> web.Response:
    return web.Response(text=text, content_type="text/html", charset="utf-8", headers=_HEADERS)
