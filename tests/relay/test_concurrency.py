"""Several nodes on one queue: two workers, each with its own database engine, claim at the
same time; the remote sees every recipient exactly once (FOR UPDATE SKIP LOCKED on
PostgreSQL, BEGIN IMMEDIATE on SQLite)."""

import asyncio
from collections import Counter

from securemail import app
from tests.conftest import TestStore
from tests.relay.conftest import REMOTE, World, message, serve_sink


async def test_two_workers_never_send_a_recipient_twice(world: World, store: TestStore) -> None:
    other = app.build(store.settings)  # a second node: its own engine and connection pool
    try:
        expected = []
        for n in range(12):
            recipients = [f"user{n}.{i}@{REMOTE}" for i in range(3)]
            await world.enqueue(message(subject=f"Case {n}"), recipients)
            expected += recipients
        async with serve_sink() as sink:
            first = world.worker(sink.port, node="node-a", batch_size=4)
            second = world.worker(sink.port, node="node-b", services=other.services, batch_size=4)
            handled = Counter[str]()
            while True:
                a, b = await asyncio.gather(first.run_once(), second.run_once())
                handled.update({"a": a, "b": b})
                if a == b == 0:
                    break
        seen = Counter(sink.handler.recipients())
        assert sorted(seen) == sorted(expected)
        assert set(seen.values()) == {1}
        assert handled["a"] > 0 and handled["b"] > 0
        assert handled["a"] + handled["b"] == len(expected)
        assert {r.status for r in await world.rows()} == {"sent"}
    finally:
        await other.close()
