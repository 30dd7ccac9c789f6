"""Real POP3 clients (Python's poplib, curl, fetchmail) against a live server on 127.0.0.1."""

import asyncio
import os
import poplib
import shutil
import socket
import ssl
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from securemail.core.context import system_context
from tests.e2e.conftest import HOST, Running

GROUP = "GM.ZeroTolerance@polres.co.uk"
SUBJECT = b"Subject: Enquiry: zero tolerance policing evaluation data"


def login(running: Running, user: str, group: bool = True) -> tuple[str, str]:
    address = f"{user}@polres.co.uk"
    return (f"{address}#{GROUP}" if group else address), running.demo.passwords[address]


def group_stat(running: Running, user: str) -> tuple[int, int]:
    """The group Inbox as `user` sees it over POP3 (implicit TLS)."""
    name, password = login(running, user)
    client = poplib.POP3_SSL("127.0.0.1", running.port("pop3s"), context=running.client_tls)
    try:
        client.user(name)
        client.pass_(password)
        return client.stat()
    finally:
        client.quit()


async def test_poplib_over_implicit_tls(running: Running):
    def session() -> tuple[list[bytes], list[bytes], bytes, bytes]:
        name, password = login(running, "carol")
        client = poplib.POP3_SSL("127.0.0.1", running.port("pop3s"), context=running.client_tls)
        caps = client.capa()
        assert "USER" in caps and "STLS" not in caps and caps["SASL"] == ["PLAIN"]
        client.user(name)
        client.pass_(password)
        _resp, listing, _octets = client.list()
        _resp, uids, _octets = client.uidl()
        _resp, top, _octets = client.top(1, 0)
        _resp, lines, _octets = client.retr(1)
        client.quit()
        return listing, uids, b"\r\n".join(top), b"\r\n".join(lines)

    listing, uids, top, whole = await asyncio.to_thread(session)
    assert len(listing) == 1 and len(uids) == 1
    assert SUBJECT in top and b"Could you share" not in top
    assert SUBJECT in whole and b"Could you share the evaluation data" in whole


async def test_poplib_stls_and_no_credentials_in_clear(running: Running):
    def session() -> tuple[dict[str, list[str]], str, tuple[int, int]]:
        name, password = login(running, "bob")
        client = poplib.POP3("127.0.0.1", running.port("pop3"))
        before = client.capa()
        with pytest.raises(poplib.error_proto) as refused:
            client.user(name)
        client.stls(context=running.client_tls)
        client.user(name)
        client.pass_(password)
        stat = client.stat()
        client.quit()
        return before, str(refused.value), stat

    before, refused, stat = await asyncio.to_thread(session)
    assert "STLS" in before and "USER" not in before
    assert "[AUTH]" in refused
    assert stat[0] == 1


async def test_commands_pipelined_before_stls_are_dropped(running: Running):
    """RFC 2595 / CVE-2011-0411 class: what came in clear after STLS is never obeyed."""

    def session() -> bytes:
        with socket.create_connection(("127.0.0.1", running.port("pop3"))) as raw:
            reader = raw.makefile("rb")
            assert reader.readline().startswith(b"+OK")
            raw.sendall(b"STLS\r\nUSER injected@polres.co.uk\r\n")
            assert reader.readline() == b"+OK begin TLS negotiation\r\n"
            with running.client_tls.wrap_socket(raw, server_hostname=HOST) as tls:
                tls.sendall(b"PASS anything\r\n")
                return tls.makefile("rb").readline()

    assert await asyncio.to_thread(session) == b"-ERR send USER first\r\n"


async def test_retrieval_and_deletion_follow_each_members_rights(running: Running):
    def alice_downloads_and_deletes() -> None:
        name, password = login(running, "alice")
        client = poplib.POP3_SSL("127.0.0.1", running.port("pop3s"), context=running.client_tls)
        client.user(name)
        client.pass_(password)
        client.retr(1)
        client.dele(1)
        client.quit()

    await asyncio.to_thread(alice_downloads_and_deletes)
    assert await asyncio.to_thread(group_stat, running, "alice") == (0, 0)
    assert (await asyncio.to_thread(group_stat, running, "bob"))[0] == 1
    entries = await running.server.runtime.services.audit.list_entries(
        system_context("test"), mailbox=GROUP
    )
    actions = {(e.actor, e.action) for e in entries}
    assert {("alice@polres.co.uk", "pop3.retr"), ("alice@polres.co.uk", "pop3.hide")} <= actions


def curl(running: Running, url: str, *args: str, user: str = "dave") -> subprocess.CompletedProcess:
    name, password = login(running, user)
    command = ["curl", "--silent", "--show-error", "--max-time", "30"]
    command += ["--cacert", str(running.ca_file), "--user", f"{name}:{password}", *args, url]
    return subprocess.run(command, capture_output=True, timeout=60, check=False)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
async def test_curl_pop3s_lists_and_retrieves(running: Running):
    base = f"pop3s://{HOST}:{running.port('pop3s')}/"
    resolve = ["--resolve", f"{HOST}:{running.port('pop3s')}:127.0.0.1"]
    listing = await asyncio.to_thread(curl, running, base, *resolve)
    assert listing.returncode == 0, listing.stderr
    assert listing.stdout.startswith(b"1 ")
    message = await asyncio.to_thread(curl, running, base + "1", *resolve)
    assert message.returncode == 0, message.stderr
    assert SUBJECT in message.stdout


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
async def test_curl_pop3_with_stls_required(running: Running):
    port = running.port("pop3")
    url = f"pop3://{HOST}:{port}/1"
    resolve = ["--resolve", f"{HOST}:{port}:127.0.0.1"]
    message = await asyncio.to_thread(curl, running, url, "--ssl-reqd", *resolve, user="bob")
    assert message.returncode == 0, message.stderr
    assert SUBJECT in message.stdout
    uidl = await asyncio.to_thread(
        curl, running, f"pop3://{HOST}:{port}/", "--ssl-reqd", "-X", "UIDL", *resolve
    )
    assert uidl.returncode == 0 and uidl.stdout.startswith(b"1 "), uidl.stderr


@pytest.fixture
def unprivileged_dir() -> Iterator[Path]:
    """A directory the unprivileged fetchmail user owns (gotcha 8: fetchmail dislikes root)."""
    path = Path(tempfile.mkdtemp(prefix="securemail-fetchmail-"))
    if os.geteuid() == 0:
        os.chown(path, 65534, 65534)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def fetchmail(running: Running, home: Path, user: str, proto: str, keep: bool) -> int:
    """Run fetchmail once, delivering each message to a file in `home` through an MDA."""
    name, password = login(running, user)
    shutil.copy(running.ca_file, home / "ca.pem")
    port = running.port("pop3s" if proto == "pop3s" else "pop3")
    tls = "ssl" if proto == "pop3s" else "sslproto 'tls1.2+'"
    rc = home / "fetchmailrc"
    rc.write_text(
        f'poll "{HOST}" via 127.0.0.1 with proto POP3 service {port}\n'
        f'  user "{name}" there with password "{password}"\n'
        f'  {tls} sslcertck sslcertfile "{home / "ca.pem"}" sslcommonname "{HOST}"\n'
        f"  {'keep' if keep else 'nokeep'} fetchall\n"
        f"  mda \"/bin/sh -c 'cat > {home}/msg.$$'\"\n"
    )
    rc.chmod(0o600)
    demote: list[str] = []
    if os.geteuid() == 0:
        for item in home.iterdir():
            os.chown(item, 65534, 65534)
        demote = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    command = [*demote, "fetchmail", "--nosyslog", "-N", "-f", str(rc), "--pidfile"]
    command.append(str(home / "fetchmail.pid"))
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home)}
    env["FETCHMAILHOME"] = str(home)
    done = subprocess.run(command, capture_output=True, timeout=120, env=env, check=False)
    assert done.returncode in (0, 1), done.stderr.decode() + done.stdout.decode()
    return done.returncode


def delivered(home: Path) -> list[bytes]:
    return [p.read_bytes() for p in sorted(home.glob("msg.*"))]


needs_fetchmail = pytest.mark.skipif(
    shutil.which("fetchmail") is None, reason="fetchmail is not installed"
)


@needs_fetchmail
async def test_fetchmail_pop3s_keeps_the_team_mailbox_intact(
    running: Running, unprivileged_dir: Path
):
    """alice's client deletes after download: only her view empties, bob still gets it."""
    home = unprivileged_dir
    assert await asyncio.to_thread(fetchmail, running, home, "alice", "pop3s", False) == 0
    [message] = delivered(home)
    assert SUBJECT in message
    assert await asyncio.to_thread(fetchmail, running, home, "alice", "pop3s", False) == 1
    assert await asyncio.to_thread(group_stat, running, "alice") == (0, 0)
    assert (await asyncio.to_thread(group_stat, running, "bob"))[0] == 1


@needs_fetchmail
async def test_fetchmail_pop3_with_stls(running: Running, unprivileged_dir: Path):
    home = unprivileged_dir
    assert await asyncio.to_thread(fetchmail, running, home, "bob", "pop3", True) == 0
    assert any(SUBJECT in m for m in delivered(home))
    assert (await asyncio.to_thread(group_stat, running, "bob"))[0] == 1  # kept


async def test_poplib_refuses_a_server_it_cannot_verify(running: Running):
    def connect() -> None:
        poplib.POP3_SSL("127.0.0.1", running.port("pop3s"), context=ssl.create_default_context())

    with pytest.raises(ssl.SSLCertVerificationError):
        await asyncio.to_thread(connect)
