"""Sealing of data at rest: AES-256-GCM under numbered keys, and keyed tokens for the index.

A sealed value is `MAGIC | key id (4 bytes, big-endian) | nonce (12) | ciphertext | tag (16)`.
The caller's `context` (a blob id, "totp:<user id>") is the associated data: a sealed value
moved to another row or file no longer opens. Keys are numbered; the highest seals, every one
opens, so `securemail keys rotate` can add a key and re-seal while nodes keep serving.

The index key is separate and never rotates with the data keys: it names the keyed tokens of
the full-text index (BLAKE2b keyed, 64 bits), and changing it means rebuilding the index.
"""

import base64
import contextlib
import hashlib
import logging
import os
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"\x00SMSEAL1"  # no message starts with a NUL: an unsealed blob is never mistaken
TEXT_PREFIX = "sealed1:"  # sealed text columns: TEXT_PREFIX + urlsafe base64 of a sealed value
KEY_BYTES = 32
NONCE_BYTES = 12
HEADER_BYTES = len(MAGIC) + 4 + NONCE_BYTES
RELOAD_SECONDS = 2.0  # how often a keyring looks at its file for a key added by a rotation
_TOKEN_CACHE_MAX = 200_000

log = logging.getLogger(__name__)


class KeyringError(ValueError):
    """The key file or variable is missing, malformed, or lacks the key a value was sealed with."""


@dataclass
class _Keys:
    index: bytes
    data: dict[int, bytes]
    staged: set[int] = field(default_factory=set)  # open, do not seal yet (`keys stage`)
    ciphers: dict[int, AESGCM] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not set(self.data) - self.staged:
            raise KeyringError("the keyring holds no data key that seals")
        self.ciphers = {kid: AESGCM(key) for kid, key in self.data.items()}

    @property
    def current(self) -> int:
        return max(set(self.data) - self.staged)


def parse_keyring(text: str, where: str) -> _Keys:
    """Read `index <base64>` and `key <id> <base64> [staged]` lines (`#` comments)."""
    index: bytes | None = None
    data: dict[int, bytes] = {}
    staged: set[int] = set()
    lines = [part for line in text.splitlines() for part in line.split("#", 1)[0].split(";")]
    for number, line in enumerate(lines, 1):
        words = line.split()
        if not words:
            continue
        try:
            if words[0] == "index" and len(words) == 2:
                index = _key_bytes(words[1])
            elif words[0] == "key" and len(words) in (3, 4) and words[1].isascii():
                data[int(words[1])] = _key_bytes(words[2])
                if words[3:] == ["staged"]:
                    staged.add(int(words[1]))
                elif words[3:]:
                    raise ValueError("a key line ends with its key, or 'staged'")
            else:
                raise ValueError("expected 'index KEY' or 'key ID KEY'")
        except ValueError as exc:
            raise KeyringError(f"{where}, line {number}: {exc}") from None
    if index is None:
        raise KeyringError(f"{where}: no 'index' key")
    return _Keys(index=index, data=data, staged=staged)


def _key_bytes(text: str) -> bytes:
    raw = base64.urlsafe_b64decode(text.encode("ascii"))
    if len(raw) != KEY_BYTES:
        raise ValueError(f"a key is {KEY_BYTES} bytes of base64, this one {len(raw)}")
    return raw


def _encode(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).decode("ascii")


def render_keyring(index: bytes, data: dict[int, bytes], staged: set[int] | None = None) -> str:
    lines = [
        "# securemail data keys. Without this file the mail in the store cannot be read:",
        "# keep a copy apart from the data directory and its backups. The highest key that",
        "# is not 'staged' seals, and every key opens.",
        f"index {_encode(index)}",
    ]
    lines += [
        f"key {kid} {_encode(key)}" + (" staged" if kid in (staged or set()) else "")
        for kid, key in sorted(data.items())
    ]
    return "\n".join(lines) + "\n"


def _temp_copy(path: Path, text: str) -> Path:
    """`text` in a new, fsynced, owner-only (0600) file beside `path`; its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def write_private(path: Path, text: str) -> None:
    """Replace `path` atomically with a file only its owner reads (mode 0600)."""
    tmp = _temp_copy(path, text)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class Keyring:
    """The keys of one deployment, from a file (re-read when a rotation changes it) or text."""

    def __init__(self, keys: _Keys, path: Path | None = None) -> None:
        self._keys = keys
        self.path = path
        self._mtime = path.stat().st_mtime_ns if path is not None else 0
        self._checked = time.monotonic()
        self._lock = threading.Lock()
        self._tokens: dict[str, str] = {}

    @classmethod
    def from_text(cls, text: str) -> "Keyring":
        return cls(parse_keyring(text, "the keyring variable"))

    @classmethod
    def load(cls, path: Path, create: bool = True) -> "Keyring":
        """Read the key file; create it with fresh keys if it does not exist and `create`."""
        if not path.exists():
            if not create:
                raise KeyringError(f"no key file at {path}")
            data = {1: secrets.token_bytes(KEY_BYTES)}
            with contextlib.suppress(FileExistsError):  # another process won: use theirs
                _create_exclusive(path, render_keyring(secrets.token_bytes(KEY_BYTES), data))
        return cls(parse_keyring(path.read_text(encoding="ascii"), str(path)), path)

    @property
    def current_id(self) -> int:
        self._maybe_reload()
        return self._keys.current

    @property
    def key_ids(self) -> list[int]:
        return sorted(self._keys.data)

    def rotate(self, stage: bool = False) -> int:
        """Make a new key the sealing one and return its id: a staged key if there is one,
        else a new key. With `stage`, add a new key that only opens, to copy to every node
        before it seals (then rotate again). The file must be writable."""
        if self.path is None:
            raise KeyringError("keys given by variable: add a key there and restart instead")
        self.reload()
        keys = self._keys
        if keys.staged and not stage:
            new_id, data = max(keys.staged), dict(keys.data)
            staged = keys.staged - {new_id}
        else:
            new_id = max(keys.data) + 1
            data = {**keys.data, new_id: secrets.token_bytes(KEY_BYTES)}
            staged = keys.staged | ({new_id} if stage else set())
        write_private(self.path, render_keyring(keys.index, data, staged))
        self.reload()
        return new_id

    def reload(self) -> None:
        if self.path is None:
            return
        with self._lock:
            text = self.path.read_text(encoding="ascii")
            keys = parse_keyring(text, str(self.path))
            if keys.index != self._keys.index:
                raise KeyringError(f"{self.path}: the index key changed; the index needs it")
            self._keys = keys
            self._mtime = self.path.stat().st_mtime_ns
            self._checked = time.monotonic()

    def _maybe_reload(self) -> None:
        if self.path is None or time.monotonic() - self._checked < RELOAD_SECONDS:
            return
        self._checked = time.monotonic()
        try:
            changed = self.path.stat().st_mtime_ns != self._mtime
        except OSError:
            return  # keep the keys we have; opening will say if one is missing
        if not changed:
            return
        try:
            self.reload()
        except (KeyringError, OSError, UnicodeDecodeError) as exc:
            # An operator's half-made edit must not stop sealing: keep the keys in hand,
            # say so, and try again when the file changes next.
            self._mtime = self.path.stat().st_mtime_ns if self.path.exists() else self._mtime
            log.error("key file not reloaded, keeping the keys in use: %s", exc)

    # -- sealing ---------------------------------------------------------------------------

    def seal(self, data: bytes, context: str) -> bytes:
        kid = self.current_id
        nonce = os.urandom(NONCE_BYTES)
        head = MAGIC + kid.to_bytes(4, "big") + nonce
        return head + self._keys.ciphers[kid].encrypt(nonce, data, context.encode("utf-8"))

    def open(self, sealed: bytes, context: str) -> bytes:
        """The plaintext of a sealed value; an unsealed one (stored before sealing) as it is."""
        if not is_sealed(sealed):
            return sealed
        kid = sealed_key_id(sealed)
        cipher = self._cipher(kid)
        nonce = sealed[len(MAGIC) + 4 : HEADER_BYTES]
        try:
            return cipher.decrypt(nonce, sealed[HEADER_BYTES:], context.encode("utf-8"))
        except InvalidTag:
            raise KeyringError(
                f"{context} (sealed under key {kid}) failed its check: damaged, or sealed by "
                "other keys"
            ) from None

    def _cipher(self, kid: int) -> AESGCM:
        cipher = self._keys.ciphers.get(kid)
        if cipher is None:  # sealed by a node that has seen a newer key file than we have
            self.reload()
            cipher = self._keys.ciphers.get(kid)
        if cipher is None:
            raise KeyringError(f"a value is sealed under key {kid}, which the keyring lacks")
        return cipher

    def seal_text(self, value: str, context: str) -> str:
        sealed = self.seal(value.encode("utf-8"), context)
        return TEXT_PREFIX + base64.urlsafe_b64encode(sealed).decode("ascii")

    def open_text(self, value: str, context: str) -> str:
        if not value.startswith(TEXT_PREFIX):
            return value  # stored before sealing
        sealed = base64.urlsafe_b64decode(value[len(TEXT_PREFIX) :].encode("ascii"))
        return self.open(sealed, context).decode("utf-8")

    # -- index tokens ----------------------------------------------------------------------

    def token(self, word: str) -> str:
        """The index's name for `word`: 16 hex digits that say nothing without the index key."""
        found = self._tokens.get(word)
        if found is None:
            digest = hashlib.blake2b(word.encode("utf-8"), digest_size=8, key=self._keys.index)
            found = digest.hexdigest()
            if len(self._tokens) >= _TOKEN_CACHE_MAX:
                self._tokens.clear()
            self._tokens[word] = found
        return found

    def tokens(self, words: Iterable[str]) -> list[str]:
        return [self.token(w) for w in words]


def is_sealed(value: bytes) -> bool:
    return value[: len(MAGIC)] == MAGIC


def sealed_key_id(value: bytes) -> int:
    return int.from_bytes(value[len(MAGIC) : len(MAGIC) + 4], "big")


def text_key_id(value: str) -> int | None:
    """The key id of a sealed text value; None for one stored before sealing."""
    if not value.startswith(TEXT_PREFIX):
        return None
    return sealed_key_id(base64.urlsafe_b64decode(value[len(TEXT_PREFIX) :].encode("ascii")))


def _create_exclusive(path: Path, text: str) -> None:
    """Write `text` to `path` unless it exists (FileExistsError): a temporary file linked into
    place, so a process that loses the race never reads a half-written file."""
    tmp = _temp_copy(path, text)
    try:
        os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
