"""Mail flood from one account: [limits] max_submissions_per_hour caps what a user submits in a
sliding hour, through every channel together (SMTP submission, webmail, the API), counted in
the database so two nodes over one store hold the same line, and group sends count against
the user who sends. Over it: SMTP 451 4.7.1 (at MAIL FROM, or after DATA when the hour filled
in between), HTTP 429 with the reason; nothing is stored, delivered or queued."""

import asyncio
import smtplib
import ssl
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import trustme
from sqlalchemy import func, insert, select

from securemail import app
from securemail.config import load_settings
from securemail.core.context import AccessContext, system_context
from securemail.core.errors import RateLimited
from securemail.net.dns import StaticResolver
from securemail.server import Server
from securemail.services.demo import DEMO_DOMAIN, DEMO_GROUP, DemoResult, load_demo
from securemail.services.registry import Services
from securemail.store.migrate import upgrade
from securemail.store.repos.common import now
from securemail.store.schema import messages, outbound_queue, recent_submissions
from securemail.web.app import create_app
from tests.conftest import TestStore
from tests.e2e import conftest as e2e
from tests.e2e.conftest import listener_env
from tests.web.conftest import log_in
from tests.web.test_compose import mailbox_id, open_compose

ca = e2e.ca  # the live server's test CA (a session fixture)
LIMIT = 3
ENV = {"SECUREMAIL_LIMITS_MAX_SUBMISSIONS_PER_HOUR": str(LIMIT)}
CAROL = f"carol@{DEMO_DOMAIN}"
BOB = f"bob@{DEMO_DOMAIN}"
REMOTE = "jane.smith@university.example"


def raw(sender: str, n: int) -> bytes:
    return (
        f"From: {sender}\r\nTo: {BOB}, {REMOTE}\r\nSubject: flood {n}\r\n"
        f"Message-ID: <flood-{n}@test>\r\n\r\nMessage {n}.\r\n"
    ).encode()


async def ctx_of(services: Services, demo: DemoResult, name: str) -> AccessContext:
    address = f"{name}@{DEMO_DOMAIN}"
    return await services.auth.authenticate(address, demo.passwords[address], channel="test")


async def stored(services: Services) -> tuple[int, int, int]:
    """(message rows, queued rows, counted submissions): what a refused send must not change."""
    async with services.deps.db.read() as conn:
        return (
            int(await conn.scalar(select(func.count()).select_from(messages)) or 0),
            int(await conn.scalar(select(func.count()).select_from(outbound_queue)) or 0),
            int(await conn.scalar(select(func.count()).select_from(recent_submissions)) or 0),
        )


@pytest.fixture
async def nodes(store: TestStore) -> AsyncIterator[tuple[Services, Services, DemoResult]]:
    """Two nodes (two runtimes, two connection pools) over one store, as `serve` twice."""
    settings = load_settings(env=store.env | ENV)
    first, second = app.build(settings), app.build(settings)
    await upgrade(first.db)
    demo = await load_demo(first.services, system_context("test"))
    try:
        yield first.services, second.services, demo
    finally:
        await first.close()
        await second.close()


async def test_the_hour_holds_across_two_nodes_sending_at_once(nodes):
    one, two, demo = nodes
    carol = await ctx_of(one, demo, "carol")
    before = await stored(one)
    sends = [
        (one if n % 2 else two).submission.submit(carol, CAROL, [BOB, REMOTE], raw(CAROL, n))
        for n in range(2 * LIMIT)
    ]
    results = await asyncio.gather(*sends, return_exceptions=True)
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(refused) == LIMIT and all(isinstance(r, RateLimited) for r in refused), results
    assert "messages in the last hour" in str(refused[0])
    messages_, queued, counted = await stored(one)
    # each accepted send: a Sent copy and bob's copy; one queue row for the remote recipient
    assert (messages_, queued, counted) == (before[0] + 2 * LIMIT, before[1] + LIMIT, LIMIT)


async def test_a_group_send_counts_against_the_member_who_sends(nodes):
    services, _two, demo = nodes
    carol, dave = await ctx_of(services, demo, "carol"), await ctx_of(services, demo, "dave")
    for n in range(LIMIT):
        await services.submission.submit(carol, DEMO_GROUP, [BOB], raw(DEMO_GROUP, n))
    with pytest.raises(RateLimited):
        await services.submission.submit(carol, CAROL, [BOB], raw(CAROL, 9))
    with pytest.raises(RateLimited):  # the early check, as SMTP asks it at MAIL FROM
        await services.submission.check_rate(carol)
    # The group itself is not spent: dave (Mail on it too) still sends as the group.
    await services.submission.check_rate(dave)
    await services.submission.submit(dave, DEMO_GROUP, [BOB], raw(DEMO_GROUP, 10))


async def test_sends_older_than_an_hour_no_longer_count(nodes):
    services, _two, demo = nodes
    carol = await ctx_of(services, demo, "carol")
    long_ago = now() - timedelta(minutes=61)
    old = insert(recent_submissions).values(user_id=carol.user_id, at=long_ago)
    async with services.deps.db.write() as conn:
        for _ in range(LIMIT):
            await conn.execute(old)
    await services.submission.submit(carol, CAROL, [BOB], raw(CAROL, 1))
    assert (await stored(services))[2] == 1  # the old rows were deleted by that send


async def test_api_answers_429_and_webmail_keeps_the_message_on_screen(nodes):
    services, _two, demo = nodes
    carol = await ctx_of(services, demo, "carol")
    token = await services.api_tokens.create(carol, "flood", "write", 30)
    transport = httpx.ASGITransport(app=create_app(services))
    mail = {"from": CAROL, "to": [BOB], "subject": "Rota", "body": "Monday."}
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://testserver/api/v1",
        headers={"Authorization": f"Bearer {token}"},
    ) as api:
        for _ in range(LIMIT):
            assert (await api.post("/send", json=mail)).status_code == 202
        before = await stored(services)
        refused = await api.post("/send", json=mail)
    assert refused.status_code == 429, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert "messages in the last hour" in refused.json()["detail"]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as web:
        await log_in(web, CAROL, demo.passwords[CAROL])
        _html, form = await open_compose(web, f"mailbox={await mailbox_id(services, carol, CAROL)}")
        form |= {"to": BOB, "subject": "Still here", "body": "Keep me.", "action": "send"}
        page = await web.post("/compose", data=form)
    assert page.status_code == 429
    assert "messages in the last hour" in page.text and "Keep me." in page.text
    assert await stored(services) == before


# --- SMTP submission on a real socket --------------------------------------------------------


@pytest.fixture
async def server(store: TestStore, ca: trustme.CA, tmp_path: Path) -> AsyncIterator[Server]:
    settings = load_settings(env=listener_env(store, ca, tmp_path) | ENV)
    running = Server(settings, resolver=StaticResolver())
    await running.start()
    try:
        yield running
    finally:
        await running.stop(grace=2)


def _open(port: int, ca: trustme.CA, password: str) -> smtplib.SMTP_SSL:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    client = smtplib.SMTP_SSL("127.0.0.1", port, context=context, timeout=10)
    client.login(CAROL, password)
    return client


def _send(client: smtplib.SMTP, n: int) -> None:
    client.sendmail(CAROL, [BOB], raw(CAROL, n))  # local only: no bounce races the counts


async def test_smtp_says_451_4_7_1_at_mail_from_and_after_data(server: Server, ca: trustme.CA):
    services = server.runtime.services
    demo = await load_demo(services, system_context("test"))
    carol = await ctx_of(services, demo, "carol")
    port, password = server.ports["submissions"], demo.passwords[CAROL]
    client = await asyncio.to_thread(_open, port, ca, password)
    for n in range(LIMIT - 1):
        await asyncio.to_thread(_send, client, n)
    # A transaction begun with one message left; the hour fills (webmail, say) before DATA.
    assert (await asyncio.to_thread(client.mail, CAROL))[0] == 250
    assert (await asyncio.to_thread(client.rcpt, BOB))[0] == 250
    await services.submission.submit(carol, CAROL, [BOB], raw(CAROL, 50))
    before = await stored(services)
    code, text = await asyncio.to_thread(client.data, raw(CAROL, 51))
    assert code == 451 and text.startswith(b"4.7.1 you have sent 3 messages"), text
    with pytest.raises(smtplib.SMTPSenderRefused) as at_mail:  # the next one: at MAIL FROM
        await asyncio.to_thread(_send, client, 52)
    assert at_mail.value.smtp_code == 451 and at_mail.value.smtp_error.startswith(b"4.7.1")
    assert await stored(services) == before  # nothing stored, delivered or queued
    await asyncio.to_thread(client.quit)
