"""TCP listeners with a cap on connections per client address, the PROXY protocol from
trusted balancers, and a graceful drain (stop accepting, tell sessions, wait, cancel)."""

import asyncio
import contextlib
import logging
import socket
import ssl
from collections import Counter
from collections.abc import Awaitable, Callable

from securemail.net.conn import Connection, Shutdown
from securemail.net.proxy import ProxyPolicy, read_header
from securemail.net.proxy import client_ip as proxied_client
from securemail.wire.proxy import ProxyError

log = logging.getLogger(__name__)
STREAM_LIMIT = 64 * 1024  # asyncio buffer; lines longer than this are cut by read_line
BACKLOG = 100

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
        self.proxy: ProxyPolicy | None = None
        self.shutdown = Shutdown()  # set when draining: sessions say goodbye and close
        self._sockets: list[socket.socket] = []
        self._accepting: list[asyncio.Task[None]] = []

    async def start(self, host: str, port: int, proxy: ProxyPolicy | None = None) -> int:
        """Listen; returns the bound port (useful with port 0). With a PROXY policy the
        listener accepts plain TCP itself and starts TLS after a trusted peer's header."""
        self.proxy = proxy
        if proxy is None:
            self.server = await asyncio.start_server(
                self._accept, host, port, ssl=self.tls, limit=STREAM_LIMIT, reuse_address=True
            )
            bound = int(self.server.sockets[0].getsockname()[1])
        else:
            self._sockets = _bind(host, port)
            bound = int(self._sockets[0].getsockname()[1])
            for sock in self._sockets:
                self._accepting.append(asyncio.create_task(self._accept_loop(sock)))
        log.info("%s listening on %s:%d%s", self.name, host, bound, " (TLS)" if self.tls else "")
        return bound

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._serve(Connection(reader, writer, shutdown=self.shutdown))

    async def _accept_loop(self, listening: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                sock, address = await loop.sock_accept(listening)
            except OSError as exc:  # EMFILE and the like: log, breathe, go on
                log.warning("%s: accept failed: %s", self.name, exc)
                await asyncio.sleep(0.1)
                continue
            task = asyncio.create_task(self._accept_proxied(sock, str(address[0])))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _accept_proxied(self, sock: socket.socket, peer_ip: str) -> None:
        """A trusted balancer's header first (else close), then TLS on implicit-TLS ports."""
        assert self.proxy is not None
        client_ip = peer_ip
        try:
            if self.proxy.trusts(peer_ip):
                header = await read_header(sock, self.proxy.timeout)
                client_ip = proxied_client(header, peer_ip)
            reader, writer = await _open_streams(sock, self.tls)
        except (ProxyError, OSError) as exc:  # ssl.SSLError is an OSError
            log.info("%s: closed a connection from %s: %s", self.name, peer_ip, exc)
            sock.close()
            return
        except BaseException:
            sock.close()
            raise
        await self._serve(Connection(reader, writer, peer_ip=client_ip, shutdown=self.shutdown))

    async def _serve(self, conn: Connection) -> None:
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

    def stop_accepting(self) -> None:
        """Close the listening sockets: new connections are refused from now on."""
        if self.server is not None:
            self.server.close()
        for task in self._accepting:
            task.cancel()
        for sock in self._sockets:
            sock.close()

    async def drain(self, grace: float) -> None:
        """Tell sessions to finish (`shutdown`), wait up to `grace` seconds, cancel the rest."""
        self.shutdown.set()
        if self.tasks:
            _done, pending = await asyncio.wait(set(self.tasks), timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=1)
        if self._accepting:
            await asyncio.wait(self._accepting, timeout=1)
        if self.server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 1)

    async def stop(self, grace: float = 10.0) -> None:
        """Stop accepting, then drain."""
        self.stop_accepting()
        await self.drain(grace)


def _bind(host: str, port: int) -> list[socket.socket]:
    """Non-blocking listening sockets for every address `host` names (one port for all)."""
    sockets: list[socket.socket] = []
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    for family, kind, proto, _name, address in dict.fromkeys(infos):
        sock = socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if sockets and port == 0:  # port 0: every address on the first one's port
                address = (address[0], sockets[0].getsockname()[1], *address[2:])
            sock.bind(address)
            sock.listen(BACKLOG)
            sock.setblocking(False)
        except OSError:
            sock.close()
            for other in sockets:
                other.close()
            raise
        sockets.append(sock)
    return sockets


async def _open_streams(
    sock: socket.socket, tls: ssl.SSLContext | None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """asyncio streams over an accepted socket, after the TLS handshake when `tls` is set."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=STREAM_LIMIT, loop=loop)
    protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
    transport, _ = await loop.connect_accepted_socket(lambda: protocol, sock, ssl=tls)
    writer = asyncio.StreamWriter(transport, protocol, reader, loop)
    return reader, writer
