"""Copy an SQLite store onto an empty PostgreSQL schema, table by table, and check the copy."""

import hashlib
import re
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic.script import ScriptDirectory
from sqlalchemy import DateTime, Integer, Table, event, func, inspect, select, text, union
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from securemail.core.errors import Conflict, InvalidInput, NotFound
from securemail.security.sealing import KeyringError
from securemail.store.blobs import IN_CHUNK, BlobStore, DatabaseBlobStore, FilesystemBlobStore
from securemail.store.db import Database
from securemail.store.migrate import alembic_config, upgrade
from securemail.store.repos.index import FTS_INSERT
from securemail.store.schema import audit_head, blob_data, contents, metadata, outbound_queue

Progress = Callable[[str, int, int], None]  # (what, done, total)
BLOB_BATCH_BYTES = 64 * 1024 * 1024  # blobs read and inserted at once, at most
_SCHEMA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
SEEDED = {audit_head.name}  # rows the first migration writes; replaced, not added to
FTS_SOURCE = "SELECT rowid, subject, from_addr, to_addrs, body FROM content_fts ORDER BY rowid"
SEARCH_INDEX = "search index"  # the name of the full-text rows in reports


@dataclass(frozen=True)
class Plan:
    """What to copy where: the blob source is the installation's configured blob store."""

    sqlite_path: Path
    source_blobs: BlobStore
    target: Database
    blobs_to_database: bool  # False: blobs stay in the filesystem store of the data dir
    schema: str | None = None  # created in the target when missing
    batch_size: int = 1000


@dataclass
class Report:
    """Row counts per table (source, target) and every mismatch found, in words."""

    counts: list[tuple[str, int, int]] = field(default_factory=list)
    blobs_checked: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def postgres_target(url: str, schema: str | None) -> Database:
    """A Database on the target, or InvalidInput saying what is wrong with the URL or schema."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise InvalidInput(f"--to {url!r} is not a database URL") from None
    if parsed.get_backend_name() != "postgresql":
        raise InvalidInput("--to must be a postgresql:// URL")
    if parsed.get_driver_name() != "asyncpg":
        parsed = parsed.set(drivername="postgresql+asyncpg")
    if schema is not None and not _SCHEMA_NAME.fullmatch(schema):
        raise InvalidInput("--schema must be a plain name: letters, digits, underscore")
    return Database(parsed.render_as_string(hide_password=False), schema=schema)


def shown(db: Database) -> str:
    """The target URL as an operator writes it, its password hidden, for messages."""
    url = make_url(db.url).set(drivername="postgresql")
    return url.render_as_string(hide_password=True)


def source_engine(path: Path) -> AsyncEngine:
    """The SQLite store opened read-only: the source is never written to."""
    if not path.is_file():
        raise InvalidInput(f"no SQLite store at {path}")
    engine = create_async_engine(f"sqlite+aiosqlite:///file:{path}?mode=ro&uri=true")

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves, as store/db.py does

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN")  # a read transaction: one snapshot of the whole store

    return engine


# --- before: the source is current, the target reachable and empty ---------------------


async def check_source(source: AsyncConnection) -> None:
    """Refuse a source whose schema is not the newest one (its columns would not match)."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    try:
        found = await source.scalar(text("SELECT version_num FROM alembic_version"))
    except SQLAlchemyError:
        found = None
    if found != head:
        raise InvalidInput(
            f"the source store is at schema revision {found}, not {head}: "
            "run `securemail migrate` on it first"
        )


async def prepare_target(db: Database, schema: str | None) -> None:
    """Connect, refuse a target holding data, then create the schema and its tables."""
    try:
        async with db.engine.begin() as conn:
            if schema:
                await conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    except (SQLAlchemyError, OSError) as exc:
        reason = (str(getattr(exc, "orig", None) or exc).splitlines() or ["?"])[0][:200]
        raise InvalidInput(f"cannot use the target {shown(db)}: {reason}") from None
    async with db.engine.connect() as conn:
        await require_empty(conn)
    await upgrade(db)


_INDEX_COUNTS = {  # the full-text tables, outside metadata
    "content_search": "SELECT count(*) FROM content_search",
    "content_fts": "SELECT count(*) FROM content_fts",
}
MIGRATE_ADVICE = "migrate only into an empty database or schema"


async def require_empty(conn: AsyncConnection, advice: str = MIGRATE_ADVICE) -> None:
    """Conflict naming the tables of the target that already hold rows."""
    present = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    full = []
    for table in metadata.sorted_tables:
        if table.name in present and await _holds_data(conn, table):
            full.append(table.name)
    for index, count in _INDEX_COUNTS.items():
        if index in present and await conn.scalar(text(count)):
            full.append(index)
    if full:
        raise Conflict(
            f"the target already holds data (in {', '.join(full)}): {advice}; nothing was changed"
        )


async def _holds_data(conn: AsyncConnection, table: Table) -> bool:
    query = select(func.count()).select_from(table)
    if table is audit_head:  # the migration's own row: an empty chain
        query = query.where(audit_head.c.last_id != 0)
    return bool(await conn.scalar(query))


# --- the copy: every table in foreign-key order, then the search index and the blobs ---


def copied_tables() -> list[Table]:
    """Parents before children; blob_data is copied as blobs (it may come from files)."""
    return [t for t in metadata.sorted_tables if t is not blob_data]


async def copy_all(
    source: AsyncConnection, target: AsyncConnection, plan: Plan, on: Progress
) -> None:
    """Copy in the caller's target transaction: a failure leaves the target empty."""
    await require_empty(target)  # again, inside the transaction that writes
    for table in copied_tables():
        await copy_table(source, target, table, plan.batch_size, on)
    await copy_search_index(source, target, plan.batch_size, on)
    if plan.blobs_to_database:
        await copy_blobs(source, target, plan, on)
    await reset_sequences(target)


async def copy_table(
    source: AsyncConnection, target: AsyncConnection, table: Table, batch: int, on: Progress
) -> None:
    total = int(await source.scalar(select(func.count()).select_from(table)) or 0)
    if table.name in SEEDED:
        await target.execute(table.delete())
    on(table.name, 0, total)
    done = 0
    query = select(table).order_by(*table.primary_key.columns)
    async for rows in batches(source, query, batch):
        await target.execute(table.insert(), [_aware(table, row._mapping) for row in rows])
        done += len(rows)
        on(table.name, done, total)


async def batches(conn: AsyncConnection, query: Any, size: int) -> AsyncIterator[list[Any]]:
    result = await conn.stream(query)
    async for partition in result.partitions(size):
        yield list(partition)


def _aware(table: Table, row: Any) -> dict[str, Any]:
    """SQLite returns naive datetimes that are UTC; PostgreSQL is told so explicitly."""
    values = dict(row)
    for column in table.columns:
        value = values.get(column.name)
        if isinstance(column.type, DateTime) and isinstance(value, datetime) and not value.tzinfo:
            values[column.name] = value.replace(tzinfo=UTC)
    return values


async def copy_search_index(
    source: AsyncConnection, target: AsyncConnection, batch: int, on: Progress
) -> None:
    """SQLite's FTS5 rows become PostgreSQL tsvector documents of the same contents."""
    total = int(await source.scalar(text("SELECT count(*) FROM content_fts")) or 0)
    on(SEARCH_INDEX, 0, total)
    done = 0
    async for rows in batches(source, text(FTS_SOURCE), batch):
        params = [
            {"id": r[0], "subject": r[1], "from_addr": r[2], "to_addrs": r[3], "body": r[4]}
            for r in rows
        ]
        await target.execute(text(FTS_INSERT["postgresql"]), params)
        done += len(rows)
        on(SEARCH_INDEX, done, total)


async def referenced_blobs(conn: AsyncConnection) -> dict[str, int]:
    """Every blob a row points at, with its size: message contents and queued outbound mail."""
    query = union(
        select(contents.c.blob_id, contents.c.size),
        select(outbound_queue.c.blob_id, outbound_queue.c.size),
    )
    return {str(r[0]): int(r[1]) for r in sorted(await conn.execute(query))}


async def copy_blobs(
    source: AsyncConnection, target: AsyncConnection, plan: Plan, on: Progress
) -> None:
    """Each blob opened and sealed again under the current key, under its recorded id (never
    in clear in the target): the check afterwards judges them."""
    wanted = await referenced_blobs(source)
    done = 0
    seal = plan.source_blobs.keyring.seal
    on("blobs", 0, len(wanted))
    for chunk in blob_batches(wanted, min(plan.batch_size, IN_CHUNK)):
        found = await plan.source_blobs.get_many(source, chunk)
        rows = [{"id": blob_id, "data": seal(data, blob_id)} for blob_id, data in found.items()]
        if rows:  # a missing blob is reported by the check, not here
            await target.execute(blob_data.insert(), rows)
        done += len(chunk)
        on("blobs", done, len(wanted))


def blob_batches(sizes: dict[str, int], count: int) -> list[list[str]]:
    """Ids in batches of at most `count` blobs and, unless one alone is larger, of at most
    BLOB_BATCH_BYTES: memory stays bounded however large the messages are."""
    groups: list[list[str]] = []
    total = 0
    for blob_id, size in sizes.items():
        if not groups or len(groups[-1]) >= count or total + size > BLOB_BATCH_BYTES:
            groups.append([])
            total = 0
        groups[-1].append(blob_id)
        total += size
    return groups


def _chunks(items: Sequence[str], size: int) -> list[Sequence[str]]:
    return [items[i : i + size] for i in range(0, len(items), max(1, size))]


async def reset_sequences(target: AsyncConnection) -> None:
    """Each serial id column continues after the largest copied id."""
    for table in metadata.sorted_tables:
        column = table.columns.get("id")
        if column is None or not isinstance(column.type, Integer) or not column.autoincrement:
            continue  # ids given by the application (audit_log) or not numbers (blob_data)
        sequence = func.pg_get_serial_sequence(table.name, "id")
        after = func.coalesce(func.max(column), 0) + 1
        await target.execute(select(func.setval(sequence, after, False)).select_from(table))


# --- after: equal row counts, and every blob present with its SHA-256 -----------------


async def row_counts(conn: AsyncConnection, count_index: str) -> dict[str, int]:
    counts = {}
    for table in copied_tables():
        counts[table.name] = int(await conn.scalar(select(func.count()).select_from(table)) or 0)
    counts[SEARCH_INDEX] = int(await conn.scalar(text(count_index)) or 0)
    return counts


async def compare_counts(source: AsyncConnection, target: AsyncConnection, report: Report) -> None:
    before = await row_counts(source, "SELECT count(*) FROM content_fts")
    after = await row_counts(target, "SELECT count(*) FROM content_search")
    for name, count in before.items():
        report.counts.append((name, count, after[name]))
        if count != after[name]:
            report.problems.append(f"{name}: {count} rows in the source, {after[name]} copied")


async def check_blobs(
    target: AsyncConnection, store: BlobStore, report: Report, where: str
) -> None:
    """Open every referenced blob of the store the target will use (its seal is checked) and
    hash the plaintext: the SHA-256 must be its id."""
    wanted = list(await referenced_blobs(target))
    digests: dict[str, str] = {}
    for chunk in _chunks(wanted, IN_CHUNK):
        for blob_id in chunk:
            try:
                data = await store.get(target, blob_id)
            except NotFound:
                continue
            except KeyringError:
                digests[blob_id] = "its seal does not check"
                continue
            digests[blob_id] = hashlib.sha256(data).hexdigest()
    _judge(wanted, digests, report, where)


def _judge(wanted: Sequence[str], digests: dict[str, str], report: Report, where: str) -> None:
    report.blobs_checked = len(wanted)
    for blob_id in wanted:
        if blob_id not in digests:
            report.problems.append(f"blob {blob_id} is missing {where}")
        elif digests[blob_id] != blob_id:
            report.problems.append(
                f"blob {blob_id} does not match its SHA-256 {where} (its bytes were changed)"
            )


# --- the whole run ---------------------------------------------------------------------


async def transfer(plan: Plan, on: Progress) -> Report:
    """Copy the SQLite store into the empty target, commit, then check the committed copy."""
    engine = source_engine(plan.sqlite_path)
    try:
        async with engine.connect() as source, source.begin():  # one snapshot throughout
            await check_source(source)
            await prepare_target(plan.target, plan.schema)
            async with plan.target.engine.begin() as target:
                await copy_all(source, target, plan, on)
            return await check(source, plan)
    finally:
        await engine.dispose()


async def check(source: AsyncConnection, plan: Plan) -> Report:
    report = Report()
    async with plan.target.engine.connect() as target:
        await compare_counts(source, target, report)
        keyring = plan.source_blobs.keyring
        if plan.blobs_to_database:
            where = "in the target's blob_data table"
            await check_blobs(target, DatabaseBlobStore(keyring), report, where)
        elif isinstance(plan.source_blobs, FilesystemBlobStore):
            await check_blobs(target, plan.source_blobs, report, f"under {plan.source_blobs.root}")
    return report
