"""How the bot's connections to Amazon Connect leave the host: through the proxy the environment names, trusting the
certificate authorities AWS_CA_BUNDLE names, as the AWS CLI and SDKs do.

The proxy for an endpoint is looked up once, as its session is made: aiohttp's `trust_env` would read the
environment and ~/.netrc in a worker thread on every request, two thread hops on the bot's hottest calls.

Corporate networks often reach AWS only through an HTTPS proxy that re-signs TLS with a private CA; a bot that
ignored HTTPS_PROXY/NO_PROXY or AWS_CA_BUNDLE would fail there where the AWS CLI works.
"""

from __future__ import annotations

import functools
import os
import ssl
from typing import Any

import aiohttp
from aiohttp.helpers import get_env_proxy_for_url
from yarl import URL

CA_BUNDLE_VARIABLE = "AWS_CA_BUNDLE"


def ssl_context() -> ssl.SSLContext | None:
    """The context trusting AWS_CA_BUNDLE's authorities (and only them, as botocore does), or None when it is unset."""
    bundle = os.environ.get(CA_BUNDLE_VARIABLE, "").strip()
    return _context_for(bundle) if bundle else None


@functools.cache
def _context_for(bundle: str) -> ssl.SSLContext:
    """Loaded once per path: reading a bundle takes milliseconds, and every websocket opens with it."""
    return ssl.create_default_context(cafile=bundle)


def client_session(endpoint: str | None = None, **options: Any) -> aiohttp.ClientSession:
    """An aiohttp session toward Amazon Connect: environment proxies honoured, AWS_CA_BUNDLE trusted.

    A session for one `endpoint` takes its proxy (HTTP(S)_PROXY, NO_PROXY, the proxy's ~/.netrc login) once, here;
    one for several hosts, used rarely (certificates, the emulator's webhooks), looks it up on each request.
    """
    context = ssl_context()
    connector = aiohttp.TCPConnector(ssl=context if context is not None else True)
    if endpoint is None:
        return aiohttp.ClientSession(connector=connector, trust_env=True, **options)
    proxy, proxy_auth = environment_proxy(endpoint)
    return aiohttp.ClientSession(connector=connector, proxy=proxy, proxy_auth=proxy_auth, **options)


def environment_proxy(url: str) -> tuple[URL | None, aiohttp.BasicAuth | None]:
    """The proxy the environment names for `url` and its login, as aiohttp's trust_env finds them; None if direct."""
    try:
        return get_env_proxy_for_url(URL(url))
    except LookupError:
        return None, None


def websocket_options(url: str) -> dict[str, Any]:
    """What `websockets.connect` needs for AWS_CA_BUNDLE: an `ssl` context for wss:// (ws:// refuses one)."""
    context = ssl_context()
    return {"ssl": context} if context is not None and url.lower().startswith("wss://") else {}
