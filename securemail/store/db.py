"""The async engine: SQLite in WAL mode with BEGIN IMMEDIATE writes, or PostgreSQL by URL."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from securemail.core.errors import Conflict, TemporaryFailure
from securemail.security.sealing import Keyring
from securemail.store.repos.common import KEYRING_OPTION


class Database:
    """Owns the engine; `write()` and `read()` give one transaction each.

    SQLite: every write transaction starts with BEGIN IMMEDIATE (a deferred BEGIN loses
    read-then-write updates, STACK.md gotcha 1) and commits with synchronous=FULL, so a commit
    that returned is on disk. PostgreSQL: READ COMMITTED plus row locks where services need them.
    """

    def __init__(
        self,
        url: str,
        busy_timeout_ms: int = 5000,
        schema: str | None = None,
        keyring: Keyring | None = None,
    ) -> None:
        self.url = url
        self.keyring = keyring
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        self.is_sqlite = self.dialect == "sqlite"
        if self.is_sqlite and parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs: dict[str, Any] = {}
        if keyring is not None:  # the full-text index's keyed tokens (store/repos/index.py)
            kwargs["execution_options"] = {KEYRING_OPTION: keyring}
        if not self.is_sqlite:
            kwargs.update(pool_size=10, max_overflow=20, pool_pre_ping=True)
            if schema:  # tests isolate each run in a schema of its own
                kwargs["connect_args"] = {"server_settings": {"search_path": schema}}
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        # SQLite has one writer: writers of this process queue here in order, instead of
        # polling the busy handler (unfair: under load some waited past busy_timeout).
        self._writer = asyncio.Lock() if self.is_sqlite else None
        if self.is_sqlite:
            self._configure_sqlite(busy_timeout_ms)

    def _configure_sqlite(self, busy_timeout_ms: int) -> None:
        sync_engine = self.engine.sync_engine

        @event.listens_for(sync_engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA secure_delete=ON")  # deleted rows leave no text behind
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            cursor.close()

        @event.listens_for(sync_engine, "begin")
        def _on_begin(conn: Any) -> None:
            mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
            conn.exec_driver_sql(f"BEGIN {mode}")

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """One write transaction; commits on success, rolls back on any exception."""
        try:
            async with self._queue(), self.engine.connect() as conn:
                if self.is_sqlite:
                    conn = await conn.execution_options(sqlite_begin="IMMEDIATE")
                async with conn.begin():
                    yield conn
        except OperationalError as exc:
            if "locked" in str(exc).lower() or "busy" in str(exc).lower():
                raise TemporaryFailure("the store is busy, try again") from exc
            raise
        except IntegrityError as exc:  # a concurrent writer won a uniqueness race
            raise Conflict(
                "it already exists (changed at the same moment by someone else)"
            ) from exc

    @contextlib.asynccontextmanager
    async def _queue(self) -> AsyncIterator[None]:
        if self._writer is None:
            yield
            return
        async with self._writer:
            yield

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """One read transaction (a consistent snapshot on both engines)."""
        async with self.engine.connect() as conn, conn.begin():
            yield conn

    async def dispose(self) -> None:
        await self.engine.dispose()

    async def ping(self) -> None:
        """Raise unless the database answers a trivial query."""
        async with self.engine.connect() as conn:
            await conn.exec_driver_sql("SELECT 1")
