"""App passwords for mail clients: high-entropy secrets checked with a keyed hash.

argon2id costs ~100 ms a check; a mail client that logs in every few minutes on every device
would make that the server's main load. An app password has ~117 bits of entropy, so a keyed
HMAC-SHA256 (key kept outside the database) is as safe to store and costs microseconds.
"""

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from securemail.security.secrets import generate_password

KEY_BYTES = 32
PROTOCOLS = ("imap", "pop3", "smtp")


def generate_app_password() -> str:
    return generate_password(groups=4, group_length=5)


def app_password_hash(key: bytes, password: str) -> str:
    return hmac.new(key, password.strip().encode("utf-8"), hashlib.sha256).hexdigest()


def load_or_create_key(path: Path) -> bytes:
    """The HMAC key: read it, or create it once (mode 0600). Nodes of a cluster share the file."""
    if path.exists():
        key = path.read_bytes()
        if len(key) < KEY_BYTES:
            raise ValueError(f"{path} holds fewer than {KEY_BYTES} bytes")
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(KEY_BYTES)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
    return key
