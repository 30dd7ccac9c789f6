"""The running service: listeners, web server and workers over app.build (securemail serve)."""

import asyncio
import contextlib
import json
import logging
import signal
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn

from securemail.app import Runtime, build
from securemail.config import Settings
from securemail.mailauth.verify import check_message
from securemail.net.dns import DnsPythonResolver, Resolver
from securemail.net.listener import Listener
from securemail.net.proxy import ProxyPolicy
from securemail.net.tls import ensure_self_signed, server_context
from securemail.protocols.imap.server import imap_listeners
from securemail.protocols.pop3.server import pop3_listeners
from securemail.protocols.smtp.server import smtp_listeners
from securemail.protocols.smtp.session import AuthVerdict, MessageChecker
from securemail.store.migrate import upgrade
from securemail.store.notify import EventBridge, channel_for, listen_dsn
from securemail.store.reseal import index_missing
from securemail.web.app import create_app
from securemail.web.health import Readiness
from securemail.workers.outbound import OutboundWorker

log = logging.getLogger("securemail")


def make_resolver(settings: Settings) -> Resolver:
    servers = [s.strip() for s in settings.dns.nameservers.split(",") if s.strip()]
    return DnsPythonResolver(servers, float(settings.dns.timeout_seconds))


def make_checker(settings: Settings, resolver: Resolver) -> MessageChecker:
    """SPF, DKIM and DMARC for every message arriving on the MX listener."""
    authserv_id = settings.server.hostname

    async def check(raw: bytes, client_ip: str, helo: str, mail_from: str) -> AuthVerdict:
        return await check_message(
            raw,
            client_ip=client_ip,
            helo=helo,
            mail_from=mail_from,
            resolver=resolver,
            authserv_id=authserv_id,
            timeout=float(settings.dns.timeout_seconds) * 2,
        )

    return check


def tls_context(settings: Settings) -> ssl.SSLContext:
    """The configured certificate, or a self-signed one made once in <data_dir>/tls."""
    smtp = settings.smtp
    if smtp.tls_cert_file and smtp.tls_key_file:
        return server_context(Path(smtp.tls_cert_file), Path(smtp.tls_key_file))
    cert, key = ensure_self_signed(settings.data_path / "tls", settings.server.hostname)
    return server_context(cert, key)


class _WebServer(uvicorn.Server):
    """uvicorn without its own signal handlers: `serve` owns SIGTERM and drains everything."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class Server:
    """Everything `securemail serve` runs, startable in-process (tests use port 0)."""

    settings: Settings
    resolver: Resolver | None = None  # DNS; from [dns] settings unless given (tests)
    runtime: Runtime = field(init=False)
    ports: dict[str, int] = field(default_factory=dict)
    _listeners: list[Listener] = field(default_factory=list)
    _web: uvicorn.Server | None = None
    _web_task: asyncio.Task[None] | None = None
    outbound: OutboundWorker | None = field(default=None, init=False)
    _outbound_stop: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    _outbound_task: asyncio.Task[None] | None = field(default=None, init=False)
    events_bridge: EventBridge | None = field(default=None, init=False)
    readiness: Readiness = field(default_factory=Readiness, init=False)  # /readyz
    _proxy: ProxyPolicy | None = field(default=None, init=False)
    _index_task: asyncio.Task[None] | None = field(default=None, init=False)

    async def start(self) -> None:
        server = self.settings.server  # a bad proxy_protocol_from stops us before anything
        self._proxy = ProxyPolicy.parse(
            server.proxy_protocol_from, float(server.proxy_protocol_timeout_seconds)
        )
        self.runtime = build(self.settings)
        await upgrade(self.runtime.db)
        self._index_task = asyncio.create_task(self._index_missing())
        await self._start_events_bridge()
        tls = tls_context(self.settings)
        services = self.runtime.services
        if self.resolver is None:
            self.resolver = make_resolver(self.settings)
        checker = make_checker(self.settings, self.resolver)
        self.outbound = OutboundWorker(services, self.resolver, self.settings, queue=services.queue)
        self._outbound_task = asyncio.create_task(self.outbound.run(self._outbound_stop))
        wake = self.outbound.wake.set
        for listener, port in smtp_listeners(services, self.settings, tls, checker, wake):
            await self._listen(listener, self.settings.smtp.bind, port)
        for listener, port in pop3_listeners(services, self.settings, tls):
            await self._listen(listener, self.settings.pop3.bind, port)
        for listener, port in imap_listeners(services, self.settings, tls):
            await self._listen(listener, self.settings.imap.bind, port)
        await self._start_web()
        self._write_ports()

    async def _index_missing(self) -> None:
        """Index, in the background, the contents the search index lacks (after migration
        0010 emptied it, or a copy without it): searches find them as they are done."""
        deps = self.runtime.services.deps
        try:
            done = await index_missing(deps.db, deps.blobs)
        except Exception:  # a store error here must not stop the server; searches say less
            log.exception("indexing the contents missing from the search index failed")
            return
        if done:
            log.info("indexed %d contents that the search index lacked", done)

    async def _listen(self, listener: Listener, host: str, port: int) -> None:
        self.ports[listener.name] = await listener.start(host, port, self._proxy)
        self._listeners.append(listener)

    async def _start_events_bridge(self) -> None:
        """On PostgreSQL, other nodes may share the database: their events reach our sessions
        and ours reach theirs (LISTEN/NOTIFY). SQLite has one node and needs no bridge."""
        db = self.runtime.db
        if db.dialect != "postgresql":
            return
        bus = self.runtime.services.deps.events
        bridge = EventBridge(
            db,
            listen_dsn(self.settings.database_url),
            channel_for(self.settings.database.schema),
            bus.publish_remote,
        )
        bus.forwarder = bridge.forward
        self.events_bridge = bridge
        await bridge.start()

    async def _start_web(self) -> None:
        http = self.settings.http
        config = uvicorn.Config(
            create_app(self.runtime.services, self.readiness),
            host=http.bind,
            port=http.port,
            log_level="warning",
            lifespan="off",
            # X-Forwarded-For only from the balancers trusted for the PROXY protocol
            proxy_headers=bool(self.settings.server.proxy_protocol_from.strip()),
            forwarded_allow_ips=self.settings.server.proxy_protocol_from or None,
        )
        self._web = _WebServer(config)
        self._web_task = asyncio.create_task(self._web.serve())
        while not self._web.started:
            if self._web_task.done():
                await self._web_task
                raise RuntimeError("the web server did not start")
            await asyncio.sleep(0.01)
        sockets = [s for server in self._web.servers for s in server.sockets]
        self.ports["http"] = int(sockets[0].getsockname()[1])

    def _write_ports(self) -> None:
        """<data_dir>/run/ports.json: where each listener is, for operators and tests."""
        run = self.settings.data_path / "run"
        run.mkdir(parents=True, exist_ok=True)
        tmp = run / "ports.json.tmp"
        tmp.write_text(json.dumps(self.ports))
        tmp.replace(run / "ports.json")
        for name, port in self.ports.items():
            log.info("%s listening on port %d", name, port)

    async def stop(self, grace: float = 10.0) -> None:
        """Drain, in order: /readyz says 503, the mail listeners stop accepting, sessions are
        told to finish (up to `grace` seconds, then cancelled), then the workers, the web
        server and the store stop. A message acknowledged before the end is committed."""
        self.readiness.draining = True
        for listener in self._listeners:
            listener.stop_accepting()
        await asyncio.gather(*(listener.drain(grace) for listener in self._listeners))
        self._outbound_stop.set()
        if self._index_task is not None:
            self._index_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._index_task
        if self._outbound_task is not None:  # a cancelled delivery is retried after its lease
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(self._outbound_task, grace)
        if self._web is not None and self._web_task is not None:
            self._web.should_exit = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._web_task, grace)
        if self.events_bridge is not None:  # after the sessions: their last events go out
            self.runtime.services.deps.events.forwarder = None
            await self.events_bridge.stop(grace)
        await self.runtime.close()


async def serve(settings: Settings) -> None:
    """Run until SIGINT or SIGTERM, then drain and stop."""
    server = Server(settings)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    log.info("securemail ready")
    await stop.wait()
    grace = float(settings.server.shutdown_grace_seconds)
    log.info("securemail stopping: draining connections (up to %d s)", grace)
    await server.stop(grace)
    log.info("securemail stopped")
