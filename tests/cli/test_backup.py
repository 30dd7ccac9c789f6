"""`securemail backup` and `securemail restore`: a populated SQLite installation backed up by
the real command (also while mail is being delivered), restored into a fresh data directory or
a fresh PostgreSQL schema, and read back through the services; damaged backups refused.

PostgreSQL is SECUREMAIL_TEST_DATABASE_URL, else the local test database; unreachable, the
PostgreSQL test skips, or fails when CI=true."""

import asyncio
import contextlib
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from securemail import app
from securemail.config import load_settings
from securemail.core.audit import verify_chain
from securemail.core.context import AccessContext, system_context
from securemail.core.search import SearchQuery
from securemail.security.sealing import Keyring
from securemail.services.demo import DEMO_GROUP
from securemail.services.registry import Services
from securemail.store.backup_format import blob_path, load_manifest, read_rows, table_file
from securemail.store.migrate import upgrade
from securemail.store.repos.audit import chain_fields, to_entry
from securemail.store.restore import verify_backup
from securemail.store.schema import audit_log, contents, messages
from tests.cli.conftest import SECUREMAIL, Cli, snapshot
from tests.cli.installation import (
    Installation,
    ctx_of,
    fresh_schema,
    group_id,
    mail,
    populate,
    source_view,
    sqlite_store,
    target_view,
)
from tests.conftest import TestStore
from tests.e2e.cluster import PG

PEOPLE = ("admin", "alice", "bob", "carol", "dave", "erin")


@pytest.fixture
def store(tmp_path: Path) -> TestStore:
    return sqlite_store(tmp_path)


@pytest.fixture
async def installation(services: Services, store: TestStore, system: AccessContext) -> Installation:
    await populate(services, system)
    return Installation(services, store, system)


@pytest.fixture
async def schema() -> AsyncIterator[str]:
    async with fresh_schema("bk_") as name:
        yield name


def fresh_env(store: TestStore, where: Path, **more: str) -> dict[str, str]:
    """A new installation holding the backed-up server's key file, as restore requires."""
    keys = str(store.data_dir / "secrets" / "data.keys")
    return {
        **store.env,
        "SECUREMAIL_SERVER_DATA_DIR": str(where),
        "SECUREMAIL_SECURITY_KEY_FILE": keys,
        **more,
    }


def pg_env(store: TestStore, where: Path, schema: str) -> dict[str, str]:
    return fresh_env(
        store,
        where,
        SECUREMAIL_DATABASE_URL=PG,
        SECUREMAIL_DATABASE_SCHEMA=schema,
        SECUREMAIL_DATABASE_BLOB_STORE="database",
    )


@contextlib.asynccontextmanager
async def restored(env: dict[str, str]) -> AsyncIterator[Services]:
    runtime = app.build(load_settings(env=env))
    try:
        yield runtime.services
    finally:
        await runtime.close()


async def views(services: Services, read: Callable[..., Any]) -> dict[str, Any]:
    return {n: await read(services, await ctx_of(services, n)) for n in PEOPLE}


async def assert_same_installation(src: Services, dst: Services, system: AccessContext) -> None:
    """Every user sees the same mailboxes, folders, messages (flags, seen, raw bytes)."""
    before = await views(src, source_view)
    after = await views(dst, target_view)
    for name in PEOPLE:
        assert list(after[name]) == list(before[name]), name
        for key, (box, folder, pairs) in before[name].items():
            assert after[name][key] == (box, folder, pairs), (name, key)
    assert await dst.sharing.list_grants(system, DEMO_GROUP) == await src.sharing.list_grants(
        system, DEMO_GROUP
    )
    report = await dst.audit.verify(system)
    assert report.ok, report


async def backup(cli: Cli, dest: Path) -> dict[str, Any]:
    result = await cli("backup", str(dest))
    assert result.code == 0, result.err
    assert "backup complete" in result.out and "  messages: " in result.err
    assert not dest.with_name(dest.name + ".partial").exists()
    manifest: dict[str, Any] = json.loads((dest / "manifest.json").read_text())
    return manifest


# ---------------------------------------------------------------- round trips


async def test_a_backup_restores_into_a_fresh_data_dir_with_everything(
    cli: Cli, installation: Installation, tmp_path: Path
) -> None:
    src, store, system = installation.services, installation.store, installation.system
    dest = tmp_path / "backup"
    manifest = await backup(cli, dest)
    assert manifest["format_version"] == 1 and manifest["source_dialect"] == "sqlite"
    assert manifest["files"]["tables/messages.jsonl"]["rows"] >= 5
    assert manifest["blobs"]["count"] == len(list((dest / "blobs").rglob("*/*/*")))
    assert manifest["audit_head"]["id"] == (await src.audit.head(system))[0]
    env = fresh_env(store, tmp_path / "restored")

    result = await cli("restore", str(dest), env=env)

    assert result.code == 0, result.err
    assert "audit chain: intact" in result.out and "restore complete" in result.out
    key = "secrets/app-password.key"
    assert (tmp_path / "restored" / key).read_bytes() == (store.data_dir / key).read_bytes()
    async with restored(env) as dst:
        await assert_same_installation(src, dst, system)
        dave = await ctx_of(dst, "dave")
        found = await dst.messages.search(dave, await group_id(dst), SearchQuery(text="Pilot"))
        assert found  # the full-text index came along


async def test_a_sqlite_backup_restores_onto_postgresql(
    cli: Cli, installation: Installation, tmp_path: Path, schema: str
) -> None:
    src, store, system = installation.services, installation.store, installation.system
    dest = tmp_path / "backup"
    await backup(cli, dest)
    env = pg_env(store, tmp_path / "pg-node", schema)

    result = await cli("restore", str(dest), env=env)

    assert result.code == 0, result.err
    async with restored(env) as dst:
        await assert_same_installation(src, dst, system)
        dave = await ctx_of(dst, "dave")
        group = await group_id(dst)
        assert await dst.messages.search(dave, group, SearchQuery(text="Pilot"))
        await dst.delivery.deliver(system, mail("After restore", DEMO_GROUP), [DEMO_GROUP])
        assert (await dst.audit.verify(system)).ok  # the sequences continue after the ids
    again = await cli("backup", str(tmp_path / "from-pg"), env=env)  # and back again
    assert again.code == 0, again.err
    back = await cli("restore", str(tmp_path / "from-pg"), env=fresh_env(store, tmp_path / "back"))
    assert back.code == 0, back.err
    assert "audit chain: intact" in back.out


# ---------------------------------------------------------------- online


def check_consistent(dest: Path, keyring: Keyring) -> dict[str, int]:
    """Every message's content has its blob, the chain verifies up to the recorded head, and
    every file holds the rows the manifest says. Returns rows per table file."""
    manifest = load_manifest(dest)
    verify_backup(dest, keyring)  # hashes of every file, seals and hashes of blobs, counts
    by_id = {row["id"]: row for row in read_rows(dest / table_file("contents"), contents)}
    for message in read_rows(dest / table_file("messages"), messages):
        blob_id = by_id[message["content_id"]]["blob_id"]
        sealed = blob_path(dest, blob_id).read_bytes()
        assert b"Live " not in sealed  # the backup holds no message text in clear
        assert hashlib.sha256(keyring.open(sealed, blob_id)).hexdigest() == blob_id
    rows = read_rows(dest / table_file("audit_log"), audit_log)
    entries = [to_entry(SimpleNamespace(**row)) for row in rows]
    report = verify_chain((chain_fields(e), e.prev_hash, e.hash) for e in entries)
    assert report.ok, report
    assert (entries[-1].id, entries[-1].hash) == (
        manifest.audit_head["id"],
        manifest.audit_head["hash"],
    )
    return {name: int(meta.get("rows", 0)) for name, meta in manifest.files.items()}


async def test_a_backup_taken_while_mail_arrives_is_consistent(
    cli: Cli, installation: Installation, tmp_path: Path
) -> None:
    src, store, system = installation.services, installation.store, installation.system
    dave = await ctx_of(src, "dave")
    inbox = (await src.mailboxes.list_folders(dave, await group_id(src)))[0]
    initial = len(await src.messages.list_messages(dave, inbox.id, limit=500))
    stop = asyncio.Event()
    delivered = 0

    async def deliver_until_stopped() -> None:
        nonlocal delivered
        while not stop.is_set():
            raw = mail(f"Live {delivered}", DEMO_GROUP, attachment=bytes([delivered % 256]) * 900)
            await src.delivery.deliver(system, raw, [DEMO_GROUP])
            await src.messages.open_message(dave, (await first_id(src, dave, inbox.id)))
            delivered += 1

    writer = asyncio.create_task(deliver_until_stopped())
    await asyncio.sleep(0)
    try:
        result = await cli("backup", str(tmp_path / "live"))
    finally:
        stop.set()
        await writer
    assert result.code == 0, result.err
    rows = check_consistent(tmp_path / "live", store_keyring(store))
    final = len(await src.messages.list_messages(dave, inbox.id, limit=500))
    in_backup = sum(
        1 for m in read_rows(tmp_path / "live" / table_file("messages"), messages)
        if m["folder_id"] == inbox.id
    )  # fmt: skip
    # mail arrived both before and after the snapshot was taken
    assert initial < in_backup < final, (initial, in_backup, final)
    assert rows["tables/audit_log.jsonl"] > 0
    env = fresh_env(store, tmp_path / "restored")
    restored_run = await cli("restore", str(tmp_path / "live"), env=env)
    assert restored_run.code == 0, restored_run.err
    assert "audit chain: intact" in restored_run.out


async def first_id(services: Services, ctx: AccessContext, folder_id: int) -> int:
    return (await services.messages.list_messages(ctx, folder_id, limit=1))[0].id


# ---------------------------------------------------------------- refusals


def flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def edit_manifest(dest: Path, change: Callable[[dict[str, Any]], None]) -> None:
    body = json.loads((dest / "manifest.json").read_text())
    change(body)
    (dest / "manifest.json").write_text(json.dumps(body))


def one_blob(dest: Path) -> Path:
    return sorted((dest / "blobs").rglob("*/*/*"))[0]


DAMAGES: dict[str, tuple[Callable[[Path], Any], str]] = {
    "flipped byte in a table": (
        lambda d: flip_byte(d / "tables/messages.jsonl"),
        "tables/messages.jsonl does not match its SHA-256",
    ),
    "missing table file": (
        lambda d: (d / "tables/grants.jsonl").unlink(),
        "grants.jsonl is missing",
    ),
    "missing blob": (lambda d: one_blob(d).unlink(), "is missing"),
    "changed blob": (lambda d: flip_byte(one_blob(d)), "does not open with this server's keys"),
    "truncated manifest": (
        lambda d: (d / "manifest.json").write_text((d / "manifest.json").read_text()[:200]),
        "manifest.json is damaged",
    ),
    "unknown format version": (
        lambda d: edit_manifest(d, lambda b: b.update(format_version=99)),
        "unknown backup format version 99",
    ),
    "newer schema revision": (
        lambda d: edit_manifest(d, lambda b: b.update(alembic_revision="9999")),
        "schema revision '9999', which this securemail does not know",
    ),
}


@pytest.fixture(scope="module")
def good_backup(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One populated installation backed up once by the real command; tests damage copies."""
    base = tmp_path_factory.mktemp("good")
    env = {
        "SECUREMAIL_SERVER_DATA_DIR": str(base / "var"),
        "SECUREMAIL_AUTH_ARGON2_TIME_COST": "1",
        "SECUREMAIL_AUTH_ARGON2_MEMORY_KIB": "1024",
        "SECUREMAIL_AUTH_ARGON2_PARALLELISM": "1",
    }

    async def populated() -> None:
        runtime = app.build(load_settings(env=env))
        await upgrade(runtime.db)
        await populate(runtime.services, system_context("test"))
        await runtime.close()

    asyncio.run(populated())
    done = subprocess.run(
        [str(SECUREMAIL), "backup", str(base / "backup")],
        env={**os.environ, **env},
        capture_output=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return base / "backup"


@pytest.mark.parametrize("damage", list(DAMAGES))
async def test_a_damaged_backup_is_refused_and_nothing_is_written(
    cli: Cli, store: TestStore, good_backup: Path, tmp_path: Path, damage: str
) -> None:
    dest = tmp_path / "backup"
    shutil.copytree(good_backup, dest)
    harm, says = DAMAGES[damage]
    harm(dest)
    if damage == "missing blob":
        says = f"blob {one_blob_id(dest)} is missing"
    target = tmp_path / "restored"

    result = await cli("restore", str(dest), env=fresh_env(store, target))

    assert result.code == 2, result
    assert len(result.err_lines) == 1 and says in result.err, result.err
    assert not (target / "securemail.db").exists() and not (target / "blobs").exists()
    assert not (target / "secrets").exists()


async def test_a_backup_without_its_key_file_is_refused(
    cli: Cli, store: TestStore, good_backup: Path, tmp_path: Path
) -> None:
    """The backup does not hold the data keys: restoring it where they are not installed
    (a fresh key file is made) is refused before anything is written."""
    target = tmp_path / "restored"
    env = {**store.env, "SECUREMAIL_SERVER_DATA_DIR": str(target)}

    result = await cli("restore", str(good_backup), env=env)

    assert result.code == 2, result
    assert "does not open with this server's keys" in result.err
    assert "install the key file of the server that made the backup" in result.err
    assert not (target / "securemail.db").exists() and not (target / "blobs").exists()


def store_keyring(store: TestStore) -> Keyring:
    return Keyring.load(store.data_dir / "secrets" / "data.keys", create=False)


def one_blob_id(dest: Path) -> str:
    """The blob the rows name but the backup lost (the missing-blob case deleted it)."""
    named = {str(r["blob_id"]) for r in read_rows(dest / table_file("contents"), contents)}
    present = {p.name for p in (dest / "blobs").rglob("*/*/*")}
    (missing,) = named - present
    return missing


async def test_an_interrupted_backup_is_refused(
    cli: Cli, store: TestStore, good_backup: Path, tmp_path: Path
) -> None:
    dest = tmp_path / "backup"
    partial = tmp_path / "backup.partial"
    shutil.copytree(good_backup, partial)
    (partial / "manifest.json").unlink()  # the manifest is written last
    target = tmp_path / "restored"

    for source, says in ((partial, "interrupted backup (.partial)"), (dest, "no backup directory")):
        result = await cli("restore", str(source), env=fresh_env(store, target))
        assert result.code == 2 and len(result.err_lines) == 1 and says in result.err, result.err
    assert not (target / "securemail.db").exists()
    again = await cli("backup", str(dest))  # a left-over .partial is not overwritten either
    assert again.code == 2 and "backup.partial exists" in again.err, again.err
    assert not dest.exists()


async def test_a_destination_that_is_not_empty_is_refused(
    cli: Cli, installation: Installation, tmp_path: Path
) -> None:
    dest = tmp_path / "backup"
    dest.mkdir()
    (dest / "notes.txt").write_text("keep me")

    result = await cli("backup", str(dest))

    assert result.code == 2 and len(result.err_lines) == 1, result.err
    assert "exists and is not empty" in result.err
    assert [p.name for p in dest.iterdir()] == ["notes.txt"]
    assert not (tmp_path / "backup.partial").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert (await backup(cli, empty))["format"] == "securemail-backup"  # empty is fine


async def test_restore_into_a_store_that_holds_data_is_refused(
    cli: Cli, installation: Installation, tmp_path: Path
) -> None:
    src, store = installation.services, installation.store
    dest = tmp_path / "backup"
    await backup(cli, dest)
    before = await snapshot(src, store)
    key = (store.data_dir / "secrets" / "app-password.key").read_bytes()

    result = await cli("restore", str(dest))  # into the installation it came from

    assert result.code == 2 and len(result.err_lines) == 1, result.err
    assert "already holds data" in result.err and "nothing was changed" in result.err
    assert await snapshot(src, store) == before
    assert (store.data_dir / "secrets" / "app-password.key").read_bytes() == key
