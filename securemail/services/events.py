"""Publish/subscribe of domain events, published only after commit.

The bus is in-process. The composition root may give it a `forwarder`: a callable that gets
every batch published here (never those that came from another node), to carry them to other
nodes (PostgreSQL NOTIFY, `store/notify.py`). Services know nothing of how.
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from securemail.core.events import Event

QUEUE_LIMIT = 1000

log = logging.getLogger("securemail.events")

Forwarder = Callable[[tuple[Event, ...]], None]
"""Takes a batch of locally published events; must not block and should not raise."""


class EventBus:
    """Fan-out to subscribers' bounded queues; a slow subscriber loses events, never blocks."""

    def __init__(self, forwarder: Forwarder | None = None) -> None:
        self._queues: set[asyncio.Queue[Event]] = set()
        self.forwarder = forwarder

    def publish(self, *events: Event) -> None:
        """Events committed by this process: to local subscribers, then to the forwarder."""
        self._fan_out(events)
        if self.forwarder is not None and events:
            try:
                self.forwarder(events)
            except Exception:  # the commit has happened; a lost cross-node event is not fatal
                log.exception("could not forward %d event(s) to other nodes", len(events))

    def publish_remote(self, *events: Event) -> None:
        """Events committed by another node: to local subscribers only, never forwarded."""
        self._fan_out(events)

    def _fan_out(self, events: tuple[Event, ...]) -> None:
        for queue in list(self._queues):
            for event in events:
                with contextlib.suppress(asyncio.QueueFull):
                    queue.put_nowait(event)

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[Event]]:
        queue: asyncio.Queue[Event] = asyncio.Queue(QUEUE_LIMIT)
        self._queues.add(queue)
        try:
            yield queue
        finally:
            self._queues.discard(queue)
