"""SIGTERM drains a real `securemail serve`: /readyz turns 503, new connections are refused,
IMAP IDLE gets BYE, POP3 closes without applying DELE, an SMTP DATA in flight is finished,
committed and acknowledged (then 421), and the process exits 0."""

import asyncio
import http.client
import signal
import smtplib
import socket
from pathlib import Path

import pytest

from securemail import app
from securemail.core.context import system_context
from securemail.services.demo import load_demo
from securemail.store.migrate import upgrade
from securemail.store.schema import contents, messages
from tests.conftest import TestStore
from tests.e2e.serve_process import ServeProcess

ALICE = "alice@polres.co.uk"
FIRST = "<drain-first@university.example>"  # delivered before, DELE'd by POP3, must survive
IN_FLIGHT = "<drain-in-flight@university.example>"  # in DATA when SIGTERM arrives


async def _prepare(store: TestStore) -> str:
    runtime = app.build(store.settings)
    try:
        await upgrade(runtime.db)
        demo = await load_demo(runtime.services, system_context("test"))
        return demo.passwords[ALICE]
    finally:
        await runtime.close()


async def _stored_message_ids(store: TestStore) -> list[str]:
    runtime = app.build(store.settings)
    try:
        async with runtime.db.read() as conn:
            query = (
                messages.join(contents, contents.c.id == messages.c.content_id)
                .select()
                .with_only_columns(contents.c.message_id)
            )
            return [row[0] for row in (await conn.execute(query)).all()]
    finally:
        await runtime.close()


def mail(message_id: str, subject: str) -> bytes:
    return (
        f"From: jane@university.example\r\nTo: {ALICE}\r\nSubject: {subject}\r\n"
        f"Message-ID: {message_id}\r\n\r\n"
    ).encode()


class Line:
    """A line-oriented client socket (the protocols are line based)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=20)
        self.file = self.sock.makefile("rb")

    def send(self, line: bytes) -> None:
        self.sock.sendall(line)

    def read(self) -> bytes:
        return self.file.readline()

    def ask(self, line: bytes) -> bytes:
        self.send(line + b"\r\n")
        return self.read()

    def rest(self) -> bytes:
        """Everything until the server closes the connection."""
        return self.file.read()

    def close(self) -> None:
        self.file.close()
        self.sock.close()


def http_status(port: int, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    finally:
        conn.close()


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


def open_idle(port: int, password: str) -> Line:
    imap = Line(port)
    assert imap.read().startswith(b"* OK")
    assert imap.ask(f'a1 LOGIN {ALICE} "{password}"'.encode()).startswith(b"a1 OK")
    imap.send(b"a2 SELECT INBOX\r\n")
    while not (line := imap.read()).startswith(b"a2 "):
        assert line
    assert imap.ask(b"a3 IDLE").startswith(b"+ ")
    return imap


def open_pop3_with_dele(port: int, password: str) -> Line:
    pop = Line(port)
    assert pop.read().startswith(b"+OK")
    assert pop.ask(f"USER {ALICE}".encode()).startswith(b"+OK")
    assert pop.ask(f"PASS {password}".encode()).startswith(b"+OK")
    assert pop.ask(b"DELE 1").startswith(b"+OK")
    return pop


def start_data(port: int) -> Line:
    smtp = Line(port)
    assert smtp.read().startswith(b"220")
    smtp.send(b"EHLO mx.test\r\n")
    while (line := smtp.read())[3:4] == b"-":
        pass
    assert line.startswith(b"250 ")
    assert smtp.ask(b"MAIL FROM:<jane@university.example>").startswith(b"250")
    assert smtp.ask(f"RCPT TO:<{ALICE}>".encode()).startswith(b"250")
    assert smtp.ask(b"DATA").startswith(b"354")
    smtp.send(mail(IN_FLIGHT, "in flight"))  # the body and the final dot come after SIGTERM
    return smtp


@pytest.fixture
def serve(store: TestStore, tmp_path: Path) -> ServeProcess:
    env = {
        **store.env,
        "SECUREMAIL_SERVER_SHUTDOWN_GRACE_SECONDS": "60",
        "SECUREMAIL_IMAP_ALLOW_PLAIN_AUTH": "true",
        "SECUREMAIL_POP3_ALLOW_PLAIN_AUTH": "true",
    }
    return ServeProcess(env, store.data_dir, tmp_path)


def test_sigterm_drains_without_losing_an_acknowledged_message(
    store: TestStore, serve: ServeProcess
):
    password = asyncio.run(_prepare(store))
    ports = serve.start()
    assert http_status(ports["http"], "/readyz") == 200
    with smtplib.SMTP("127.0.0.1", ports["smtp"], timeout=20) as client:
        client.sendmail("jane@university.example", [ALICE], mail(FIRST, "first") + b"Hi.\r\n")
    imap = open_idle(ports["imap"], password)
    pop = open_pop3_with_dele(ports["pop3"], password)
    smtp = start_data(ports["smtp"])
    try:
        assert serve.proc is not None
        serve.proc.send_signal(signal.SIGTERM)

        assert imap.read() == b"* BYE server shutting down\r\n"  # IDLE is told at once
        assert imap.rest() == b""
        assert pop.read() == b"-ERR [SYS/TEMP] server shutting down\r\n"
        assert pop.rest() == b""
        assert all(refused(ports[name]) for name in ("smtp", "submission", "imap", "pop3s"))
        assert http_status(ports["http"], "/readyz") == 503  # the balancer moves away
        assert http_status(ports["http"], "/healthz") == 200  # but the process is alive

        smtp.send(b"The rest of the message.\r\n.\r\n")  # the DATA in flight finishes
        assert smtp.read().startswith(b"250 ")
        assert smtp.read().startswith(b"421 4.3.2")
        assert smtp.rest() == b""
        assert serve.proc.wait(60) == 0
    finally:
        for client_line in (imap, pop, smtp):
            client_line.close()
        if serve.proc is not None and serve.proc.poll() is None:
            serve.kill()
    stored = asyncio.run(_stored_message_ids(store))
    assert IN_FLIGHT in stored  # acknowledged during the drain: committed
    assert FIRST in stored  # DELE without QUIT changes nothing (RFC 1939 section 6)
