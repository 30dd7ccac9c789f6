"""Group commit: concurrent deliveries share one durable transaction.

Work arrives as closures (each run in a SAVEPOINT of the shared transaction, so one failure
rolls back alone) or as items of a batch function (all items of one kind handled by one call,
a fixed number of statements per batch; on failure each item is retried alone to isolate the
culprit). Work that arrives while a commit is on disk waits for the next one: under load the
batches grow by themselves, and a lone delivery waits for no one.
"""

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from securemail.store.db import Database

T = TypeVar("T")
Work = Callable[[AsyncConnection], Awaitable[Any]]
BatchWork = Callable[[AsyncConnection, list[Any]], Awaitable[list[Any]]]
MAX_BATCH = 256
Outcome = tuple[bool, Any]


@dataclass(eq=False)
class _Job:
    future: asyncio.Future[Any]
    work: Work | None = None
    batch: BatchWork | None = None
    item: Any = None


class GroupCommitter:
    def __init__(self, db: Database, window_ms: int = 0) -> None:
        self.db = db
        self.window = window_ms / 1000
        self._pending: list[_Job] = []
        self._flusher: asyncio.Task[None] | None = None
        self.batches = 0  # counters for benchmarks and tests
        self.items = 0

    async def run(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run `work` in a shared transaction; return its result once durably committed."""
        result: T = await self._submit(_Job(self._future(), work=work))
        return result

    async def run_batched(self, batch: BatchWork, item: Any) -> Any:
        """Hand `item` to `batch` together with the other items of the same commit."""
        return await self._submit(_Job(self._future(), batch=batch, item=item))

    def _future(self) -> asyncio.Future[Any]:
        return asyncio.get_running_loop().create_future()

    async def _submit(self, job: _Job) -> Any:
        self._pending.append(job)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_all())
        return await asyncio.shield(job.future)

    async def _flush_all(self) -> None:
        if self.window:
            await asyncio.sleep(self.window)
        while self._pending:
            jobs, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            await self._commit(jobs)

    async def _commit(self, jobs: list[_Job]) -> None:
        outcomes: dict[_Job, Outcome] = {}
        try:
            async with self.db.write() as conn:
                alone = len(jobs) == 1
                for batch, group in _by_batch(jobs).items():
                    outcomes.update(await self._batch(conn, batch, group))
                for job in (j for j in jobs if j.work is not None):
                    assert job.work is not None
                    outcomes[job] = await self._one(conn, job.work, alone)
        except Exception as exc:  # the commit itself failed: nothing in the batch is durable
            for job in jobs:
                if not job.future.done():
                    job.future.set_exception(exc)
            return
        self.batches += 1
        self.items += len(jobs)
        for job, (ok, value) in outcomes.items():
            if job.future.done():
                continue
            if ok:
                job.future.set_result(value)
            else:
                job.future.set_exception(value)

    async def _batch(
        self, conn: AsyncConnection, batch: BatchWork, group: list[_Job]
    ) -> dict[_Job, Outcome]:
        try:
            async with conn.begin_nested():  # rolled back to here if the batch fails
                results = await batch(conn, [j.item for j in group])
            return {job: (True, r) for job, r in zip(group, results, strict=True)}
        except Exception as exc:
            if len(group) == 1:
                return {group[0]: (False, exc)}
        out: dict[_Job, Outcome] = {}
        for job in group:  # one of them is bad: find it, keep the others

            async def single(c: AsyncConnection, job: _Job = job) -> Any:
                return (await batch(c, [job.item]))[0]

            out[job] = await self._one(conn, single, False)
        return out

    async def _one(self, conn: AsyncConnection, work: Work, alone: bool) -> Outcome:
        if alone:  # the only work in this transaction: a failure rolls all of it back
            return True, await work(conn)
        try:
            async with conn.begin_nested():
                return True, await work(conn)
        except Exception as exc:
            return False, exc


def _by_batch(jobs: list[_Job]) -> dict[BatchWork, list[_Job]]:
    groups: dict[BatchWork, list[_Job]] = {}
    for job in jobs:
        if job.batch is not None:
            groups.setdefault(job.batch, []).append(job)
    return groups
