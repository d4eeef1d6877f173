"""SNS signing certificates: fetched once per URL, bounded in time and size, kept in a small LRU cache.

SNS signs every message with one of a handful of certificates, so a cache of a few dozen URLs turns a fetch per
message into a fetch per certificate rotation. Concurrent messages naming one URL share a single fetch: a burst of
notifications after a rotation must not become a burst of requests. Which URLs may be fetched at all is decided
by the caller (botkit.connect.sns) before it asks; this module only fetches what it is given.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

import aiohttp
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from yarl import URL

from botkit.connect.outbound import client_session

CAPACITY = 32
FETCH_TIMEOUT = aiohttp.ClientTimeout(total=5.0)
MAX_CERTIFICATE_BYTES = 64 * 1024
"""A PEM certificate is about 2 KiB; anything near this cap is not one."""


class CertificateUnavailable(Exception):
    """The certificate could not be had just now (time-out, connection error, 5xx or 429): worth a retry later."""


class CertificateRefused(Exception):
    """What came back is not a usable certificate (4xx, redirect, too large, not PEM, not RSA): retrying won't help."""


@dataclass(frozen=True, slots=True)
class SigningCertificate:
    """What verification needs from a certificate, extracted once when it is fetched."""

    public_key: rsa.RSAPublicKey
    not_before: datetime
    not_after: datetime

    def valid_at(self, moment: datetime) -> bool:
        return self.not_before <= moment <= self.not_after


class CertificateStore:
    def __init__(
        self,
        session: aiohttp.ClientSession | None = None,
        *,
        capacity: int = CAPACITY,
        timeout: aiohttp.ClientTimeout = FETCH_TIMEOUT,
        max_bytes: int = MAX_CERTIFICATE_BYTES,
    ) -> None:
        """`session` belongs to the caller; without one, a session honouring proxies and AWS_CA_BUNDLE is made."""
        self._session = session
        self._owns_session = session is None
        self._capacity = capacity
        self._timeout = timeout
        self._max_bytes = max_bytes
        self._cache: OrderedDict[URL, SigningCertificate] = OrderedDict()
        self._pending: dict[URL, asyncio.Task[SigningCertificate]] = {}

    async def get(self, url: URL) -> SigningCertificate:
        """The certificate at `url`, from the cache or from one fetch shared by every caller asking meanwhile."""
        cached = self._cache.get(url)
        if cached is not None:
            self._cache.move_to_end(url)
            return cached
        fetch = self._pending.get(url)
        if fetch is None:
            fetch = asyncio.create_task(self._load(url), name=f"sns-certificate {url.host}")
            fetch.add_done_callback(_observe)
            self._pending[url] = fetch
        # shielded: one caller giving up (its request cancelled) must not cancel the fetch the others wait on
        return await asyncio.shield(fetch)

    async def close(self) -> None:
        """Stop fetches under way and close the session if this store made it."""
        pending = list(self._pending.values())
        for fetch in pending:
            fetch.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    async def _load(self, url: URL) -> SigningCertificate:
        try:
            certificate = _parse(await self._download(url))
        finally:
            self._pending.pop(url, None)  # a failure is not cached: the next message tries again
        self._cache[url] = certificate
        while len(self._cache) > self._capacity:
            self._cache.popitem(last=False)
        return certificate

    async def _download(self, url: URL) -> bytes:
        if self._session is None:
            self._session = client_session()
        try:
            # no redirects: the caller vetted this URL's host, not wherever it might send us
            async with self._session.get(url, allow_redirects=False, timeout=self._timeout) as answer:
                if answer.status >= 500 or answer.status == 429:
                    raise CertificateUnavailable
                if answer.status != 200 or (answer.content_length or 0) > self._max_bytes:
                    raise CertificateRefused
                body = bytearray()
                async for chunk in answer.content.iter_chunked(16 * 1024):
                    body += chunk
                    if len(body) > self._max_bytes:
                        raise CertificateRefused
                return bytes(body)
        except (aiohttp.ClientError, TimeoutError):
            raise CertificateUnavailable from None


def _parse(pem: bytes) -> SigningCertificate:
    try:
        certificate = x509.load_pem_x509_certificate(pem)
        key = certificate.public_key()
    except ValueError:
        raise CertificateRefused from None
    if not isinstance(key, rsa.RSAPublicKey):  # SNS signs with RSA (PKCS#1 v1.5) in both signature versions
        raise CertificateRefused
    return SigningCertificate(key, certificate.not_valid_before_utc, certificate.not_valid_after_utc)


def _observe(fetch: asyncio.Task[SigningCertificate]) -> None:
    """Marks a failed fetch's exception as retrieved, for when every caller waiting on it was cancelled."""
    if not fetch.cancelled():
        fetch.exception()
