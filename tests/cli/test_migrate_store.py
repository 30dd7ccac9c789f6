"""`securemail migrate-store`: an SQLite installation with the demo organisation and real mail,
copied onto a fresh PostgreSQL schema by the real command, then read back through the services
message by message.

The target is always PostgreSQL (SECUREMAIL_TEST_DATABASE_URL, else the local test database);
unreachable, these tests skip, or fail when CI=true. The source is always SQLite."""

import contextlib
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from securemail import app
from securemail.config import load_settings
from securemail.core.context import AccessContext
from securemail.services.demo import DEMO_DOMAIN, DEMO_GROUP
from securemail.services.registry import Services
from securemail.store.transfer import BLOB_BATCH_BYTES, blob_batches
from tests.cli.conftest import Cli, snapshot
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

pytestmark = pytest.mark.always_postgres  # run once: both CI passes would repeat it

BATCH = "3"  # rows per INSERT: every table of the demo takes several batches


# ---------------------------------------------------------------- the installation


@pytest.fixture
def store(tmp_path: Path) -> TestStore:
    """Always an SQLite store, whatever SECUREMAIL_TEST_DATABASE_URL says: it is the source."""
    return sqlite_store(tmp_path)


@pytest.fixture
async def installation(services: Services, store: TestStore, system: AccessContext) -> Installation:
    await populate(services, system)
    return Installation(services, store, system)


# ---------------------------------------------------------------- the target


@pytest.fixture
async def schema() -> AsyncIterator[str]:
    async with fresh_schema("ms_") as name:
        yield name


def target_env(store: TestStore, schema: str, blobs: str = "database") -> dict[str, str]:
    return {
        **store.env,
        "SECUREMAIL_DATABASE_URL": PG,
        "SECUREMAIL_DATABASE_SCHEMA": schema,
        "SECUREMAIL_DATABASE_BLOB_STORE": blobs,
    }


@contextlib.asynccontextmanager
async def target(store: TestStore, schema: str, blobs: str = "database") -> AsyncIterator[Services]:
    runtime = app.build(load_settings(env=target_env(store, schema, blobs)))
    try:
        yield runtime.services
    finally:
        await runtime.close()


def migrate_args(schema: str, *more: str) -> tuple[str, ...]:
    return ("migrate-store", "--to", PG, "--schema", schema, "--batch-size", BATCH, *more)


def printed_counts(out: str) -> dict[str, tuple[int, int]]:
    """The summary table: name -> (rows in the source, rows in the target)."""
    rows = [line.rsplit(None, 2) for line in out.splitlines()[1:] if line[-1:].isdigit()]
    return {name.strip(): (int(a), int(b)) for name, a, b in rows}


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------- what a user sees


def message_count(view: dict[str, Any]) -> int:
    return sum(len(pairs) for _box, _folder, pairs in view.values())


# ---------------------------------------------------------------- tests


async def test_the_copy_shows_every_message_flag_seen_state_grant_and_audit_entry(
    schema: str, cli: Cli, installation: Installation
) -> None:
    src, system, store = installation.services, installation.system, installation.store
    people = ("admin", "alice", "bob", "carol", "dave", "erin")
    before = {n: await source_view(src, await ctx_of(src, n)) for n in people}
    grants = await src.sharing.list_grants(system, DEMO_GROUP)
    audit = await src.audit.list_entries(system, limit=500)
    tables = await snapshot(src, store)
    await src.deps.db.dispose()  # the "server" is stopped
    db_file = store.data_dir / "securemail.db"
    digest = file_digest(db_file)

    result = await cli(*migrate_args(schema))

    assert result.code == 0, result.err
    assert "migration verified" in result.out
    assert "audit chain on the target: intact" in result.out
    assert "  messages: 3/" in result.err and "  blobs: " in result.err  # batched progress
    counts = printed_counts(result.out)
    busy = ("messages", "seen", "grants", "audit_log", "outbound_queue", "search index")
    assert all(counts[t][0] > 0 for t in busy), counts
    assert all(a == b for a, b in counts.values()), counts
    assert file_digest(db_file) == digest
    assert await snapshot(src, store) == tables  # the source is unchanged
    assert message_count(before["alice"]) >= 5 and before["carol"]

    async with target(store, schema) as dst:
        assert await dst.sharing.list_grants(system, DEMO_GROUP) == grants
        assert await dst.audit.list_entries(system, limit=500) == audit
        for name in people:
            after = await target_view(dst, await ctx_of(dst, name))
            assert list(after) == list(before[name]), name
            for key, (box, folder, pairs) in before[name].items():
                assert after[key][0] == box, key
                assert after[key][1] == folder, key  # UIDVALIDITY, UIDNEXT, counts, unseen
                assert after[key][2] == pairs, key  # summaries (flags, seen) and raw bytes
        report = await dst.audit.verify(system)
        assert report.ok and report.checked > len(audit), report  # the reads were audited


async def test_the_copy_takes_new_mail_and_new_users(
    schema: str, cli: Cli, installation: Installation
) -> None:
    """The sequences continue after the copied ids: new rows do not collide."""
    store, system = installation.store, installation.system
    assert (await cli(*migrate_args(schema))).code == 0
    async with target(store, schema) as dst:
        await dst.delivery.deliver(system, mail("After the move", DEMO_GROUP), [DEMO_GROUP])
        user, _ = await dst.directory.create_user(system, f"frank@{DEMO_DOMAIN}", password="x" * 12)
        await dst.mailboxes.create_folder(await ctx_of(dst, "dave"), await group_id(dst), "New")
        assert user.id > max(u.id for u in await dst.directory.list_users(system) if u != user)
        assert (await dst.audit.verify(system)).ok
    verified = await cli("audit", "verify", env=target_env(store, schema))
    assert verified.code == 0, verified.err


async def test_a_second_run_is_refused_and_changes_nothing(
    schema: str, cli: Cli, installation: Installation
) -> None:
    store = installation.store
    assert (await cli(*migrate_args(schema))).code == 0
    async with target(store, schema) as dst:
        copied = await snapshot(dst, store)

    again = await cli(*migrate_args(schema))

    assert again.code == 2
    assert len(again.err_lines) == 1, again.err
    assert "already holds data" in again.err and "nothing was changed" in again.err
    async with target(store, schema) as dst:
        assert await snapshot(dst, store) == copied


async def test_a_tampered_blob_fails_the_check_and_is_named(
    schema: str, cli: Cli, installation: Installation
) -> None:
    src, store = installation.services, installation.store
    dave = await ctx_of(src, "dave")
    inbox = (await src.mailboxes.list_folders(dave, await group_id(src)))[0]
    victim = next(s for s in await src.messages.list_messages(dave, inbox.id) if s.has_attachments)
    path = store.data_dir / "blobs" / victim.blob_id[:2] / victim.blob_id[2:4] / victim.blob_id
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x20  # one bit of the attachment flipped on disk
    path.write_bytes(bytes(data))

    result = await cli(*migrate_args(schema))

    # The blob's seal no longer checks: the copy stops before its one transaction commits.
    assert result.code == 2, result
    bad = [line for line in result.err_lines if "failed its check" in line]
    assert len(bad) == 1 and victim.blob_id in bad[0], result.err


async def test_blobs_can_stay_in_the_filesystem(
    schema: str, cli: Cli, installation: Installation
) -> None:
    src, store, system = installation.services, installation.store, installation.system
    before = await source_view(src, await ctx_of(src, "alice"))

    result = await cli(*migrate_args(schema, "--blobs", "filesystem"))

    assert result.code == 0, result.err
    async with target(store, schema, blobs="filesystem") as dst:
        after = await target_view(dst, await ctx_of(dst, "alice"))
        assert [p for *_, p in after.values()] == [p for *_, p in before.values()]
        assert (await snapshot(dst, store))["tables"]["blob_data"] == []
        assert (await dst.audit.verify(system)).ok


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("mysql://root@127.0.0.1/mail", "--to must be a postgresql:// URL"),
        ("not a url", "is not a database URL"),
        ("postgresql://postgres@127.0.0.1:1/test", "cannot use the target postgresql://"),
    ],
)
async def test_a_bad_target_url_is_one_clear_line(
    cli: Cli, services: Services, url: str, says: str
) -> None:
    """`services` has made the SQLite store to copy from; no PostgreSQL is needed."""
    result = await cli("migrate-store", "--to", url)
    assert result.code == 2
    assert len(result.err_lines) == 1 and says in result.err, result.err
    assert result.out == ""


def test_blobs_are_copied_in_batches_bounded_in_count_and_bytes() -> None:
    big = BLOB_BATCH_BYTES // 2 + 1
    sizes = {"a": big, "b": big, "c": 1, "d": 1, "e": 1, "f": BLOB_BATCH_BYTES * 2}
    assert blob_batches(sizes, 3) == [["a"], ["b", "c", "d"], ["e"], ["f"]]
