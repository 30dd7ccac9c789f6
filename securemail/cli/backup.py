"""`securemail backup` and `securemail restore`: an online snapshot to a directory, and back."""

import argparse
import sys
from pathlib import Path

from sqlalchemy.engine import make_url

from securemail import app
from securemail.cli.migrate_store import Progress
from securemail.config import Settings
from securemail.core.context import system_context
from securemail.store import backup as store_backup
from securemail.store import restore as store_restore
from securemail.store.backup_format import Manifest
from securemail.store.db import Database

CTX = system_context("cli")
BACKUP_SUMMARY = "take a consistent backup of the running store and its blobs"
RESTORE_SUMMARY = "restore a backup into this installation's empty store"
BACKUP_DESCRIPTION = """\
Write a consistent snapshot of the store into the new directory DEST, while the server keeps
accepting mail: every table read in one read transaction (SQLite in WAL mode; REPEATABLE
READ on PostgreSQL), one JSON-lines file per table, the blobs those rows name, the
app-password key, and manifest.json (format version, schema revision, SHA-256 and row count
of every file, blob count, the audit chain head at the snapshot).

The files are written into DEST.partial, which is renamed to DEST only once complete. DEST
must not exist or be empty. The blobs are sealed again under the current data key, and the
TOTP seeds and DKIM keys stay sealed: the backup is useless without the key file ([security]
key_file), which it does NOT hold. Keep a copy of that file somewhere else; restore needs it.
Exit status: 0 done, 2 bad input."""
RESTORE_DESCRIPTION = """\
Restore a backup made by `securemail backup` into the configured store, which must be empty
(a new data directory, or an empty PostgreSQL database or schema). A backup taken on SQLite
restores onto PostgreSQL and the other way round.

Install the backed-up server's key file first ([security] key_file). Before anything is
written, the manifest, every file's SHA-256, every blob's seal and SHA-256 are checked; a
damaged or incomplete backup, or one these keys do not open, is refused with one line. Then
the migrations run, the rows are loaded in one transaction, the blobs go to the configured
blob store and the audit chain is verified. Exit status: 0 done, 1 audit chain broken
after the restore, 2 bad input, a damaged backup or a store that is not empty."""


def add_backup_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = BACKUP_DESCRIPTION
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("dest", metavar="DEST", help="a new (or empty) directory")


def add_restore_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = RESTORE_DESCRIPTION
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("source", metavar="SRC", help="a directory written by `backup`")


def _database(settings: Settings) -> Database:
    return app.open_database(settings)


def _key_path(settings: Settings) -> Path:
    configured = settings.auth.app_password_key_file
    return Path(configured) if configured else settings.data_path / "secrets" / "app-password.key"


def _where(settings: Settings) -> str:
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        return str(url.database)
    shown = url.set(drivername="postgresql").render_as_string(hide_password=True)
    return shown + (f" schema {settings.database.schema}" if settings.database.schema else "")


async def backup(settings: Settings, args: argparse.Namespace) -> int:
    db = _database(settings)
    dest = Path(args.dest).absolute()
    plan = store_backup.BackupPlan(db, app.make_blob_store(settings), dest, _key_path(settings))
    progress = Progress(sys.stderr, f"securemail: backing up {_where(settings)} to {dest}")
    try:
        manifest = await store_backup.backup(plan, progress)
    finally:
        await db.dispose()
    _print_summary(manifest)
    print(f"backup complete: {dest}")
    return 0


def _print_summary(manifest: Manifest) -> None:
    rows = sum(int(meta.get("rows", 0)) for meta in manifest.files.values())
    print(f"schema revision: {manifest.alembic_revision} ({manifest.source_dialect})")
    print(f"rows: {rows} in {len(manifest.files)} files")
    print(f"blobs: {manifest.blob_count} ({manifest.blob_bytes} bytes)")
    head = manifest.audit_head
    print(f"audit chain head: entry {head['id']} {head['hash']}")


async def restore(settings: Settings, args: argparse.Namespace) -> int:
    db = _database(settings)
    source = Path(args.source).absolute()
    plan = store_restore.RestorePlan(source, db, app.make_blob_store(settings))
    progress = Progress(sys.stderr, f"securemail: restoring {source} into {_where(settings)}")
    try:
        manifest = await store_restore.restore(plan, progress)
    finally:
        await db.dispose()
    store_restore.install_key(source, manifest, _key_path(settings))
    _print_summary(manifest)
    return await _check_chain(settings, manifest)


async def _check_chain(settings: Settings, manifest: Manifest) -> int:
    """The restored chain verifies, and its head is the one the backup recorded."""
    runtime = app.build(settings)
    try:
        report = await runtime.services.audit.verify(CTX)
        head_id, head_hash = await runtime.services.audit.head(CTX)
    finally:
        await runtime.close()
    expected = (int(manifest.audit_head["id"]), str(manifest.audit_head["hash"]))
    if report.ok and (head_id, head_hash) == expected:
        print(f"audit chain: intact, {report.checked} entries, head as in the backup")
        print(f"restore complete: {_where(settings)}")
        return 0
    reason = report.reason if not report.ok else "its head differs from the backup's"
    print(f"securemail: the restored audit chain does not verify: {reason}", file=sys.stderr)
    return 1
