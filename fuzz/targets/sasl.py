"""Fuzz target: SASL PLAIN and LOGIN responses (base64, NUL-separated UTF-8 fields)."""

from __future__ import annotations

from fuzz.harness import Harness, tolerate
from securemail.wire.sasl import (
    MAX_SASL_BYTES,
    SaslError,
    decode_base64,
    decode_plain,
    decode_text,
    encode_challenge,
)


def _decodes(text: str) -> None:
    """A PLAIN response yields three NUL-free fields and a non-empty authcid, or SaslError."""
    credentials = tolerate((SaslError,), decode_plain, text)
    if credentials is not None:
        assert credentials.authcid, credentials
        fields = (credentials.authzid, credentials.authcid, credentials.password)
        assert all("\0" not in f for f in fields), credentials
    tolerate((SaslError,), decode_text, text)


def check(data: bytes) -> None:
    _decodes(data.decode("ascii", "replace"))  # as the SMTP session reads a line
    _decodes(data.decode("utf-8", "replace"))
    raw = data[: MAX_SASL_BYTES // 2]
    assert decode_base64(encode_challenge(raw)) == raw


HARNESS = Harness(
    name="sasl",
    check=check,
    expected=(SaslError,),
    tokens=(b"=", b"==", b"AGJvYgBzZWNyZXQ=", b"\0", b" ", b"\r\n", b"*", b"+", b"/"),
)
