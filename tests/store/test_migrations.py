"""Migrations build the whole schema from nothing, run again harmlessly, and go down and up."""

from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from securemail.core.context import AccessContext
from securemail.store.db import Database
from securemail.store.migrate import alembic_config, current_revision, upgrade
from securemail.store.schema import metadata
from tests.store.conftest import MakeRuntime

FULLTEXT = {"sqlite": "content_fts", "postgresql": "content_search"}


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def hand_made(name: str | None) -> bool:
    return name is not None and (name.startswith("content_fts") or name == "content_search")


async def table_names(db: Database) -> set[str]:
    async with db.engine.connect() as conn:
        return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))


async def schema_drift(db: Database) -> list[Any]:
    """What autogenerate would change: the migrated schema against schema.py."""

    def compare(conn: Connection) -> list[Any]:
        context = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "include_object": lambda obj, name, type_, *_: not hand_made(name),
            },
        )
        return list(compare_metadata(context, metadata))

    async with db.engine.connect() as conn:
        return await conn.run_sync(compare)


async def run_alembic(db: Database, verb: str, target: str) -> None:
    def go(conn: Connection) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        getattr(command, verb)(cfg, target)

    async with db.engine.connect() as conn:
        await conn.run_sync(go)
        await conn.commit()


async def test_the_migrations_build_the_whole_schema_from_empty(make_runtime: MakeRuntime) -> None:
    runtime = await make_runtime(migrate=False)
    assert await table_names(runtime.db) == set()
    await upgrade(runtime.db)
    tables = await table_names(runtime.db)
    assert set(metadata.tables) <= tables
    assert FULLTEXT[runtime.db.dialect] in tables
    assert "alembic_version" in tables
    assert await current_revision(runtime.db) == head_revision()
    assert await schema_drift(runtime.db) == []


async def test_a_fresh_schema_starts_an_empty_audit_chain(
    make_runtime: MakeRuntime, system: AccessContext
) -> None:
    runtime = await make_runtime()
    assert await runtime.services.audit.head(system) == (0, "0" * 64)
    report = await runtime.services.audit.verify(system)
    assert report.ok and report.checked == 0


async def test_upgrading_again_changes_nothing_and_keeps_data(
    make_runtime: MakeRuntime, system: AccessContext
) -> None:
    runtime = await make_runtime()
    tables = await table_names(runtime.db)
    await runtime.services.directory.create_org(system, "Kept Ltd", "kept.example")
    await upgrade(runtime.db)
    await upgrade(runtime.db)
    assert await table_names(runtime.db) == tables
    assert await current_revision(runtime.db) == head_revision()
    orgs = await runtime.services.directory.list_orgs(system)
    assert [(o.name, o.domains) for o in orgs] == [("Kept Ltd", ("kept.example",))]
    report = await runtime.services.audit.verify(system)
    assert report.ok and report.checked == 1


async def test_downgrade_to_base_and_upgrade_again(
    make_runtime: MakeRuntime, system: AccessContext
) -> None:
    runtime = await make_runtime()
    full = await table_names(runtime.db)
    await runtime.services.directory.create_org(system, "Gone Ltd", "gone.example")
    await run_alembic(runtime.db, "downgrade", "base")
    assert await table_names(runtime.db) <= {"alembic_version"}
    assert await current_revision(runtime.db) is None
    await run_alembic(runtime.db, "upgrade", "head")
    assert await table_names(runtime.db) == full
    assert await current_revision(runtime.db) == head_revision()
    assert await runtime.services.directory.list_orgs(system) == []
    org = await runtime.services.directory.create_org(system, "Back Ltd", "back.example")
    assert org.domains == ("back.example",)
    assert (await runtime.services.audit.verify(system)).checked == 1
