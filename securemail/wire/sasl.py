"""SASL mechanisms for SMTP AUTH, POP3 AUTH and IMAP AUTHENTICATE: PLAIN (RFC 4616) and the
LOGIN mechanism (draft-murchison-sasl-login), decoding only.

    message   = [authzid] UTF8NUL authcid UTF8NUL passwd      ; RFC 4616 section 2
"""

import base64
import binascii
from dataclasses import dataclass

MAX_SASL_BYTES = 12288  # RFC 4954 section 4: AUTH lines up to 12288 octets
LOGIN_USERNAME_PROMPT = base64.b64encode(b"Username:").decode()
LOGIN_PASSWORD_PROMPT = base64.b64encode(b"Password:").decode()


class SaslError(ValueError):
    """The client's response cannot be decoded."""


@dataclass(frozen=True, slots=True)
class Credentials:
    authzid: str
    authcid: str
    password: str


def decode_base64(text: str) -> bytes:
    """Strict base64 of one client response; `=` alone is the empty response (RFC 4954 4)."""
    if len(text) > MAX_SASL_BYTES:
        raise SaslError("response too long")
    if text.strip() == "=":
        return b""
    try:
        return base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise SaslError("response is not valid base64") from None


def _utf8(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise SaslError("credentials are not UTF-8") from None


def decode_plain(response: str) -> Credentials:
    """Decode a PLAIN response into its three fields."""
    parts = decode_base64(response).split(b"\0")
    if len(parts) != 3 or not parts[1]:
        raise SaslError("malformed PLAIN response")
    authzid, authcid, password = (_utf8(p) for p in parts)
    return Credentials(authzid, authcid, password)


def decode_text(response: str) -> str:
    """One base64 field of the LOGIN mechanism."""
    return _utf8(decode_base64(response))


def encode_challenge(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
