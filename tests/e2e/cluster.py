"""Two securemail nodes on one fresh PostgreSQL schema, in this process or as child processes.

Multi-node tests always run on PostgreSQL (SECUREMAIL_TEST_DATABASE_URL, else the local test
database below), each in a schema of its own, even when the rest of the suite runs on SQLite.
"""

import asyncio
import contextlib
import os
import secrets
import smtplib
import socket
import ssl
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest
import trustme
from imapclient import IMAPClient  # type: ignore[import-untyped]

from securemail import app
from securemail.config import load_settings
from securemail.core.context import AccessContext, system_context
from securemail.net.dns import StaticResolver
from securemail.server import Server
from securemail.services.demo import DEMO_DOMAIN, DEMO_GROUP, DemoResult, load_demo
from securemail.store.migrate import upgrade
from securemail.store.notify import EventBridge, channel_for
from tests.conftest import TestStore
from tests.e2e.conftest import listener_env
from tests.e2e.serve_process import ServeProcess

PG = os.environ.get("SECUREMAIL_TEST_DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/test"
SHARED_INBOX = f"Shared/{DEMO_GROUP}/INBOX"
OUTSIDER = "jane@university.example"


def mail(subject: str) -> bytes:
    """A message from outside for the demo group mailbox."""
    return (
        f"From: Jane <{OUTSIDER}>\r\nTo: {DEMO_GROUP}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{secrets.token_hex(8)}@university.example>\r\n\r\nHello.\r\n"
    ).encode()


async def pg_problem(url: str = PG) -> str:
    """Why PostgreSQL cannot be used, or "" when it can."""
    try:
        conn = await asyncpg.connect(url, timeout=3)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}".splitlines()[0]
    await conn.close()
    return ""


async def require_postgres() -> None:
    """Skip (fail in CI, where PostgreSQL is always started) when it is unreachable."""
    problem = await pg_problem(PG)
    if problem and os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL not reachable at {PG}: {problem}")
    if problem:
        pytest.skip(f"PostgreSQL not reachable at {PG}: {problem}")


async def sql(statement: str, *args: Any) -> Any:
    """One statement on a connection of its own; its first value."""
    conn = await asyncpg.connect(PG, timeout=5)
    try:
        return await conn.fetchval(statement, *args)
    finally:
        await conn.close()


def schema_env(schema: str, tmp_path: Path) -> dict[str, str]:
    """What every node of one cluster shares: the schema, the database blob store, secrets."""
    return {
        "SECUREMAIL_DATABASE_URL": PG,
        "SECUREMAIL_DATABASE_SCHEMA": schema,
        "SECUREMAIL_DATABASE_BLOB_STORE": "database",  # nodes share no disk
        "SECUREMAIL_AUTH_APP_PASSWORD_KEY_FILE": str(tmp_path / "app-password.key"),
        "SECUREMAIL_SECURITY_KEY_FILE": str(tmp_path / "data.keys"),  # one keyring: ADR 0016
        "SECUREMAIL_AUTH_ARGON2_TIME_COST": "1",
        "SECUREMAIL_AUTH_ARGON2_MEMORY_KIB": "1024",
        "SECUREMAIL_AUTH_ARGON2_PARALLELISM": "1",
        "SECUREMAIL_AUTH_MIN_PASSWORD_LENGTH": "8",
    }


async def _migrate_with_demo(base: dict[str, str], tmp_path: Path) -> DemoResult:
    """Migrate the schema once and load the demo organisation; nodes then find it ready."""
    once = {**base, "SECUREMAIL_SERVER_DATA_DIR": str(tmp_path / "migrate")}
    runtime = app.build(load_settings(env=once))
    try:
        await upgrade(runtime.db)
        return await load_demo(runtime.services, system_context("test"))
    finally:
        await runtime.close()


@contextlib.asynccontextmanager
async def fresh_schema(tmp_path: Path) -> AsyncIterator[tuple[str, dict[str, str], DemoResult]]:
    """A migrated schema with the demo organisation: (schema, shared env, demo); dropped after."""
    await require_postgres()
    schema = "x_" + secrets.token_hex(6)
    await sql(f'CREATE SCHEMA "{schema}"')
    try:
        base = schema_env(schema, tmp_path)
        yield schema, base, await _migrate_with_demo(base, tmp_path)
    finally:
        await sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def node_env(base: dict[str, str], ca: trustme.CA, node: Path) -> dict[str, str]:
    """One node's environment: its own data directory, listeners on port 0, the test CA's cert."""
    node.mkdir(parents=True, exist_ok=True)
    env = {**base, "SECUREMAIL_SERVER_DATA_DIR": str(node / "var")}
    return listener_env(TestStore(node / "var", env, load_settings(env=env)), ca, node)


def client_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


# ---------------------------------------------------------------- two nodes in this process


@dataclass
class Cluster:
    a: Server
    b: Server
    demo: DemoResult
    client_tls: ssl.SSLContext
    channel: str

    def password(self, user: str) -> str:
        return self.demo.passwords[f"{user}@{DEMO_DOMAIN}"]

    def bridge(self, server: Server) -> EventBridge:
        assert server.events_bridge is not None, "no event bridge on PostgreSQL"
        return server.events_bridge

    async def ctx(self, server: Server, user: str) -> AccessContext:
        address = f"{user}@{DEMO_DOMAIN}"
        auth = server.runtime.services.auth
        return await auth.authenticate(address, self.password(user), channel="test")


@contextlib.asynccontextmanager
async def two_nodes(tmp_path: Path, ca: trustme.CA) -> AsyncIterator[Cluster]:
    """Two in-process `Server`s (every listener on 127.0.0.1:0) on one fresh schema."""
    async with fresh_schema(tmp_path) as (schema, base, demo):
        servers: list[Server] = []
        try:
            for name in ("a", "b"):
                settings = load_settings(env=node_env(base, ca, tmp_path / name))
                server = Server(settings, resolver=StaticResolver(txt_records={}))
                await server.start()
                servers.append(server)
            yield Cluster(servers[0], servers[1], demo, client_context(ca), channel_for(schema))
        finally:
            for server in reversed(servers):
                await server.stop(grace=2)


# ---------------------------------------------------------------- two child processes


@dataclass
class Node:
    """One `securemail serve` child process and the ports it listens on."""

    name: str
    process: ServeProcess
    ports: dict[str, int]

    @property
    def alive(self) -> bool:
        proc = self.process.proc
        return proc is not None and proc.poll() is None


@dataclass
class ChildCluster:
    nodes: list[Node]
    demo: DemoResult
    client_tls: ssl.SSLContext
    env: dict[str, str]  # the shared environment, for in-process checks of the store

    def password(self, user: str) -> str:
        return self.demo.passwords[f"{user}@{DEMO_DOMAIN}"]


def _drain(process: ServeProcess) -> None:
    """Keep reading the child's log after it is ready, so a full pipe never blocks it."""
    proc = process.proc
    assert proc is not None and proc.stderr is not None
    stream = proc.stderr

    def read() -> None:
        for line in stream:
            process.log.append(line)

    threading.Thread(target=read, daemon=True).start()


def _start_child(name: str, env: dict[str, str], cwd: Path) -> Node:
    process = ServeProcess(env, Path(env["SECUREMAIL_SERVER_DATA_DIR"]), cwd)
    ports = process.start()
    _drain(process)
    return Node(name, process, ports)


@contextlib.asynccontextmanager
async def child_nodes(
    tmp_path: Path, ca: trustme.CA, extra: dict[str, str] | None = None
) -> AsyncIterator[ChildCluster]:
    """Two `securemail serve` processes on one fresh schema; `extra` env for both (per-node
    values: `{name}` in a value becomes the node's name, "a" or "b")."""
    async with fresh_schema(tmp_path) as (_schema, base, demo):
        nodes: list[Node] = []
        try:
            for name in ("a", "b"):
                env = node_env(base, ca, tmp_path / name)
                env |= {k: v.replace("{name}", name) for k, v in (extra or {}).items()}
                nodes.append(await asyncio.to_thread(_start_child, name, env, tmp_path))
            yield ChildCluster(nodes, demo, client_context(ca), base)
        finally:
            for node in nodes:
                if node.alive:
                    await asyncio.to_thread(node.process.terminate)


# ---------------------------------------------------------------- clients (run in threads)


@contextlib.contextmanager
def imap_login(port: int, tls: ssl.SSLContext, address: str, password: str) -> Iterator[Any]:
    """An IMAPClient over implicit TLS, logged in."""
    with IMAPClient("127.0.0.1", port, ssl=True, ssl_context=tls, timeout=30) as client:
        client._imap.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client.login(address, password)
        yield client


@contextlib.contextmanager
def imap_on(cluster: Cluster, server: Server, user: str) -> Iterator[Any]:
    """`user` logged in on `server` with the group mailbox's INBOX selected."""
    address, password = f"{user}@{DEMO_DOMAIN}", cluster.password(user)
    with imap_login(server.ports["imaps"], cluster.client_tls, address, password) as client:
        client.select_folder(SHARED_INBOX)
        yield client


def deliver_mx(port: int, raw: bytes) -> None:
    """Deliver `raw` to the group mailbox through an MX listener; returns after the 250."""
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        smtp.sendmail(OUTSIDER, [DEMO_GROUP], raw)
