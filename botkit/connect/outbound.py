"""How the bot's connections to Amazon Connect leave the host: through the proxy the environment names, trusting the
certificate authorities AWS_CA_BUNDLE names, as the AWS CLI and SDKs do.

Corporate networks often reach AWS only through an HTTPS proxy that re-signs TLS with a private CA; a bot that
ignored HTTPS_PROXY/NO_PROXY or AWS_CA_BUNDLE would fail there where the AWS CLI works.
"""

from __future__ import annotations

import functools
import os
import ssl
from typing import Any

import aiohttp

CA_BUNDLE_VARIABLE = "AWS_CA_BUNDLE"


def ssl_context() -> ssl.SSLContext | None:
    """The context trusting AWS_CA_BUNDLE's authorities (and only them, as botocore does), or None when it is unset."""
    bundle = os.environ.get(CA_BUNDLE_VARIABLE, "").strip()
    return _context_for(bundle) if bundle else None


@functools.cache
def _context_for(bundle: str) -> ssl.SSLContext:
    """Loaded once per path: reading a bundle takes milliseconds, and every websocket opens with it."""
    return ssl.create_default_context(cafile=bundle)


def client_session(**options: Any) -> aiohttp.ClientSession:
    """An aiohttp session toward Amazon Connect: environment proxies honoured, AWS_CA_BUNDLE trusted."""
    context = ssl_context()
    connector = aiohttp.TCPConnector(ssl=context if context is not None else True)
    return aiohttp.ClientSession(connector=connector, trust_env=True, **options)


def websocket_options(url: str) -> dict[str, Any]:
    """What `websockets.connect` needs for AWS_CA_BUNDLE: an `ssl` context for wss:// (ws:// refuses one)."""
    context = ssl_context()
    return {"ssl": context} if context is not None and url.lower().startswith("wss://") else {}
