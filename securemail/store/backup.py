"""An online backup: one read snapshot of the store, the blobs it names and a manifest."""

import asyncio
import contextlib
import hashlib
import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Table, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from securemail.core.errors import Conflict, InvalidInput
from securemail.security.sealing import Keyring
from securemail.store.backup_format import (
    KEY_FILE,
    MANIFEST,
    PARTIAL,
    SEARCH_COLUMNS,
    SEARCH_FILE,
    Manifest,
    blob_id_ok,
    blob_path,
    encode_row,
    table_file,
)
from securemail.store.blobs import IN_CHUNK, BlobStore, blob_id_for
from securemail.store.db import Database
from securemail.store.repos import audit as audit_repo
from securemail.store.transfer import (
    FTS_SOURCE,
    SEARCH_INDEX,
    Progress,
    batches,
    blob_batches,
    check_source,
    copied_tables,
    referenced_blobs,
)


@dataclass(frozen=True)
class BackupPlan:
    """The store to read, its blob store, where to write, and the app-password key file."""

    db: Database
    blobs: BlobStore
    dest: Path
    key_file: Path | None = None
    batch_size: int = 1000


def partial_of(dest: Path) -> Path:
    return dest.with_name(dest.name + PARTIAL)


def check_destination(dest: Path) -> None:
    """Refuse a DEST holding anything, or a left-over DEST.partial: nothing is written."""
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise Conflict(f"{dest} exists and is not empty: back up into a new or empty directory")
    if partial_of(dest).exists():
        raise Conflict(
            f"{partial_of(dest)} exists (an interrupted backup?): remove it, then run again"
        )


@contextlib.asynccontextmanager
async def snapshot(db: Database) -> AsyncIterator[AsyncConnection]:
    """One read transaction: in WAL mode SQLite keeps its snapshot for the whole transaction;
    PostgreSQL needs REPEATABLE READ for every statement to see the same one."""
    async with db.engine.connect() as conn:
        if not db.is_sqlite:
            conn = await conn.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
        async with conn.begin():
            yield conn


async def backup(plan: BackupPlan, on: Progress) -> Manifest:
    """Write everything into DEST.partial, the manifest last, then rename it to DEST."""
    check_destination(plan.dest)
    partial = partial_of(plan.dest)
    partial.mkdir(parents=True)
    try:
        manifest = await _write_snapshot(plan, partial, on)
        for directory in [p for p in partial.rglob("*") if p.is_dir()]:
            _fsync_dir(directory)
        _write_durably(partial / MANIFEST, manifest.to_json().encode("utf-8"))
        _fsync_dir(partial)
        if plan.dest.exists():
            plan.dest.rmdir()  # empty, checked above
        os.replace(partial, plan.dest)
        _fsync_dir(plan.dest.parent)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return manifest


async def _write_snapshot(plan: BackupPlan, root: Path, on: Progress) -> Manifest:
    async with snapshot(plan.db) as conn:
        await check_source(conn)
        revision = str(await conn.scalar(text("SELECT version_num FROM alembic_version")))
        head_id, head_hash = await audit_repo.head(conn)
        files: dict[str, dict[str, Any]] = {}
        for table in copied_tables():
            files[table_file(table.name)] = await _dump_table(conn, table, root, plan, on)
        if plan.db.is_sqlite:
            files[SEARCH_FILE] = await _dump_search_index(conn, root, plan, on)
        count, size = await _dump_blobs(conn, plan, root, on)
    if plan.key_file is not None and plan.key_file.is_file():
        key = plan.key_file.read_bytes()
        _write_durably(root / KEY_FILE, key, mode=0o600)
        files[KEY_FILE] = {"sha256": hashlib.sha256(key).hexdigest(), "bytes": len(key)}
    return Manifest(
        created_at=datetime.now(UTC).isoformat(),
        source_dialect=plan.db.dialect,
        alembic_revision=revision,
        files=files,
        blob_count=count,
        blob_bytes=size,
        audit_head={"id": head_id, "hash": head_hash},
    )


class _LineFile:
    """A table file written line by line, hashed as it is written, fsynced when closed."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.fh = path.open("wb")
        self.digest = hashlib.sha256()
        self.rows = 0

    def write(self, line: str) -> None:
        data = line.encode("ascii")
        self.fh.write(data)
        self.digest.update(data)
        self.rows += 1

    def close(self) -> dict[str, Any]:
        self.fh.flush()
        os.fsync(self.fh.fileno())
        self.fh.close()
        return {"sha256": self.digest.hexdigest(), "rows": self.rows}


async def _dump_table(
    conn: AsyncConnection, table: Table, root: Path, plan: BackupPlan, on: Progress
) -> dict[str, Any]:
    total = int(await conn.scalar(select(func.count()).select_from(table)) or 0)
    on(table.name, 0, total)
    out = _LineFile(root / table_file(table.name))
    query = select(table).order_by(*table.primary_key.columns)
    async for rows in batches(conn, query, plan.batch_size):
        for row in rows:
            out.write(encode_row(table, row._mapping))
        on(table.name, out.rows, total)
    return out.close()


async def _dump_search_index(
    conn: AsyncConnection, root: Path, plan: BackupPlan, on: Progress
) -> dict[str, Any]:
    """SQLite's FTS5 rows as they are: restored into FTS5, or turned into tsvectors."""
    total = int(await conn.scalar(text("SELECT count(*) FROM content_fts")) or 0)
    on(SEARCH_INDEX, 0, total)
    out = _LineFile(root / SEARCH_FILE)
    async for rows in batches(conn, text(FTS_SOURCE), plan.batch_size):
        for row in rows:
            out.write(encode_row(None, dict(zip(SEARCH_COLUMNS, row, strict=True))))
        on(SEARCH_INDEX, out.rows, total)
    return out.close()


async def _dump_blobs(
    conn: AsyncConnection, plan: BackupPlan, root: Path, on: Progress
) -> tuple[int, int]:
    """Every blob a row of the snapshot names, read through the same connection (the database
    blob store reads them in the snapshot; files are written before their rows commit)."""
    wanted = await referenced_blobs(conn)
    done = size = 0
    on("blobs", 0, len(wanted))
    for chunk in blob_batches(wanted, min(plan.batch_size, IN_CHUNK)):
        found = await plan.blobs.get_many(conn, chunk)
        for blob_id in chunk:
            if not blob_id_ok(blob_id) or blob_id not in found:
                raise InvalidInput(f"blob {blob_id} is named by the store but missing from it")
        await asyncio.to_thread(_write_blobs, root, found, plan.blobs.keyring)
        done += len(chunk)
        size += sum(len(data) for data in found.values())
        on("blobs", done, len(wanted))
    return len(wanted), size


def _write_blobs(root: Path, found: dict[str, bytes], keyring: Keyring) -> None:
    """Each blob sealed again under the current key: a backup is as closed as the store."""
    for blob_id, data in found.items():
        if blob_id_for(data) != blob_id:
            raise InvalidInput(f"blob {blob_id} in the store does not match its SHA-256")
        path = blob_path(root, blob_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_durably(path, keyring.seal(data, blob_id))


def _write_durably(path: Path, data: bytes, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
