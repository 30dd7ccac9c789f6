"""A client connection: bounded line reading with an idle timeout, writing, STARTTLS, and
the listener's shutdown signal that tells a session to finish (graceful drain)."""

import asyncio
import contextlib
import socket
import ssl
from typing import Any, Protocol


class ConnectionClosed(Exception):
    """The peer closed the connection (or it broke)."""


class IdleTimeout(Exception):
    """The peer sent nothing for the idle timeout."""


class ShuttingDown(Exception):
    """The server is draining: the session should say goodbye in its protocol and close."""


class Channel(Protocol):
    """What a protocol session needs from a connection; net.conn.Connection is the real one."""

    peer_ip: str
    is_tls: bool

    async def read_line(self, limit: int, timeout: float) -> tuple[bytes, bool]: ...

    async def write(self, data: bytes) -> None: ...

    async def start_tls(self, context: ssl.SSLContext) -> None: ...

    async def close(self) -> None: ...


class Connection:
    """asyncio streams behind the Channel interface."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        peer_ip: str | None = None,
        shutdown: "Shutdown | None" = None,
    ) -> None:
        self.reader = reader
        self.writer = writer
        peer = writer.get_extra_info("peername")
        self.socket_peer_ip: str = str(peer[0]) if peer else "unknown"
        # The client: from a trusted balancer's PROXY header, else the socket's peer.
        self.peer_ip: str = peer_ip or self.socket_peer_ip
        self.shutdown = shutdown if shutdown is not None else Shutdown()
        self.is_tls = writer.get_extra_info("sslcontext") is not None
        self.discarded_before_tls = 0
        sock = writer.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    async def read_line(self, limit: int, timeout: float) -> tuple[bytes, bool]:
        """The next line with its LF, and whether it was longer than `limit` (then cut off:
        the rest of the line is read and thrown away, so the stream stays in step)."""
        try:
            async with asyncio.timeout(timeout):
                return await self._read_line(limit)
        except TimeoutError:
            raise IdleTimeout from None
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
            raise ConnectionClosed from None

    async def _read_line(self, limit: int) -> tuple[bytes, bool]:
        overlong = False
        while True:
            try:
                line = await self.reader.readuntil(b"\n")
            except asyncio.LimitOverrunError as exc:
                await self.reader.readexactly(exc.consumed)  # discard, keep looking for LF
                overlong = True
                continue
            except asyncio.IncompleteReadError as exc:
                if exc.partial:
                    return exc.partial, overlong or len(exc.partial) > limit
                raise ConnectionClosed from None
            return (b"" if overlong else line), overlong or len(line) > limit

    async def write(self, data: bytes) -> None:
        try:
            self.writer.write(data)
            await self.writer.drain()
        except (ConnectionError, ssl.SSLError) as exc:
            raise ConnectionClosed from exc

    async def start_tls(self, context: ssl.SSLContext) -> None:
        """Upgrade in place (RFC 3207, RFC 2595).

        Whatever the client sent after the STARTTLS command in clear is thrown away before the
        handshake: it must never be read as if it had come over TLS (command injection,
        CVE-2011-0411 class).
        """
        self.discarded_before_tls = self._drop_buffered()
        try:
            await self.writer.start_tls(context)
        except (ConnectionError, ssl.SSLError, OSError) as exc:
            raise ConnectionClosed from exc
        self.is_tls = True

    def _drop_buffered(self) -> int:
        # StreamReader has no public way to drop its buffer; it is a bytearray in CPython.
        buffer = getattr(self.reader, "_buffer", None)
        if isinstance(buffer, bytearray) and buffer:
            count = len(buffer)
            buffer.clear()
            return count
        return 0

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()
            await asyncio.wait_for(self.writer.wait_closed(), 5)


class Shutdown:
    """A listener's drain signal. Sessions wait for their next command through `read_line`;
    `set` interrupts those waits, and only those, with ShuttingDown: a command being executed
    (an SMTP DATA, an IMAP APPEND literal) is never cut off.

    No task per read: a waiting session is cancelled, and the cancellation is turned into
    ShuttingDown where it lands (a command read is on every session's hot path).
    """

    def __init__(self) -> None:
        self._set = False
        self._waiting: set[asyncio.Task[Any]] = set()

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        self._set = True
        for task in list(self._waiting):
            task.cancel()

    async def read_line(self, channel: Channel, limit: int, timeout: float) -> tuple[bytes, bool]:
        if self._set:
            raise ShuttingDown
        task = asyncio.current_task()
        assert task is not None
        self._waiting.add(task)
        try:
            return await channel.read_line(limit, timeout)
        except asyncio.CancelledError:
            if self._set and task.uncancel() == 0:  # our cancel, and nobody else's
                raise ShuttingDown from None
            raise
        finally:
            self._waiting.discard(task)


async def read_line_unless_shutdown(
    channel: Channel, shutdown: Shutdown | None, limit: int, timeout: float
) -> tuple[bytes, bool]:
    """channel.read_line, or ShuttingDown once `shutdown` is set (already, or while waiting)."""
    if shutdown is None:
        return await channel.read_line(limit, timeout)
    return await shutdown.read_line(channel, limit, timeout)
