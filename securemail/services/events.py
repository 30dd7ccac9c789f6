"""In-process publish/subscribe of domain events, published only after commit."""

import asyncio
import contextlib
from collections.abc import AsyncIterator

from securemail.core.events import Event

QUEUE_LIMIT = 1000


class EventBus:
    """Fan-out to subscribers' bounded queues; a slow subscriber loses events, never blocks."""

    def __init__(self) -> None:
        self._queues: set[asyncio.Queue[Event]] = set()

    def publish(self, *events: Event) -> None:
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
