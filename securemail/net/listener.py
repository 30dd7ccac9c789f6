"""TCP listeners with a cap on connections per client address and a graceful drain."""

import asyncio
import contextlib
import logging
import ssl
from collections import Counter
from collections.abc import Awaitable, Callable

from securemail.net.conn import Connection

log = logging.getLogger(__name__)
STREAM_LIMIT = 64 * 1024  # asyncio buffer; lines longer than this are cut by read_line

Handler = Callable[[Connection], Awaitable[None]]


class Listener:
    """One listening socket; each accepted connection runs `handler` in its own task."""

    def __init__(
        self,
        name: str,
        handler: Handler,
        *,
        max_per_ip: int,
        refusal: bytes,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.name = name
        self.handler = handler
        self.max_per_ip = max_per_ip
        self.refusal = refusal
        self.tls = tls
        self.per_ip: Counter[str] = Counter()
        self.tasks: set[asyncio.Task[None]] = set()
        self.server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> int:
        """Listen; returns the bound port (useful with port 0)."""
        self.server = await asyncio.start_server(
            self._accept, host, port, ssl=self.tls, limit=STREAM_LIMIT, reuse_address=True
        )
        bound = int(self.server.sockets[0].getsockname()[1])
        log.info("%s listening on %s:%d%s", self.name, host, bound, " (TLS)" if self.tls else "")
        return bound

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = Connection(reader, writer)
        ip = conn.peer_ip
        if self.per_ip[ip] >= self.max_per_ip:
            with contextlib.suppress(Exception):
                await conn.write(self.refusal)
            await conn.close()
            return
        self.per_ip[ip] += 1
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        try:
            await self.handler(conn)
        except Exception:
            log.exception("%s: session from %s failed", self.name, ip)
        finally:
            self.tasks.discard(task)
            self.per_ip[ip] -= 1
            if self.per_ip[ip] <= 0:
                del self.per_ip[ip]
            await conn.close()

    async def stop(self, grace: float = 10.0) -> None:
        """Stop accepting, give sessions `grace` seconds to finish, then cancel them."""
        if self.server is not None:
            self.server.close()
        if self.tasks:
            _done, pending = await asyncio.wait(set(self.tasks), timeout=grace)
            for task in pending:
                task.cancel()
        if self.server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 1)
