"""SNS message verification: microseconds per message once the certificate is cached, and what signing costs.

    python benchmarks/sns_verify.py [key bits, default 2048]

The certificate is fetched once from a server on 127.0.0.1; every later message is JSON parsing, the string to
sign, and one RSA public-key operation. Signing (the emulator's side) is the private-key operation, far dearer.
Each figure is the best of several rounds, so that other work on the machine inflates it as little as possible.
"""

from __future__ import annotations

import asyncio
import base64
import json
import sys
import time
from datetime import UTC, datetime, timedelta

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from botkit.connect.sns import SnsVerifier, string_to_sign

TOPIC = "arn:aws:sns:us-east-1:123456789012:botkit-chat"
ROUNDS, PER_ROUND = 5, 500
ITEM = json.dumps({"Id": "item-1", "Type": "MESSAGE", "Content": "hello", "ContactId": "contact-1",
                   "AbsoluteTime": "2026-01-01T00:00:00.000Z", "ParticipantRole": "CUSTOMER"})


def _certificate(key: rsa.RSAPrivateKey) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM)


def _signed(key: rsa.RSAPrivateKey, cert_url: str, version: str, n: int) -> bytes:
    fields = {
        "Type": "Notification", "MessageId": f"m-{n}", "TopicArn": TOPIC, "Message": ITEM,
        "Timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "SignatureVersion": version, "SigningCertURL": cert_url,
    }
    algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
    fields["Signature"] = base64.b64encode(key.sign(string_to_sign(fields), padding.PKCS1v15(), algorithm)).decode()
    return json.dumps(fields).encode()


async def main(bits: int) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    pem = _certificate(key)
    app = web.Application()
    app.router.add_get("/cert.pem", lambda request: web.Response(body=pem))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    origin = f"127.0.0.1:{runner.addresses[0][1]}"
    verifier = SnsVerifier(topic_arns=[TOPIC], trusted_cert_hosts=[], plain_http_hosts=[origin])
    try:
        print(f"RSA {bits}")
        for version in ("1", "2"):
            started = time.perf_counter()
            bodies = [_signed(key, f"http://{origin}/cert.pem", version, n) for n in range(PER_ROUND)]
            signing = (time.perf_counter() - started) / PER_ROUND
            await verifier.verify(bodies[0])  # the one certificate fetch
            best = float("inf")
            for _ in range(ROUNDS):
                started = time.perf_counter()
                for body in bodies:
                    await verifier.verify(body)
                best = min(best, (time.perf_counter() - started) / PER_ROUND)
            print(f"  SignatureVersion {version}: verify {best * 1e6:7.1f} us/message ({1 / best:8.0f}/s per core), "
                  f"sign {signing * 1e6:7.1f} us/message ({1 / signing:6.0f}/s per core)")
    finally:
        await verifier.close()
        await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 2048))
