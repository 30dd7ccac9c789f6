"""Restore a backup into an empty store: check every file and blob first, then load it all."""

import asyncio
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Table, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from securemail.core.errors import InvalidInput
from securemail.mail.parse import parse_fields
from securemail.security.sealing import Keyring, KeyringError
from securemail.store.backup_format import (
    KEY_FILE,
    PARTIAL,
    SEARCH_FILE,
    Manifest,
    blob_id_ok,
    blob_path,
    count_lines,
    file_sha256,
    load_manifest,
    read_rows,
    table_file,
)
from securemail.store.blobs import BlobStore, blob_id_for
from securemail.store.db import Database
from securemail.store.migrate import alembic_config, upgrade
from securemail.store.repos.index import FTS_INSERT, index_params
from securemail.store.schema import audit_head, contents, outbound_queue
from securemail.store.transfer import (
    SEARCH_INDEX,
    Progress,
    copied_tables,
    require_empty,
    reset_sequences,
)

RESTORE_ADVICE = "restore only into an empty store (a new data directory or database)"


@dataclass(frozen=True)
class RestorePlan:
    source: Path
    db: Database
    blobs: BlobStore
    batch_size: int = 1000


# --- before anything is written: the backup is whole and this code can read it ----------


def verify_backup(root: Path, keyring: Keyring) -> tuple[Manifest, list[str]]:
    """The manifest and the blob ids the rows name; InvalidInput names the first problem.
    The blobs are sealed: `keyring` (the backed-up server's keys) opens and so checks them."""
    if root.name.endswith(PARTIAL):
        raise InvalidInput(f"{root} is an interrupted backup ({PARTIAL}): it is incomplete")
    if not root.is_dir():
        raise InvalidInput(f"no backup directory at {root}")
    manifest = load_manifest(root)
    check_revision(manifest.alembic_revision)
    _check_file_list(manifest)
    for name, meta in manifest.files.items():
        _check_file(root, name, meta)
    blob_ids = _named_blobs(root, manifest)
    _check_blobs(root, blob_ids, keyring)
    if len(blob_ids) != manifest.blob_count:
        raise InvalidInput(
            f"backup damaged: the rows name {len(blob_ids)} blobs, "
            f"the manifest says {manifest.blob_count}"
        )
    return manifest, blob_ids


def check_revision(revision: str) -> None:
    """Refuse a schema revision this code does not know: a newer version wrote it."""
    scripts = ScriptDirectory.from_config(alembic_config())
    try:
        known = scripts.get_revision(revision) is not None
    except CommandError:
        known = False
    if not known:
        raise InvalidInput(
            f"the backup is at schema revision {revision!r}, which this securemail does not "
            "know (a newer version took it): restore it with that version or newer"
        )


def _check_file_list(manifest: Manifest) -> None:
    tables = {table_file(t.name) for t in copied_tables()}
    for name in manifest.files:
        if name not in tables | {SEARCH_FILE, KEY_FILE}:
            raise InvalidInput(f"backup damaged: the manifest names an unknown file {name!r}")
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if manifest.alembic_revision == head:
        missing = sorted(tables - set(manifest.files))
        if missing:
            raise InvalidInput(f"backup damaged: {missing[0]} is missing from the manifest")


def _check_file(root: Path, name: str, meta: dict[str, object]) -> None:
    path = root / name
    if not path.is_file():
        raise InvalidInput(f"backup damaged: {name} is missing")
    if file_sha256(path) != meta.get("sha256"):
        raise InvalidInput(f"backup damaged: {name} does not match its SHA-256 in the manifest")
    if "rows" in meta and count_lines(path) != meta["rows"]:
        raise InvalidInput(f"backup damaged: {name} does not hold the rows the manifest says")


def _named_blobs(root: Path, manifest: Manifest) -> list[str]:
    """The blobs the message contents and the outbound queue of the backup point at."""
    named: set[str] = set()
    for table in (contents, outbound_queue):
        name = table_file(table.name)
        if name in manifest.files:
            named.update(str(row["blob_id"]) for row in read_rows(root / name, table))
    return sorted(named)


def _check_blobs(root: Path, blob_ids: list[str], keyring: Keyring) -> None:
    for blob_id in blob_ids:
        if not blob_id_ok(blob_id):
            raise InvalidInput(f"backup damaged: {blob_id!r} is not a blob id")
        path = blob_path(root, blob_id)
        if not path.is_file():
            raise InvalidInput(f"backup incomplete: blob {blob_id} is missing")
        open_blob(path, blob_id, keyring)


def open_blob(path: Path, blob_id: str, keyring: Keyring) -> bytes:
    """The plaintext of a backed-up blob, checked by its seal and against its SHA-256."""
    try:
        data = keyring.open(path.read_bytes(), blob_id)
    except KeyringError as exc:
        raise InvalidInput(
            f"backup blob {blob_id} does not open with this server's keys ({exc}): install the "
            "key file of the server that made the backup ([security] key_file), or it is damaged"
        ) from None
    if blob_id_for(data) != blob_id:
        raise InvalidInput(f"backup damaged: blob {blob_id} does not match its SHA-256")
    return data


async def check_store_empty(db: Database) -> None:
    """Conflict unless the configured store is empty (or not created yet); changes nothing."""
    async with db.engine.connect() as conn:
        await require_empty(conn, RESTORE_ADVICE)


# --- the load ---------------------------------------------------------------------------


async def restore(plan: RestorePlan, on: Progress) -> Manifest:
    """Verify, check the store is empty, migrate to the backup's revision, load, migrate on."""
    keyring = plan.blobs.keyring
    manifest, blob_ids = await asyncio.to_thread(verify_backup, plan.source, keyring)
    await check_store_empty(plan.db)
    await upgrade_to(plan.db, manifest.alembic_revision)
    if plan.blobs.writes_outside_transaction:  # files first, as every writer does
        await _put_blobs(None, plan, blob_ids, on)
    async with plan.db.write() as conn:
        await require_empty(conn, RESTORE_ADVICE)
        await conn.execute(audit_head.delete())  # the migration's empty chain, replaced
        for table in copied_tables():
            if table_file(table.name) in manifest.files:
                await _load_table(conn, table, plan, on)
        await _load_search_index(conn, plan, manifest, on)
        if not plan.blobs.writes_outside_transaction:
            await _put_blobs(conn, plan, blob_ids, on)
        if not plan.db.is_sqlite:
            await reset_sequences(conn)
    await upgrade(plan.db)  # a backup of an older schema is brought up to date
    return manifest


async def upgrade_to(db: Database, revision: str) -> None:
    def run(connection: Connection) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)

    async with db.engine.connect() as conn:
        await conn.run_sync(run)
        await conn.commit()


def _chunks(rows: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


async def _insert(
    conn: AsyncConnection,
    statement: Any,
    rows: Iterable[dict[str, Any]],
    what: str,
    total: int,
    plan: RestorePlan,
    on: Progress,
) -> None:
    """Rows in batches of plan.batch_size, with progress; memory stays bounded."""
    on(what, 0, total)
    done = 0
    for chunk in _chunks(rows, plan.batch_size):
        await conn.execute(statement, chunk)
        done += len(chunk)
        on(what, done, total)


async def _load_table(conn: AsyncConnection, table: Table, plan: RestorePlan, on: Progress) -> None:
    path = plan.source / table_file(table.name)
    rows = read_rows(path, table)
    await _insert(conn, table.insert(), rows, table.name, count_lines(path), plan, on)


async def _load_search_index(
    conn: AsyncConnection, plan: RestorePlan, manifest: Manifest, on: Progress
) -> None:
    """The backed-up FTS rows when there are some (SQLite source), else rebuilt from blobs."""
    if SEARCH_FILE in manifest.files:
        path = plan.source / SEARCH_FILE
        rows = read_rows(path, None)
    else:
        path = plan.source / table_file(contents.name)
        rows = _index_rows(plan.source, plan.blobs.keyring)
    statement = text(FTS_INSERT[conn.dialect.name])
    await _insert(conn, statement, rows, SEARCH_INDEX, count_lines(path), plan, on)


def _index_rows(root: Path, keyring: Keyring) -> Iterator[dict[str, Any]]:
    """Search documents parsed again from each content's blob, as delivery makes them."""
    for content in read_rows(root / table_file(contents.name), contents):
        blob_id = str(content["blob_id"])
        fields = parse_fields(open_blob(blob_path(root, blob_id), blob_id, keyring))
        yield index_params(keyring, int(content["id"]), fields)


async def _put_blobs(
    conn: AsyncConnection | None, plan: RestorePlan, blob_ids: list[str], on: Progress
) -> None:
    on("blobs", 0, len(blob_ids))
    for done, blob_id in enumerate(blob_ids, start=1):
        path = blob_path(plan.source, blob_id)
        data = await asyncio.to_thread(open_blob, path, blob_id, plan.blobs.keyring)
        await plan.blobs.put(conn, data)
        on("blobs", done, len(blob_ids))


def install_key(root: Path, manifest: Manifest, path: Path) -> bool:
    """Put the backed-up app-password key in place (mode 0600); False when there was none."""
    if KEY_FILE not in manifest.files:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".restoring")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write((root / KEY_FILE).read_bytes())
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return True
