"""`securemail audit verify` against a store whose audit log was changed behind its back: it
exits non-zero and names the entry; untouched, it exits 0 and counts the entries."""

import dataclasses
import re
import sqlite3
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from securemail.config import async_url
from securemail.core.audit import entry_hash
from securemail.core.context import AccessContext
from securemail.services.registry import Services
from securemail.store.repos.audit import chain_fields
from tests.cli.conftest import Cli, Result
from tests.conftest import PG_URL, TestStore

INTACT = re.compile(r"audit chain intact: (\d+) entries, head (\d+) ([0-9a-f]{64})\n")


async def tamper(store: TestStore, sql: str, params: dict[str, Any]) -> int:
    """Change the stored log directly, as someone with access to the database would."""
    if not PG_URL:
        with sqlite3.connect(store.data_dir / "securemail.db") as db:
            return db.execute(sql, params).rowcount
    schema = store.env["SECUREMAIL_DATABASE_SCHEMA"]
    engine = create_async_engine(
        async_url(PG_URL), connect_args={"server_settings": {"search_path": schema}}
    )
    try:
        async with engine.begin() as conn:
            return (await conn.execute(text(sql), params)).rowcount
    finally:
        await engine.dispose()


def assert_broken_at(result: Result, entry: int, *reason: str) -> None:
    assert result.code != 0, result
    assert result.out == ""
    assert len(result.err_lines) == 1, result.err
    line = result.err_lines[0]
    assert line.startswith(f"audit chain BROKEN at entry {entry}: "), line
    for words in reason:
        assert words in line, line


@pytest.fixture
async def entries(cli: Cli, services: Services) -> int:
    """Provision the demo organisation through the CLI; the number of audit entries it made."""
    assert (await cli("demo")).code == 0
    verified = await cli("audit", "verify")
    match = INTACT.fullmatch(verified.out)
    assert verified.code == 0 and match, verified
    count = int(match.group(1))
    assert count >= 10 and int(match.group(2)) == count
    return count


async def test_an_untouched_chain_verifies_and_counts_every_entry(
    entries: int, cli: Cli, store: TestStore
) -> None:
    rows = await tamper(store, "UPDATE audit_log SET target = target WHERE id > :n", {"n": 0})
    assert rows == entries  # same text: the hash still matches every row
    result = await cli("audit", "verify")
    assert result.code == 0 and result.err_lines == []
    assert INTACT.fullmatch(result.out) and f": {entries} entries," in result.out


async def test_a_changed_target_is_named(entries: int, cli: Cli, store: TestStore) -> None:
    changed = await tamper(
        store, "UPDATE audit_log SET target = :t WHERE id = :id", {"t": "eve@polres.co.uk", "id": 3}
    )
    assert changed == 1
    assert_broken_at(await cli("audit", "verify"), 3, "content does not match its hash")


async def test_a_changed_time_is_named(entries: int, cli: Cli, store: TestStore) -> None:
    when: Any = datetime(2020, 1, 1, tzinfo=UTC)
    if not PG_URL:
        when = "2020-01-01 00:00:00.000000"
    assert await tamper(
        store, "UPDATE audit_log SET at = :at WHERE id = :id", {"at": when, "id": 2}
    )
    assert_broken_at(await cli("audit", "verify"), 2, "content does not match its hash")


async def test_a_deleted_middle_entry_is_named(entries: int, cli: Cli, store: TestStore) -> None:
    assert await tamper(store, "DELETE FROM audit_log WHERE id = :id", {"id": 5}) == 1
    result = await cli("audit", "verify")
    assert_broken_at(result, 6, "entry 5 is missing")


async def test_a_deleted_last_entry_is_named(entries: int, cli: Cli, store: TestStore) -> None:
    assert await tamper(store, "DELETE FROM audit_log WHERE id = :id", {"id": entries}) == 1
    assert_broken_at(await cli("audit", "verify"), entries, f"{entries} are missing")


async def test_a_rewritten_entry_with_a_fresh_hash_breaks_the_next_link(
    entries: int, cli: Cli, store: TestStore, services: Services, system: AccessContext
) -> None:
    """Someone who knows the hash function rewrites entry 4 and recomputes its hash."""
    stored = {e.id: e for e in await services.audit.list_entries(system, limit=500)}
    forged = dataclasses.replace(chain_fields(stored[4]), target="eve@polres.co.uk")
    digest = entry_hash(stored[4].prev_hash, forged)
    sql = "UPDATE audit_log SET target = :t, hash = :h WHERE id = :id"
    assert await tamper(store, sql, {"t": forged.target, "h": digest, "id": 4}) == 1
    assert_broken_at(await cli("audit", "verify"), 5, "previous-hash link does not match")


async def test_a_rewritten_last_entry_no_longer_matches_the_head(
    entries: int, cli: Cli, store: TestStore, services: Services, system: AccessContext
) -> None:
    last = (await services.audit.list_entries(system, limit=1))[0]
    assert last.id == entries
    forged = dataclasses.replace(chain_fields(last), detail="channel=cli nothing happened")
    sql = "UPDATE audit_log SET detail = :d, hash = :h WHERE id = :id"
    params = {"d": forged.detail, "h": entry_hash(last.prev_hash, forged), "id": last.id}
    assert await tamper(store, sql, params) == 1
    assert_broken_at(await cli("audit", "verify"), entries, "head")
