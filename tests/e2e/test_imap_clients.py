"""Real IMAP clients (Python's imaplib, IMAPClient, curl) against a live server on 127.0.0.1."""

import asyncio
import imaplib
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from imapclient import IMAPClient  # type: ignore[import-untyped]

from securemail.config import load_settings
from securemail.core.context import system_context
from securemail.net.dns import StaticResolver
from securemail.server import Server
from securemail.services.demo import load_demo
from tests.conftest import TestStore
from tests.e2e.conftest import HOST, Running, listener_env

GROUP = "GM.ZeroTolerance@polres.co.uk"
SHARED_INBOX = '"Shared/GM.ZeroTolerance@polres.co.uk/INBOX"'
NEW_MAIL = (
    b"From: Jane Smith <jane@university.example>\r\nTo: " + GROUP.encode() + b"\r\n"
    b"Subject: Follow-up\r\nMessage-ID: <follow-up@university.example>\r\n\r\nAny news?\r\n"
)


def nodelay(sock: socket.socket) -> None:
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # STACK.md gotcha 7


def password(running: Running, user: str) -> str:
    return running.demo.passwords[f"{user}@polres.co.uk"]


def _imaplib_session(client: imaplib.IMAP4, running: Running) -> dict[str, Any]:
    nodelay(client.sock)
    client.login("bob@polres.co.uk", password(running, "bob"))
    _typ, listing = client.list()
    typ, exists = client.select(SHARED_INBOX)
    count = list(exists)  # imaplib hands out its live list of EXISTS responses
    _typ, fetched = client.fetch("1", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    raw = b"Subject: filed by bob\r\n\r\nnote\r\n"
    typ_append, append_data = client.append(SHARED_INBOX, "(\\Flagged)", None, raw)
    _typ, found = client.search(None, "SUBJECT", '"filed by bob"')
    client.logout()
    return {
        "list": listing,
        "select": (typ, count),
        "fetch": fetched,
        "append": (typ_append, append_data),
        "search": found,
    }


async def test_imaplib_over_implicit_tls(running: Running) -> None:
    def run() -> dict[str, Any]:
        port = running.port("imaps")
        with imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=running.client_tls) as client:
            return _imaplib_session(client, running)

    result = await asyncio.to_thread(run)
    assert any(b"Shared/gm.zerotolerance@polres.co.uk/INBOX" in line for line in result["list"])
    assert result["select"] == ("OK", [b"1"])
    assert b"Subject: Enquiry: zero tolerance" in result["fetch"][0][1]
    assert result["append"][0] == "OK" and b"APPENDUID" in result["append"][1][0]
    assert result["search"] == [b"2"]


async def test_imaplib_with_starttls(running: Running) -> None:
    def run() -> tuple[str, dict[str, Any]]:
        with imaplib.IMAP4("127.0.0.1", running.port("imap")) as client:
            refused = ""
            try:
                client.login("bob@polres.co.uk", password(running, "bob"))
            except imaplib.IMAP4.error as exc:
                refused = str(exc)
            client.starttls(ssl_context=running.client_tls)
            return refused, _imaplib_session(client, running)

    refused, result = await asyncio.to_thread(run)
    assert "LOGINDISABLED" in refused or "PRIVACYREQUIRED" in refused
    assert result["select"] == ("OK", [b"1"])


async def test_imaplib_group_login_form(running: Running) -> None:
    def run() -> tuple[list[Any], tuple[str, list[Any]]]:
        port = running.port("imaps")
        with imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=running.client_tls) as client:
            nodelay(client.sock)
            client.login(f"alice@polres.co.uk#{GROUP}", password(running, "alice"))
            _typ, listing = client.list()
            selected = client.select("INBOX", readonly=True)
            return listing, selected

    listing, selected = await asyncio.to_thread(run)
    assert [line.rsplit(b" ", 1)[1] for line in listing] == [
        b'"INBOX"',
        b'"Sent"',
        b'"Drafts"',
        b'"Trash"',
    ]
    assert selected == ("OK", [b"1"])


async def test_imapclient_idle_sees_new_mail_within_a_second(running: Running) -> None:
    loop = asyncio.get_running_loop()
    idling: asyncio.Future[None] = loop.create_future()

    def run() -> tuple[list[Any], dict[Any, Any]]:
        port = running.port("imaps")
        with IMAPClient("127.0.0.1", port, ssl=True, ssl_context=running.client_tls) as client:
            nodelay(client._imap.sock)
            client.login("carol@polres.co.uk", password(running, "carol"))
            client.select_folder(SHARED_INBOX.strip('"'))
            client.idle()
            loop.call_soon_threadsafe(idling.set_result, None)
            responses = client.idle_check(timeout=10)
            client.idle_done()
            fetched = client.fetch([2], ["ENVELOPE", "FLAGS"])
            return responses, fetched

    task = asyncio.create_task(asyncio.to_thread(run))
    await asyncio.wait_for(asyncio.shield(idling), 10)
    await running.server.runtime.services.delivery.deliver(_system(), NEW_MAIL, [GROUP])
    responses, fetched = await asyncio.wait_for(task, 15)
    assert (2, b"EXISTS") in responses
    assert fetched[2][b"ENVELOPE"].subject == b"Follow-up"


def _system() -> Any:
    return system_context("test")


async def test_imapclient_folders_acl_and_move(running: Running) -> None:
    def run() -> dict[str, Any]:
        port = running.port("imaps")
        with IMAPClient("127.0.0.1", port, ssl=True, ssl_context=running.client_tls) as client:
            nodelay(client._imap.sock)
            client.login("dave@polres.co.uk", password(running, "dave"))
            out: dict[str, Any] = {"caps": client.capabilities()}
            out["namespace"] = client.namespace()
            group_inbox = "Shared/GM.ZeroTolerance@polres.co.uk/INBOX"
            out["acl"] = client.getacl(group_inbox)
            client.create_folder("Shared/GM.ZeroTolerance@polres.co.uk/Replied")
            client.select_folder(group_inbox)
            client.move([1], "Shared/GM.ZeroTolerance@polres.co.uk/Replied")
            out["status"] = client.folder_status(
                "Shared/GM.ZeroTolerance@polres.co.uk/Replied", ["MESSAGES"]
            )
            out["special"] = client.find_special_folder(b"\\Sent")
            return out

    out = await asyncio.to_thread(run)
    assert b"MOVE" in out["caps"] and b"ACL" in out["caps"]
    assert out["namespace"].other is None and out["namespace"].shared[0][0] == "Shared/"
    assert (b"alice@polres.co.uk", b"lrs") in out["acl"]
    assert out["status"][b"MESSAGES"] == 1
    assert out["special"] == "Sent"


def _curl(running: Running, url: str, user: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            "curl",
            "--silent",
            "--show-error",
            "--max-time",
            "20",
            "--cacert",
            str(running.ca_file),
            "--user",
            f"{user}:{password(running, user.split('@')[0])}",
            *extra,
            url,
        ],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
async def test_curl_imaps_fetches_a_group_message(running: Running) -> None:
    port = running.port("imaps")
    url = f"imaps://127.0.0.1:{port}/INBOX;UID=1"
    result = await asyncio.to_thread(_curl, running, url, f"alice@polres.co.uk#{GROUP}")
    assert result.returncode == 0, result.stderr
    assert "Subject: Enquiry: zero tolerance policing evaluation data" in result.stdout


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
async def test_curl_imap_with_starttls_lists_folders(running: Running) -> None:
    url = f"imap://127.0.0.1:{running.port('imap')}/"
    result = await asyncio.to_thread(_curl, running, url, "bob@polres.co.uk", "--ssl-reqd")
    assert result.returncode == 0, result.stderr
    assert "Shared/gm.zerotolerance@polres.co.uk/INBOX" in result.stdout


async def test_connections_per_ip_are_capped(running: Running) -> None:
    cap = running.server.settings.imap.max_connections_per_ip
    port = running.port("imap")
    opened = []
    for _ in range(cap):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert (await reader.readline()).startswith(b"* OK ")
        opened.append(writer)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    assert await reader.readline() == b"* BYE too many connections from your address\r\n"
    for w in [*opened, writer]:
        w.close()


@pytest.fixture
async def running_cn(store: TestStore, ca: trustme.CA, tmp_path: Path) -> AsyncIterator[Running]:
    """`running` with a subject CN in its certificate: fetchmail wants a CN (trustme sets none)."""
    env = listener_env(store, ca, tmp_path)
    cert = ca.issue_cert(HOST, "127.0.0.1", common_name=HOST)
    cert.cert_chain_pems[0].write_to_path(env["SECUREMAIL_SMTP_TLS_CERT_FILE"])
    for extra in cert.cert_chain_pems[1:]:
        extra.write_to_path(env["SECUREMAIL_SMTP_TLS_CERT_FILE"], append=True)
    cert.private_key_pem.write_to_path(env["SECUREMAIL_SMTP_TLS_KEY_FILE"])
    server = Server(load_settings(env=env), resolver=StaticResolver(txt_records={}))
    await server.start()
    demo = await load_demo(server.runtime.services, system_context("test"))
    client = ssl.create_default_context()
    ca.configure_trust(client)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    try:
        yield Running(server, demo, client, ca_file, StaticResolver(txt_records={}))
    finally:
        await server.stop(grace=2)


@pytest.fixture
def fetchmail_home() -> Iterator[Path]:
    """A directory the unprivileged fetchmail user owns (gotcha 8: fetchmail dislikes root)."""
    path = Path(tempfile.mkdtemp(prefix="securemail-fetchmail-imap-"))
    if os.geteuid() == 0:
        os.chown(path, 65534, 65534)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _fetchmail(
    running: Running, home: Path, login: str, user: str
) -> subprocess.CompletedProcess[bytes]:
    shutil.copy(running.ca_file, home / "ca.pem")
    rc = home / "fetchmailrc"
    rc.write_text(
        f'poll "{HOST}" via 127.0.0.1 with proto IMAP service {running.port("imaps")}\n'
        f'  user "{login}" there with password "{password(running, user)}"\n'
        f'  ssl sslcertck sslcertfile "{home / "ca.pem"}" sslcommonname "{HOST}"\n'
        "  keep fetchall\n"
        f"  mda \"/bin/sh -c 'cat > {home}/msg.$$'\"\n"
    )
    rc.chmod(0o600)
    demote: list[str] = []
    if os.geteuid() == 0:
        for item in home.iterdir():
            os.chown(item, 65534, 65534)
        demote = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    command = [*demote, "fetchmail", "--nosyslog", "-N", "-f", str(rc)]
    command += ["--pidfile", str(home / "fetchmail.pid")]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home)}
    env["FETCHMAILHOME"] = str(home)
    return subprocess.run(command, capture_output=True, timeout=120, env=env, check=False)


@pytest.mark.skipif(shutil.which("fetchmail") is None, reason="fetchmail not installed")
async def test_fetchmail_imaps_fetches_the_group_inbox(
    running_cn: Running, fetchmail_home: Path
) -> None:
    running = running_cn
    login = f"alice@polres.co.uk#{GROUP}"
    done = await asyncio.to_thread(_fetchmail, running, fetchmail_home, login, "alice")
    assert done.returncode == 0, done.stderr.decode() + done.stdout.decode()
    messages = [p.read_bytes() for p in fetchmail_home.glob("msg.*")]
    assert len(messages) == 1
    assert b"Subject: Enquiry: zero tolerance policing evaluation data" in messages[0]


async def test_noop_shows_what_another_client_did(running: Running) -> None:
    def run() -> tuple[list[Any], list[Any]]:
        port = running.port("imaps")
        with (
            imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=running.client_tls) as bob,
            imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=running.client_tls) as dave,
        ):
            for client, user in ((bob, "bob"), (dave, "dave")):
                nodelay(client.sock)
                client.login(f"{user}@polres.co.uk", password(running, user))
                client.select(SHARED_INBOX)
            dave.store("1", "+FLAGS", "(\\Flagged)")
            bob.append(SHARED_INBOX, None, None, b"Subject: note\r\n\r\nfiled\r\n")
            dave.noop()
            exists = list(dave.untagged_responses.get("EXISTS", []))
            bob.noop()
            fetched = list(bob.untagged_responses.get("FETCH", []))
            return exists, fetched

    exists, fetched = await asyncio.to_thread(run)
    assert b"2" in exists
    assert any(b"\\Flagged" in item for item in fetched)
