"""Alembic environment: runs migrations on the async engine named in the config."""

import asyncio
from typing import Any

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from securemail.store.schema import metadata

# Tables made by hand in migrations (full-text index) that autogenerate must leave alone.
_HAND_MADE = {"content_fts", "content_search"}


def _include_object(obj: Any, name: str | None, type_: str, *_: Any) -> bool:
    if type_ == "table" and name is not None:
        return name not in _HAND_MADE and not name.startswith("content_fts_")
    return True


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,
        include_object=_include_object,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(url: str) -> None:
    engine = create_async_engine(url)
    async with engine.connect() as conn:
        await conn.run_sync(_run)
        await conn.commit()
    await engine.dispose()


def run() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    assert url, "sqlalchemy.url must be set"
    asyncio.run(_run_async(url))


run()
