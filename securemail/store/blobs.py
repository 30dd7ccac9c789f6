"""Content-addressed blob stores for raw messages: filesystem (default) or database.

Every blob is sealed (security/sealing.py) under the keyring's current key, with its id as the
associated data; a blob stored before sealing is read as it is until `keys rotate` seals it.
The id stays the SHA-256 of the plaintext, so one copy serves many recipients."""

import asyncio
import hashlib
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from securemail.core.errors import NotFound
from securemail.security.sealing import HEADER_BYTES, Keyring, is_sealed, sealed_key_id
from securemail.store.repos.common import insert_ignore
from securemail.store.schema import blob_data

IN_CHUNK = 500  # ids per IN (...) list: under SQLite's and asyncpg's parameter limits
_BLOB_ID = re.compile(r"[0-9a-f]{64}")  # what path_for accepts


def blob_id_for(data: bytes) -> str:
    """The SHA-256 hex digest that names `data`: one copy for many recipients."""
    return hashlib.sha256(data).hexdigest()


class BlobStore(Protocol):
    # True: put() makes the blob durable on its own (files, fsynced), so callers may write it
    # before their transaction; False: it lives in the caller's transaction.
    writes_outside_transaction: bool
    keyring: Keyring  # seals what put() stores, opens what get() reads

    async def put(self, conn: AsyncConnection | None, data: bytes) -> str:
        """Store durably (before the caller's commit) and return the blob id."""

    async def get(self, conn: AsyncConnection, blob_id: str) -> bytes:
        """Return the bytes or raise NotFound."""

    async def get_many(self, conn: AsyncConnection, blob_ids: Sequence[str]) -> dict[str, bytes]:
        """The bytes of every blob of `blob_ids` that exists, in one round trip."""

    async def exists(self, conn: AsyncConnection, blob_id: str) -> bool: ...

    async def key_ids(
        self, conn: AsyncConnection, blob_ids: Sequence[str]
    ) -> dict[str, int | None]:
        """The key each existing blob is sealed under (None: stored before sealing)."""

    async def reseal(self, conn: AsyncConnection, blob_id: str) -> None:
        """Seal the blob again under the keyring's current key (keys rotate)."""


class FilesystemBlobStore:
    """Files under root/ab/cd/<sha256>, written to a temp file, fsynced, renamed, dir fsynced."""

    writes_outside_transaction = True

    def __init__(self, root: Path, keyring: Keyring) -> None:
        self.root = root
        self.keyring = keyring

    def path_for(self, blob_id: str) -> Path:
        if len(blob_id) != 64 or not all(c in "0123456789abcdef" for c in blob_id):
            raise NotFound("no such blob")
        return self.root / blob_id[:2] / blob_id[2:4] / blob_id

    def _write(self, blob_id: str, data: bytes, replace: bool = False) -> None:
        path = self.path_for(blob_id)
        if path.exists() and not replace:
            return
        data = self.keyring.seal(data, blob_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    async def put(self, conn: AsyncConnection | None, data: bytes) -> str:
        blob_id = blob_id_for(data)
        await asyncio.to_thread(self._write, blob_id, data)
        return blob_id

    async def get(self, conn: AsyncConnection, blob_id: str) -> bytes:
        try:
            sealed = await asyncio.to_thread(self.path_for(blob_id).read_bytes)
        except FileNotFoundError:
            raise NotFound("no such blob") from None
        return self.keyring.open(sealed, blob_id)

    def _read_many(self, blob_ids: Sequence[str]) -> dict[str, bytes]:
        """The same files path_for names, with string paths and unbuffered reads: this loop
        runs for every message of a bulk FETCH or POP3 read-ahead."""
        found = {}
        root = os.fspath(self.root)
        valid = _BLOB_ID.fullmatch
        unseal = self.keyring.open
        for blob_id in dict.fromkeys(blob_ids):
            if valid(blob_id) is None:
                continue  # path_for: NotFound
            try:
                with open(
                    f"{root}/{blob_id[:2]}/{blob_id[2:4]}/{blob_id}", "rb", buffering=0
                ) as fh:
                    found[blob_id] = unseal(fh.readall(), blob_id)
            except FileNotFoundError:
                continue
        return found

    async def get_many(self, conn: AsyncConnection, blob_ids: Sequence[str]) -> dict[str, bytes]:
        """One worker-thread hop for the whole batch, not one per file."""
        return await asyncio.to_thread(self._read_many, blob_ids)

    async def exists(self, conn: AsyncConnection, blob_id: str) -> bool:
        return self.path_for(blob_id).exists()

    def _key_ids(self, blob_ids: Sequence[str]) -> dict[str, int | None]:
        found: dict[str, int | None] = {}
        for blob_id in blob_ids:
            try:
                with open(self.path_for(blob_id), "rb") as fh:
                    head = fh.read(HEADER_BYTES)
            except (FileNotFoundError, NotFound):
                continue
            found[blob_id] = sealed_key_id(head) if is_sealed(head) else None
        return found

    async def key_ids(
        self, conn: AsyncConnection, blob_ids: Sequence[str]
    ) -> dict[str, int | None]:
        return await asyncio.to_thread(self._key_ids, blob_ids)

    async def reseal(self, conn: AsyncConnection, blob_id: str) -> None:
        """Seal one blob again under the current key (a new file renamed over the old)."""
        data = await self.get(conn, blob_id)
        await asyncio.to_thread(self._write, blob_id, data, True)


class DatabaseBlobStore:
    """Blobs as rows in the same database, committed in the caller's transaction."""

    writes_outside_transaction = False

    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring

    async def put(self, conn: AsyncConnection | None, data: bytes) -> str:
        blob_id = blob_id_for(data)
        values = {"id": blob_id, "data": self.keyring.seal(data, blob_id)}
        if conn is None:
            raise TypeError("the database blob store writes in the caller's transaction")
        await conn.execute(insert_ignore(conn, blob_data, values))
        return blob_id

    async def get(self, conn: AsyncConnection, blob_id: str) -> bytes:
        data = await conn.scalar(select(blob_data.c.data).where(blob_data.c.id == blob_id))
        if data is None:
            raise NotFound("no such blob")
        return self.keyring.open(bytes(data), blob_id)

    async def get_many(self, conn: AsyncConnection, blob_ids: Sequence[str]) -> dict[str, bytes]:
        wanted = list(dict.fromkeys(blob_ids))
        found: dict[str, bytes] = {}
        for start in range(0, len(wanted), IN_CHUNK):
            chunk = wanted[start : start + IN_CHUNK]
            rows = await conn.execute(
                select(blob_data.c.id, blob_data.c.data).where(blob_data.c.id.in_(chunk))
            )
            found.update((row.id, self.keyring.open(bytes(row.data), row.id)) for row in rows)
        return found

    async def exists(self, conn: AsyncConnection, blob_id: str) -> bool:
        found = await conn.scalar(select(blob_data.c.id).where(blob_data.c.id == blob_id))
        return found is not None

    async def key_ids(
        self, conn: AsyncConnection, blob_ids: Sequence[str]
    ) -> dict[str, int | None]:
        found: dict[str, int | None] = {}
        head = func.substr(blob_data.c.data, 1, HEADER_BYTES)
        for start in range(0, len(blob_ids), IN_CHUNK):
            chunk = list(blob_ids[start : start + IN_CHUNK])
            rows = await conn.execute(select(blob_data.c.id, head).where(blob_data.c.id.in_(chunk)))
            for blob_id, first in rows:
                first = bytes(first)
                found[blob_id] = sealed_key_id(first) if is_sealed(first) else None
        return found

    async def reseal(self, conn: AsyncConnection, blob_id: str) -> None:
        """Seal one blob again under the current key, in the caller's transaction."""
        data = await self.get(conn, blob_id)
        sealed = self.keyring.seal(data, blob_id)
        await conn.execute(update(blob_data).where(blob_data.c.id == blob_id).values(data=sealed))
