"""DKIM signing of outgoing mail (RFC 6376) with dkimpy, and RSA-2048 key generation with the
DNS TXT record (RFC 6376 section 3.6.1) an administrator publishes for it."""

import base64
import contextlib
import re
from collections.abc import Mapping
from dataclasses import dataclass

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from securemail.core.errors import InvalidInput
from securemail.mail import headers
from securemail.store.repos.policy import SigningKey

KEY_BITS = 2048  # RFC 8301 section 3.2: at least 1024, 2048 recommended
TXT_STRING_MAX = 255  # one DNS character-string (RFC 1035 section 3.3.14)
CANONICALIZATION = (b"relaxed", b"relaxed")  # header/body (RFC 6376 section 3.4)
_LINE_END = re.compile(rb"\r\n|\r|\n")


@dataclass(frozen=True, slots=True)
class KeyPair:
    private_pem: str  # PKCS#1 PEM, what dkimpy signs with
    public_b64: str  # base64 DER SubjectPublicKeyInfo: the p= tag


def generate_key() -> KeyPair:
    """A fresh RSA-2048 key pair."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode("ascii")
    public_der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return KeyPair(private_pem, base64.b64encode(public_der).decode("ascii"))


def record_name(selector: str, domain: str) -> str:
    """Where the key is published (RFC 6376 section 3.6.2.1)."""
    return f"{selector}._domainkey.{domain}"


def record_value(public_b64: str) -> str:
    """The TXT record text (RFC 6376 section 3.6.1 tags v, k, p)."""
    return f"v=DKIM1; k=rsa; p={public_b64}"


def record_strings(value: str) -> list[str]:
    """The value cut into DNS character-strings of at most 255 octets, for a zone file."""
    return [value[i : i + TXT_STRING_MAX] for i in range(0, len(value), TXT_STRING_MAX)]


def _domain_of(address: str) -> str:
    return address.rpartition("@")[2].lower()


def choose_key(raw: bytes, sender: str, keys: Mapping[str, SigningKey]) -> SigningKey | None:
    """The key for the From: domain (DMARC alignment, RFC 7489 section 3.1.1), else the
    envelope sender's domain, else None (the message leaves unsigned)."""
    candidates: list[str] = []
    with contextlib.suppress(InvalidInput):
        candidates.extend(_domain_of(a) for a in headers.header_addresses(raw, "From")[:1])
    if sender:
        candidates.append(_domain_of(sender))
    for domain in candidates:
        if domain in keys:
            return keys[domain]
    return None


def sign(raw: bytes, key: SigningKey) -> bytes:
    """`raw` with a DKIM-Signature field on top (rsa-sha256, relaxed/relaxed).

    From and the RFC 5322 singleton fields are signed once more than they occur
    ("oversigned"), so nobody can add a second From: or Subject: without breaking it.
    Line ends become CRLF first, as SMTP will send them (RFC 5321 section 2.3.8), so the
    body hash matches what the receiver sees. Pure-Python RSA costs ~5 ms: call it from a thread.
    """
    raw = _LINE_END.sub(b"\r\n", raw)
    signer = dkim.DKIM(raw, linesep=b"\r\n")
    signer.add_frozen(dkim.DKIM.RFC5322_SINGLETON)
    field = signer.sign(
        key.selector.encode("ascii"),
        key.domain.encode("ascii"),
        key.private_key,
        canonicalize=CANONICALIZATION,
    )
    return bytes(field) + raw
