"""Signed, expiring links: a URL that proves who may fetch it without a cookie.

A message body is shown in a sandboxed frame with an opaque origin, so the browser sends no
SameSite cookie with the requests for its inline (cid:) images. Those image URLs carry a
keyed signature over (user, message, part, expiry) instead.
"""

import hashlib
import hmac
import time

DEFAULT_TTL_SECONDS = 600


def _mac(key: bytes, user_id: int, message_id: int, part: int, expires: int) -> str:
    text = f"inline:{user_id}:{message_id}:{part}:{expires}".encode()
    return hmac.new(key, text, hashlib.sha256).hexdigest()[:32]


def sign_part(
    key: bytes, user_id: int, message_id: int, part: int, ttl: int = DEFAULT_TTL_SECONDS
) -> str:
    """A token `<expiry>.<mac>` for one part of one message, for one user."""
    expires = int(time.time()) + ttl
    return f"{expires}.{_mac(key, user_id, message_id, part, expires)}"


def verify_part(key: bytes, token: str, user_id: int, message_id: int, part: int) -> bool:
    expiry, _, mac = token.partition(".")
    if not (expiry.isascii() and expiry.isdigit()) or int(expiry) < time.time():
        return False
    return hmac.compare_digest(mac, _mac(key, user_id, message_id, part, int(expiry)))
