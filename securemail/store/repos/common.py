"""Helpers shared by the repositories."""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, literal_column
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from securemail.security.sealing import Keyring
from securemail.store.schema import messages

IN_CHUNK = 500  # ids per IN (...) list: under SQLite's and asyncpg's parameter limits


def now() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; every datetime we return is aware, in UTC."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def like_escape(text: str) -> str:
    """Escape LIKE wildcards so user text matches literally (used with escape='\\\\')."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def upsert(
    conn: AsyncConnection,
    table: Table,
    values: dict[str, Any],
    keys: list[str],
    update: list[str],
) -> Any:
    """INSERT ... ON CONFLICT (keys) DO UPDATE SET the `update` columns."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(table).values(values)
    return stmt.on_conflict_do_update(
        index_elements=keys, set_={c: stmt.excluded[c] for c in update}
    )


def insert_ignore(conn: AsyncConnection, table: Table, values: dict[str, Any]) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING in the connection's dialect (no values: executemany)."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(table)
    return (stmt.values(values) if values else stmt).on_conflict_do_nothing()


KEYRING_OPTION = "securemail_keyring"  # the engine-wide execution option store/db.py sets


def keyring_of(conn: AsyncConnection) -> Keyring:
    sync = conn.sync_connection
    keyring = sync.get_execution_options().get(KEYRING_OPTION) if sync is not None else None
    if not isinstance(keyring, Keyring):
        raise RuntimeError("this database was opened without a keyring: sealing needs one")
    return keyring


def by_id_in_folder(folder_id: int, ids: list[int]) -> ColumnElement[bool]:
    """Messages of `ids` that are in `folder_id`, looked up by primary key. The folder test
    is written `folder_id + 0 = ?` so that no index serves it (sqlite.org/optoverview.html,
    "disqualifying WHERE clause terms"): SQLite, without statistics, otherwise walks the whole
    folder's index for every batch of ids, so a FETCH of a folder cost its size squared."""
    return and_(messages.c.id.in_(ids), messages.c.folder_id + literal_column("0") == folder_id)
