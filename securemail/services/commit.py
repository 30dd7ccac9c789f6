"""Group commit: concurrent deliveries share one durable transaction.

Each piece of work runs in a SAVEPOINT of the shared transaction, so one failing delivery
rolls back alone. Work that arrives while a commit is on disk waits for the next one: under
load the batches grow by themselves, and a lone delivery waits for no one.
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from securemail.store.db import Database

T = TypeVar("T")
Work = Callable[[AsyncConnection], Awaitable[Any]]
MAX_BATCH = 256


class GroupCommitter:
    def __init__(self, db: Database, window_ms: int = 0) -> None:
        self.db = db
        self.window = window_ms / 1000
        self._pending: list[tuple[Work, asyncio.Future[Any]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self.batches = 0  # counters for benchmarks and tests
        self.items = 0

    async def run(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run `work` in a shared transaction; return its result once durably committed."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.append((work, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_all())
        return await asyncio.shield(future)

    async def _flush_all(self) -> None:
        if self.window:
            await asyncio.sleep(self.window)
        while self._pending:
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            await self._commit(batch)

    async def _commit(self, batch: list[tuple[Work, asyncio.Future[Any]]]) -> None:
        outcomes: list[tuple[bool, Any]] = []
        try:
            async with self.db.write() as conn:
                for work, _future in batch:
                    outcomes.append(await self._one(conn, work))
        except Exception as exc:  # the commit itself failed: nothing in the batch is durable
            for _work, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        self.batches += 1
        self.items += len(batch)
        for (_work, future), (ok, value) in zip(batch, outcomes, strict=True):
            if future.done():
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)

    async def _one(self, conn: AsyncConnection, work: Work) -> tuple[bool, Any]:
        try:
            async with conn.begin_nested():
                return True, await work(conn)
        except Exception as exc:
            return False, exc
