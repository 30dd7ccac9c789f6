"""Connection flood from one account: [imap], [pop3] and [smtp] max_connections_per_user cap
the logged-in sessions one user holds on a node (whatever addresses they come from, which the
per-IP caps cannot see). The login beyond the cap is refused with a temporary answer (IMAP
NO [LIMIT], POP3 -ERR [SYS/TEMP], SMTP 454 4.7.0), the session stays unauthenticated, and the
slot comes back when a session ends."""

import asyncio
import imaplib
import poplib
import smtplib
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme

from securemail.config import load_settings
from securemail.core.context import system_context
from securemail.net.caps import SessionCaps
from securemail.net.dns import StaticResolver
from securemail.server import Server
from securemail.services.demo import DEMO_DOMAIN, DEMO_GROUP, load_demo
from tests.conftest import TestStore
from tests.e2e import conftest as e2e
from tests.e2e.conftest import listener_env

ca = e2e.ca  # the live server's test CA (a session fixture)
ALICE = f"alice@{DEMO_DOMAIN}"
CAPS = {
    "SECUREMAIL_IMAP_MAX_CONNECTIONS_PER_USER": "2",
    "SECUREMAIL_POP3_MAX_CONNECTIONS_PER_USER": "1",
    "SECUREMAIL_SMTP_MAX_CONNECTIONS_PER_USER": "2",
}
ATTEMPTS = 50  # the server frees a slot when it sees the close: ask again until it has


@dataclass
class Live:
    server: Server
    tls: ssl.SSLContext
    password: str

    def port(self, name: str) -> int:
        return self.server.ports[name]


@pytest.fixture
async def live(store: TestStore, ca: trustme.CA, tmp_path: Path) -> AsyncIterator[Live]:
    settings = load_settings(env=listener_env(store, ca, tmp_path) | CAPS)
    server = Server(settings, resolver=StaticResolver())
    await server.start()
    demo = await load_demo(server.runtime.services, system_context("test"))
    tls = ssl.create_default_context()
    ca.configure_trust(tls)
    try:
        yield Live(server, tls, demo.passwords[ALICE])
    finally:
        await server.stop(grace=2)


async def until_accepted(attempt: Callable[[], Any], refused: type[Exception]) -> Any:
    for _ in range(ATTEMPTS):
        try:
            return await asyncio.to_thread(attempt)
        except refused:
            continue
    raise AssertionError("the slot never came back")


def test_session_caps_count_per_user_and_zero_is_no_limit():
    caps = SessionCaps(2)
    assert caps.acquire(1) and caps.acquire(1) and not caps.acquire(1)
    assert caps.acquire(2)  # another user has slots of their own
    caps.release(1)
    assert caps.acquire(1) and not caps.acquire(1)
    unlimited = SessionCaps(0)
    assert all(unlimited.acquire(1) for _ in range(100))


async def test_imap_login_beyond_the_cap_is_no_limit(live: Live):
    def connect() -> imaplib.IMAP4_SSL:
        return imaplib.IMAP4_SSL("127.0.0.1", live.port("imaps"), ssl_context=live.tls)

    def log_in(client: imaplib.IMAP4_SSL) -> None:
        client.login(ALICE, live.password)

    first, second, third = [await asyncio.to_thread(connect) for _ in range(3)]
    await asyncio.to_thread(log_in, first)
    await asyncio.to_thread(log_in, second)
    with pytest.raises(imaplib.IMAP4.error) as refused:
        await asyncio.to_thread(log_in, third)
    assert "[LIMIT] Too many connections for this user" in str(refused.value)
    assert third.state == "NONAUTH"
    with pytest.raises(imaplib.IMAP4.error):  # still not logged in: no mailbox for it
        await asyncio.to_thread(third.select, "INBOX")
    await asyncio.to_thread(first.logout)
    await until_accepted(lambda: log_in(third), imaplib.IMAP4.error)
    assert (await asyncio.to_thread(third.select, "INBOX"))[0] == "OK"
    for client in (second, third):
        await asyncio.to_thread(client.logout)


async def test_pop3_login_beyond_the_cap_is_sys_temp_not_in_use(live: Live):
    def connect() -> poplib.POP3_SSL:
        return poplib.POP3_SSL("127.0.0.1", live.port("pop3s"), context=live.tls)

    def log_in(client: poplib.POP3_SSL, name: str) -> None:
        client.user(name)
        client.pass_(live.password)

    own, group, again = [await asyncio.to_thread(connect) for _ in range(3)]
    await asyncio.to_thread(log_in, own, ALICE)
    with pytest.raises(poplib.error_proto) as over_cap:  # another maildrop, but over the cap
        await asyncio.to_thread(log_in, group, f"{ALICE}#{DEMO_GROUP}")
    assert str(over_cap.value).startswith("b'-ERR [SYS/TEMP] too many connections")
    with pytest.raises(poplib.error_proto) as locked:  # the same maildrop: its lock says so
        await asyncio.to_thread(log_in, again, ALICE)
    assert str(locked.value).startswith("b'-ERR [IN-USE]")
    await asyncio.to_thread(own.quit)
    await until_accepted(lambda: log_in(group, f"{ALICE}#{DEMO_GROUP}"), poplib.error_proto)
    assert (await asyncio.to_thread(group.stat))[0] >= 1  # the group's enquiry
    for client in (group, again):
        await asyncio.to_thread(client.quit)


async def test_smtp_auth_beyond_the_cap_is_454_and_stays_anonymous(live: Live):
    def connect() -> smtplib.SMTP_SSL:
        return smtplib.SMTP_SSL("127.0.0.1", live.port("submissions"), context=live.tls)

    def log_in(client: smtplib.SMTP_SSL) -> None:
        client.login(ALICE, live.password)

    first, second, third = [await asyncio.to_thread(connect) for _ in range(3)]
    await asyncio.to_thread(log_in, first)
    await asyncio.to_thread(log_in, second)
    with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
        await asyncio.to_thread(log_in, third)
    assert refused.value.smtp_code == 454 and refused.value.smtp_error.startswith(b"4.7.0")
    assert (await asyncio.to_thread(third.mail, ALICE))[0] == 530  # not authenticated
    await asyncio.to_thread(first.quit)
    await until_accepted(lambda: log_in(third), smtplib.SMTPAuthenticationError)
    for client in (second, third):
        await asyncio.to_thread(client.quit)
