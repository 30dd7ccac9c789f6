"""Fixtures for message authentication: a real RSA key, dkimpy signing, DNS from a table."""

import base64
from collections.abc import Iterable
from dataclasses import dataclass, field

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from securemail.net.dns import DnsError, MxRecord, StaticResolver

AUTHSERV_ID = "mx.securemail.test"


@dataclass(frozen=True)
class SigningKey:
    private_pem: bytes
    public_b64: str

    @property
    def dns_record(self) -> str:
        return f"v=DKIM1; k=rsa; p={self.public_b64}"

    def sign(self, message: bytes, domain: str, selector: str = "sel", **kwargs: object) -> bytes:
        """`message` with a real DKIM-Signature field on top (RFC 6376 section 5)."""
        signature = dkim.sign(
            message, selector.encode(), domain.encode(), self.private_pem, **kwargs
        )
        return bytes(signature) + message


def make_key(bits: int = 2048) -> SigningKey:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return SigningKey(pem, base64.b64encode(der).decode("ascii"))


@pytest.fixture(scope="session")
def key() -> SigningKey:
    return make_key()


@pytest.fixture(scope="session")
def other_key() -> SigningKey:
    return make_key()


@dataclass
class FlakyResolver:
    """A StaticResolver whose look-ups of some names fail as a SERVFAIL or timeout would."""

    table: StaticResolver
    failing: set[str] = field(default_factory=set)
    asked: list[str] = field(default_factory=list)

    def _check(self, name: str) -> None:
        self.asked.append(name)
        if name.rstrip(".").lower() in self.failing:
            raise DnsError(f"SERVFAIL {name}")

    async def mx(self, domain: str) -> list[MxRecord]:
        self._check(domain)
        return await self.table.mx(domain)

    async def txt(self, name: str) -> list[str]:
        self._check(name)
        return await self.table.txt(name)

    async def address(self, host: str) -> list[str]:
        self._check(host)
        return await self.table.address(host)


def message(
    from_: str = "Alice <alice@example.com>",
    *,
    extra: Iterable[str] = (),
    body: str = "Hello Bob,\r\nthe report is attached.\r\n",
) -> bytes:
    """A small CRLF message; `from_` is the From field's value."""
    lines = [f"From: {from_}", "To: bob@securemail.test", "Subject: Quarterly report"]
    lines += list(extra)
    lines += ["Date: Thu, 26 Nov 2026 10:00:00 +0000", "Message-ID: <1@example.com>"]
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode("utf-8")
