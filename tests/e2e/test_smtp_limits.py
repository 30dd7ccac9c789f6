"""Limits that need a real socket: connections per client address, the idle timeout, and
STARTTLS command injection (text pipelined after STARTTLS must never count as encrypted)."""

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trustme

from securemail.config import load_settings
from securemail.net.dns import StaticResolver
from securemail.server import Server
from tests.conftest import TestStore
from tests.e2e.conftest import listener_env


@pytest.fixture
async def strict_server(store: TestStore, ca: trustme.CA, tmp_path: Path) -> AsyncIterator[Server]:
    env = listener_env(store, ca, tmp_path)
    env.update(SECUREMAIL_SMTP_MAX_CONNECTIONS_PER_IP="2", SECUREMAIL_SMTP_IDLE_TIMEOUT_SECONDS="1")
    server = Server(load_settings(env=env), resolver=StaticResolver())
    await server.start()
    try:
        yield server
    finally:
        await server.stop(grace=2)


async def _open(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    greeting = await asyncio.wait_for(reader.readline(), 10)
    return reader, writer, greeting


async def test_connections_per_ip_are_capped(strict_server: Server):
    port = strict_server.ports["smtp"]
    first = await _open(port)
    second = await _open(port)
    assert first[2].startswith(b"220") and second[2].startswith(b"220")
    third = await _open(port)
    assert third[2].startswith(b"421 4.7.0")
    assert await asyncio.wait_for(third[0].read(), 10) == b""  # and closed
    first[1].close()
    await first[1].wait_closed()
    assert await asyncio.wait_for(first[0].read(), 10) == b""
    for _ in range(50):  # the server frees the slot when it sees the close
        fourth = await _open(port)
        if fourth[2].startswith(b"220"):
            break
        await asyncio.wait_for(fourth[0].read(), 10)
    assert fourth[2].startswith(b"220")
    for conn in (second, fourth):
        conn[1].close()


async def test_idle_client_is_told_and_disconnected(strict_server: Server):
    reader, writer, greeting = await _open(strict_server.ports["smtp"])
    assert greeting.startswith(b"220")
    line = await asyncio.wait_for(reader.readline(), 10)  # the server speaks first, after 1 s
    assert line.startswith(b"421 4.4.2")
    assert await asyncio.wait_for(reader.read(), 10) == b""
    writer.close()


async def test_starttls_command_injection(strict_server: Server, ca: trustme.CA):
    """CVE-2011-0411 class: `STARTTLS\\r\\nMAIL FROM:...` in one packet. The text after
    STARTTLS arrived in clear and must be discarded, not run inside the TLS session."""
    context = ssl.create_default_context()
    ca.configure_trust(context)
    reply = await asyncio.to_thread(_inject, strict_server.ports["smtp"], context)
    # Had the injected EHLO and MAIL run inside TLS, this MAIL would be a "nested MAIL"; they
    # were dropped, so the session (reset by STARTTLS) still waits for a first EHLO.
    assert reply.startswith(b"503 5.5.1") and b"send EHLO first" in reply


def _inject(port: int, context: ssl.SSLContext) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        f = sock.makefile("rb")
        assert f.readline().startswith(b"220")
        sock.sendall(b"EHLO attacker.example\r\n")
        while not f.readline().startswith(b"250 "):
            pass
        sock.sendall(
            b"STARTTLS\r\nEHLO injected.example\r\nMAIL FROM:<injected@attacker.example>\r\n"
        )
        assert f.readline().startswith(b"220 2.0.0")
        with context.wrap_socket(sock, server_hostname="127.0.0.1") as tls:
            tf = tls.makefile("rb")
            tls.sendall(b"MAIL FROM:<after@attacker.example>\r\n")
            return tf.readline()
