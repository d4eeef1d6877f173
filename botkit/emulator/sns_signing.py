"""SNS message signatures: the emulator's own key and self-signed certificate, and SNS's string to sign.

A bot verifies the emulator's messages exactly as it verifies Amazon SNS's
(AWS's documented algorithm): the signature is RSA PKCS#1 v1.5 over the
string to sign, SHA1 for SignatureVersion 1 and SHA256 for 2, checked with the
public key of the certificate at SigningCertURL.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Mapping
from datetime import timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from botkit.emulator.wireformat import utcnow

HASHES: dict[str, type[hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}
"""SignatureVersion to digest, as SNS documents them."""

NOTIFICATION_FIELDS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
CONFIRMATION_FIELDS = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")
"""The signed fields, in SNS's order; Subject is signed only when present."""

MIN_KEY_SIZE = 1024
"""The smallest RSA key `cryptography` makes; tests use it, since a 2048-bit key takes far longer to make."""

CERTIFICATE_LIFETIME = timedelta(days=365)


def string_to_sign(message: Mapping[str, str]) -> bytes:
    """`Name\\nvalue\\n` for each signed field of the message's Type, in order."""
    names = NOTIFICATION_FIELDS if message["Type"] == "Notification" else CONFIRMATION_FIELDS
    return "".join(f"{name}\n{message[name]}\n" for name in names if name in message).encode()


class SnsSigner:
    """Holds the key pair; makes it once, off the event loop, when the first message or the certificate is needed.

    Made lazily because an RSA 2048 key takes a fifth of a second of CPU, and most emulators never stream.
    """

    def __init__(self, key_size: int = 2048, signature_version: str = "1") -> None:
        if signature_version not in HASHES:
            raise ValueError(f"SignatureVersion must be one of {', '.join(HASHES)}, not {signature_version!r}")
        if not isinstance(key_size, int) or key_size < MIN_KEY_SIZE:
            raise ValueError(f"the SNS signing key must have at least {MIN_KEY_SIZE} bits, not {key_size!r}")
        self.key_size = key_size
        self.signature_version = signature_version
        self._key: rsa.RSAPrivateKey | None = None
        self._certificate_pem = b""
        self._making = asyncio.Lock()

    async def ready(self) -> None:
        async with self._making:
            if self._key is None:
                self._key, self._certificate_pem = await asyncio.to_thread(_key_and_certificate, self.key_size)

    async def certificate_pem(self) -> bytes:
        await self.ready()
        return self._certificate_pem

    async def sign(self, message: dict[str, str]) -> None:
        """Adds SignatureVersion and Signature to `message`; SigningCertURL is not signed, so each request adds it."""
        await self.ready()
        assert self._key is not None
        digest = HASHES[self.signature_version]()
        signature = self._key.sign(string_to_sign(message), padding.PKCS1v15(), digest)
        message["SignatureVersion"] = self.signature_version
        message["Signature"] = base64.b64encode(signature).decode()


def _key_and_certificate(key_size: int) -> tuple[rsa.RSAPrivateKey, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "botkit emulator"),
            x509.NameAttribute(NameOID.COMMON_NAME, "sns.botkit-emulator.invalid"),
        ]
    )
    now = utcnow()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + CERTIFICATE_LIFETIME)
        .sign(key, hashes.SHA256())
    )
    return key, certificate.public_bytes(serialization.Encoding.PEM)
