"""The PROXY protocol on the mail listeners, behind a balancer at 127.0.0.1 (trusted) with
real clients (smtplib, imaplib over implicit TLS) writing the header first, as HAProxy does;
127.0.0.2 plays an untrusted peer on the same machine."""

import asyncio
import contextlib
import imaplib
import smtplib
import socket
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme

from securemail.config import load_settings
from securemail.core.context import system_context
from securemail.core.search import SearchQuery
from securemail.net.dns import StaticResolver
from securemail.server import Server
from securemail.services.demo import load_demo
from securemail.wire.proxy import encode_v1, encode_v2
from tests.conftest import TestStore
from tests.e2e.conftest import Running, listener_env
from tests.web.conftest import log_in

GROUP = "GM.ZeroTolerance@polres.co.uk"
CLIENT = "203.0.113.50"  # the address the balancer saw
UNTRUSTED = "127.0.0.2"
CAP = 2


@pytest.fixture
async def proxied(store: TestStore, ca: trustme.CA, tmp_path: Path) -> AsyncIterator[Running]:
    env = listener_env(store, ca, tmp_path)
    env.update(
        SECUREMAIL_SERVER_PROXY_PROTOCOL_FROM="10.0.0.0/8, 127.0.0.1",
        SECUREMAIL_SERVER_PROXY_PROTOCOL_TIMEOUT_SECONDS="1",
        SECUREMAIL_SMTP_MAX_CONNECTIONS_PER_IP=str(CAP),
    )
    server = Server(load_settings(env=env), resolver=StaticResolver(txt_records={}))
    await server.start()
    demo = await load_demo(server.runtime.services, system_context("test"))
    client = ssl.create_default_context()
    ca.configure_trust(client)
    try:
        yield Running(server, demo, client, tmp_path / "ca.pem", StaticResolver())
    finally:
        await server.stop(grace=2)


class ProxiedSMTP(smtplib.SMTP):
    """smtplib behind a balancer: the PROXY header goes out before the first byte."""

    def __init__(self, header: bytes, *args: Any, **kwargs: Any) -> None:
        self.proxy_header = header
        super().__init__(*args, **kwargs)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        sock = super()._get_socket(host, port, timeout)
        sock.sendall(self.proxy_header)
        return sock


class ProxiedIMAP4SSL(imaplib.IMAP4_SSL):
    """imaplib on an implicit-TLS port behind a balancer: header, then the TLS handshake."""

    proxy_header = b""

    def _create_socket(self, timeout: float | None) -> socket.socket:
        sock = imaplib.IMAP4._create_socket(self, timeout)
        sock.sendall(self.proxy_header)
        return self.ssl_context.wrap_socket(sock, server_hostname=self.host)


def message(subject: str) -> str:
    return (
        f"From: jane@university.example\r\nTo: {GROUP}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{subject.replace(' ', '.')}@university.example>\r\n\r\nHello.\r\n"
    )


async def received_of(running: Running, subject: str) -> bytes:
    services = running.server.runtime.services
    pw = running.demo.passwords["alice@polres.co.uk"]
    alice = await services.auth.authenticate("alice@polres.co.uk", pw, channel="t")
    group = await services.mailboxes.get_mailbox_by_address(alice, GROUP)
    [found] = await services.messages.search(alice, group.id, SearchQuery(subject=subject))
    raw = (await services.messages.open_message(alice, found.id)).raw
    return raw[raw.index(b"Received:") :].split(b"\r\n\tby")[0]


def connect(port: int, source: str = "127.0.0.1") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_until_closed_or_line(sock: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


async def test_smtp_via_v1_header_records_the_client_address(proxied: Running):
    header = encode_v1((CLIENT, 40001), ("127.0.0.1", proxied.port("smtp")))

    def send() -> None:
        with ProxiedSMTP(header, "127.0.0.1", proxied.port("smtp"), local_hostname="mx.test") as c:
            c.sendmail("jane@university.example", [GROUP], message("via proxy"))

    await asyncio.to_thread(send)
    assert (
        await received_of(proxied, "via proxy") == f"Received: from mx.test ([{CLIENT}])".encode()
    )


async def test_v2_on_implicit_tls_imap_then_login_is_audited_with_the_client(proxied: Running):
    port = proxied.port("imaps")
    client_ip = "2001:db8::23"

    def session() -> tuple[str, str]:
        ProxiedIMAP4SSL.proxy_header = encode_v2((client_ip, 50000), ("2001:db8::1", port))
        with ProxiedIMAP4SSL("127.0.0.1", port, ssl_context=proxied.client_tls) as imap:
            typ, _ = imap.login("bob@polres.co.uk", proxied.demo.passwords["bob@polres.co.uk"])
            typ_select, _ = imap.select("INBOX")
            imap.logout()
        return typ, typ_select

    assert await asyncio.to_thread(session) == ("OK", "OK")
    audit = proxied.server.runtime.services.audit
    entries = await audit.list_entries(system_context("test"), limit=20)
    logins = [e.detail for e in entries if e.action == "login" and e.target.startswith("bob@")]
    assert logins and f"remote={client_ip}" in logins[0]


async def test_header_and_tls_hello_in_one_segment(proxied: Running):
    """HAProxy may send the header and the client's TLS hello together: the listener must
    not swallow the hello while reading the header."""
    port = proxied.port("imaps")

    def handshake() -> bytes:
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = proxied.client_tls.wrap_bio(incoming, outgoing, server_hostname="127.0.0.1")
        with contextlib.suppress(ssl.SSLWantReadError):
            tls.do_handshake()
        with connect(port) as sock:
            sock.sendall(encode_v2((CLIENT, 1), ("127.0.0.1", port)) + outgoing.read())
            while True:
                with contextlib.suppress(ssl.SSLWantReadError):
                    greeting = tls.read(4096)
                    if greeting:
                        return greeting
                if outgoing.pending:
                    sock.sendall(outgoing.read())
                data = sock.recv(65536)
                if not data:
                    return b""
                incoming.write(data)

    assert (await asyncio.to_thread(handshake)).startswith(b"* OK [CAPABILITY")


async def test_per_ip_cap_counts_the_proxied_address(proxied: Running):
    port = proxied.port("smtp")

    def open_as(client: str) -> tuple[socket.socket, bytes]:
        sock = connect(port)
        sock.sendall(encode_v1((client, 1234), ("127.0.0.1", port)))
        return sock, read_until_closed_or_line(sock)

    def scenario() -> list[bytes]:
        opened = [open_as("198.51.100.1") for _ in range(CAP + 1)]
        other = open_as("198.51.100.2")  # same balancer socket address, other client
        for sock, _ in [*opened, other]:
            sock.close()
        return [banner[:3] for _, banner in [*opened, other]]

    assert await asyncio.to_thread(scenario) == [b"220"] * CAP + [b"421", b"220"]


async def test_header_from_an_untrusted_peer_is_not_honoured(proxied: Running):
    port = proxied.port("smtp")

    def dialogue() -> list[bytes]:
        with connect(port, source=UNTRUSTED) as sock:
            lines = sock.makefile("rb")
            sock.sendall(encode_v1(("192.0.2.99", 1), ("127.0.0.1", port)))
            replies = [lines.readline(), lines.readline()]  # banner, then the header's fate
            for command in (
                b"HELO mx.test",
                b"MAIL FROM:<jane@university.example>",
                f"RCPT TO:<{GROUP}>".encode(),
                b"DATA",
            ):
                sock.sendall(command + b"\r\n")
                replies.append(lines.readline())
            sock.sendall(message("untrusted").encode() + b".\r\nQUIT\r\n")
            replies.append(lines.readline())
            return [reply[:3] for reply in replies]

    assert await asyncio.to_thread(dialogue) == [
        b"220", b"500", b"250", b"250", b"250", b"354", b"250"
    ]  # fmt: skip
    received = await received_of(proxied, "untrusted")
    assert received == f"Received: from mx.test ([{UNTRUSTED}])".encode()


@pytest.mark.parametrize("opening", [b"EHLO mx.test\r\n", b""])
async def test_trusted_peer_without_a_header_is_closed(proxied: Running, opening: bytes):
    """A peer that sends something else, or nothing within the timeout, gets no banner."""
    port = proxied.port("smtp")

    def attempt() -> bytes:
        with connect(port) as sock:
            sock.sendall(opening)
            return read_until_closed_or_line(sock)

    assert await asyncio.to_thread(attempt) == b""


async def test_local_command_is_a_balancer_health_check(proxied: Running):
    """HAProxy's own checks send LOCAL (v2): served with the socket's address, the banner
    tells the balancer the port is up."""
    port = proxied.port("submission")

    def check() -> bytes:
        with connect(port) as sock:
            sock.sendall(encode_v2(None, None))
            banner = read_until_closed_or_line(sock)
            sock.sendall(b"QUIT\r\n")
            return banner

    assert (await asyncio.to_thread(check)).startswith(b"220 ")


async def test_webmail_behind_the_balancer_records_the_forwarded_client(proxied: Running):
    """HTTP balancers send X-Forwarded-For; the trusted ones are believed, others are not."""
    base = f"http://127.0.0.1:{proxied.server.ports['http']}"
    password = proxied.demo.passwords["alice@polres.co.uk"]
    forwarded = {"X-Forwarded-For": "203.0.113.9"}
    async with httpx.AsyncClient(base_url=base, headers=forwarded) as client:
        assert (await log_in(client, "alice@polres.co.uk", password)).status_code == 303
        sessions = await client.get("/settings/sessions")
    assert sessions.status_code == 200 and "203.0.113.9" in sessions.text


async def test_without_trusted_balancers_a_forwarded_header_is_ignored(running: Running):
    base = f"http://127.0.0.1:{running.server.ports['http']}"
    password = running.demo.passwords["alice@polres.co.uk"]
    forwarded = {"X-Forwarded-For": "203.0.113.9"}
    async with httpx.AsyncClient(base_url=base, headers=forwarded) as client:
        assert (await log_in(client, "alice@polres.co.uk", password)).status_code == 303
        sessions = await client.get("/settings/sessions")
    assert sessions.status_code == 200
    assert "203.0.113.9" not in sessions.text and "127.0.0.1" in sessions.text
