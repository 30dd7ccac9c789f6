"""Two nodes on one PostgreSQL schema behave as one service: the outbound queue delivers each
message exactly once even when a node is killed mid-delivery, UIDs and MODSEQs grow in commit
order under writers on both nodes, a webmail session and the failed-login count are shared.

Always on PostgreSQL, each test in a fresh schema (tests/e2e/cluster.py); live updates across
nodes are tested in test_cross_node_events.py."""

import asyncio
import contextlib
import email
import poplib
import re
import smtplib
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import trustme
from aiosmtpd.smtp import SMTP, Envelope, Session
from imapclient.exceptions import LoginError  # type: ignore[import-untyped]
from sqlalchemy import select

from securemail.server import Server
from securemail.services.demo import DEMO_DOMAIN, DEMO_GROUP
from securemail.store.repos.queue import SENT
from securemail.store.schema import folders, mailboxes, messages
from tests.e2e.cluster import (
    SHARED_INBOX,
    ChildCluster,
    Cluster,
    Node,
    child_nodes,
    deliver_mx,
    imap_login,
    imap_on,
    mail,
    sql,
    two_nodes,
)
from tests.relay.conftest import SinkHandler, serve_sink
from tests.web.conftest import csrf_of, log_in

pytestmark = pytest.mark.always_postgres  # run once: both CI passes would repeat it

T = TypeVar("T")
ALICE = f"alice@{DEMO_DOMAIN}"
LEASE = 12  # [relay] lease_seconds: how long a dead node's rows wait before another takes them
WAIT = 30.0  # seconds any one expected outcome may take before the test fails


@pytest.fixture
async def cluster(tmp_path: Path, ca: trustme.CA) -> AsyncIterator[Cluster]:
    async with two_nodes(tmp_path, ca) as running:
        yield running


async def in_threads(*calls: Callable[[], T]) -> list[T]:
    """Run blocking client code concurrently, each call on a thread of its own."""
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(await asyncio.gather(*(loop.run_in_executor(pool, c) for c in calls)))


# ---------------------------------------------------------------- (a) the outbound queue


@dataclass
class HoldingSink(SinkHandler):
    """The remote MX. The first DATA of the `hold` subject is never answered: the connection
    stays open until the sending node dies (then aiosmtpd cancels the handler), so no 250 can
    have reached a node that is killed while holding it."""

    hold: str = ""
    held_by: str = ""  # the EHLO name of the node that sent the held DATA
    held: asyncio.Event = field(default_factory=asyncio.Event)
    dropped: asyncio.Event = field(default_factory=asyncio.Event)
    arrivals: list[tuple[str, str]] = field(default_factory=list)  # (subject, EHLO name)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        subject = str(email.message_from_bytes(content).get("Subject", ""))
        helo = str(session.host_name)
        if subject == self.hold and not self.held.is_set():
            self.held_by = helo
            self.held.set()
            try:
                await asyncio.Event().wait()
            finally:
                self.dropped.set()
        self.arrivals.append((subject, helo))
        self.arrived.set()
        return "250 2.0.0 OK: queued"

    def counts(self) -> Counter[str]:
        return Counter(subject for subject, _helo in self.arrivals)

    async def until_arrived(self, subjects: Sequence[str]) -> None:
        async with asyncio.timeout(WAIT):
            while True:
                self.arrived.clear()
                if set(subjects) <= set(self.counts()):
                    return
                await self.arrived.wait()


def relay_env(sink_port: int) -> dict[str, str]:
    return {
        "SECUREMAIL_RELAY_SMARTHOST": f"127.0.0.1:{sink_port}",
        "SECUREMAIL_RELAY_HELO_NAME": "node-{name}.test",
        "SECUREMAIL_RELAY_LEASE_SECONDS": str(LEASE),
        "SECUREMAIL_RELAY_POLL_SECONDS": "1",
        "SECUREMAIL_RELAY_RETRY_BASE_SECONDS": "1",
    }


def outbound(subject: str) -> bytes:
    return (
        f"From: Alice <{ALICE}>\r\nTo: <{recipient(subject)}>\r\nSubject: {subject}\r\n"
        f"Message-ID: <{subject.replace(' ', '.')}@{DEMO_DOMAIN}>\r\n\r\nHello.\r\n"
    ).encode()


def recipient(subject: str) -> str:
    return f"{subject.replace(' ', '.').lower()}@remote.example"


def submit(cluster: ChildCluster, node: Node, subjects: Sequence[str]) -> None:
    """Alice sends each subject to its own remote recipient through `node`'s submission port."""
    with smtplib.SMTP("127.0.0.1", node.ports["submission"], timeout=30) as smtp:
        smtp.starttls(context=cluster.client_tls)
        smtp.login(ALICE, cluster.password("alice"))
        for subject in subjects:
            smtp.sendmail(ALICE, [recipient(subject)], outbound(subject))


async def until_queue_done(cluster: ChildCluster) -> None:
    """Every queue row is SENT: nothing can be delivered again after this."""
    schema = cluster.env["SECUREMAIL_DATABASE_SCHEMA"]
    query = f'SELECT count(*) FROM "{schema}".outbound_queue WHERE status <> $1'
    async with asyncio.timeout(WAIT):
        while await sql(query, SENT):
            await asyncio.sleep(0.1)


async def test_two_working_nodes_deliver_each_message_exactly_once(
    tmp_path: Path, ca: trustme.CA
) -> None:
    handler = HoldingSink()
    async with serve_sink(handler) as sink, child_nodes(tmp_path, ca, relay_env(sink.port)) as c:
        a, b = c.nodes
        subjects = [f"Case {n}" for n in range(16)]
        await in_threads(lambda: submit(c, a, subjects[0::2]), lambda: submit(c, b, subjects[1::2]))
        await handler.until_arrived(subjects)
        await until_queue_done(c)
    assert handler.counts() == Counter(subjects), "a message was lost or sent twice"
    by_node = Counter(helo for _subject, helo in handler.arrivals)
    print(f"\ndelivered by node: {dict(by_node)}")
    assert set(by_node) == {"node-a.test", "node-b.test"}, "one node did all the work"


async def test_a_node_killed_mid_delivery_loses_nothing_and_duplicates_nothing(
    tmp_path: Path, ca: trustme.CA
) -> None:
    before = [f"Before {n}" for n in range(6)]
    during = [f"During {n}" for n in range(6)]
    after = [f"After {n}" for n in range(4)]
    handler = HoldingSink(hold="In flight")
    async with serve_sink(handler) as sink, child_nodes(tmp_path, ca, relay_env(sink.port)) as c:
        nodes = {f"node-{n.name}.test": n for n in c.nodes}
        await in_threads(
            lambda: submit(c, c.nodes[0], before[:3]), lambda: submit(c, c.nodes[1], before[3:])
        )
        await handler.until_arrived(before)
        await asyncio.to_thread(submit, c, c.nodes[0], ["In flight"])
        await asyncio.wait_for(handler.held.wait(), WAIT)  # a node is in DATA, unanswered
        held_at = time.monotonic()
        victim = nodes.pop(handler.held_by)
        [survivor] = nodes.values()
        await in_threads(
            lambda: submit(c, victim, during[:3]), lambda: submit(c, survivor, during[3:])
        )
        assert not handler.dropped.is_set(), "the held delivery ended before the kill"
        await asyncio.to_thread(victim.process.kill)
        killed_at = time.monotonic()
        assert killed_at - held_at < LEASE * 0.8, "too slow: the node gave up before the kill"
        await asyncio.wait_for(handler.dropped.wait(), WAIT)  # the kill closed the connection
        await asyncio.to_thread(submit, c, survivor, after)
        await handler.until_arrived([*before, "In flight", *during, *after])
        retried_after = time.monotonic() - killed_at
        await until_queue_done(c)
    assert handler.counts() == Counter([*before, "In flight", *during, *after])
    final = [helo for subject, helo in handler.arrivals if subject == "In flight"]
    assert final == [f"node-{survivor.name}.test"], "the in-flight message was not retried"
    print(
        f"\nkilled node {victim.name} {killed_at - held_at:.1f} s into the held DATA; "
        f"node {survivor.name} delivered the message {retried_after:.1f} s after the kill"
    )


# ---------------------------------------------------------------- (b) UIDs and MODSEQs


@dataclass
class Op:
    """One write as its client saw it: sent at `start`, acknowledged at `ack`."""

    key: str  # the subject of a new message, or "store <uid> <n>"
    start: float
    ack: float
    uid: int = 0
    modseq: int = 0


APPENDUID = re.compile(rb"APPENDUID \d+ (\d+)")


def smtp_writer(port: int, name: str, count: int, ops: list[Op]) -> None:
    for n in range(count):
        subject = f"{name} {n}"
        start = time.monotonic()
        deliver_mx(port, mail(subject))
        ops.append(Op(subject, start, time.monotonic()))


def append_writer(cluster: Cluster, server: Server, name: str, count: int, ops: list[Op]) -> None:
    with imap_on(cluster, server, "dave") as client:
        for n in range(count):
            subject = f"{name} {n}"
            start = time.monotonic()
            answer = client.append(SHARED_INBOX, mail(subject))
            found = APPENDUID.search(answer)
            assert found, f"APPEND answered {answer!r}"
            ops.append(Op(subject, start, time.monotonic(), uid=int(found.group(1))))


@contextlib.contextmanager
def condstore_on(cluster: Cluster, server: Server) -> Iterator[Any]:
    """Dave, who may change flags, in the group INBOX with CONDSTORE enabled (RFC 7162)."""
    address, password = f"dave@{DEMO_DOMAIN}", cluster.password("dave")
    with imap_login(server.ports["imaps"], cluster.client_tls, address, password) as client:
        client.enable("CONDSTORE")
        client.select_folder(SHARED_INBOX)
        yield client


def flag_writer(
    cluster: Cluster, server: Server, uids: list[int], count: int, ops: list[Op]
) -> None:
    with condstore_on(cluster, server) as client:
        for n in range(count):
            uid = uids[n % len(uids)]
            start = time.monotonic()
            change = client.add_flags if n // len(uids) % 2 == 0 else client.remove_flags
            change([uid], [b"\\Flagged"])
            ack = time.monotonic()
            modseq = client.fetch([uid], ["MODSEQ"])[uid][b"MODSEQ"][0]  # nobody else stores
            ops.append(Op(f"store {uid} {n}", start, ack, modseq=int(modseq)))


def observer(cluster: Cluster, server: Server, stop: threading.Event) -> list[int]:
    """UIDs in the order this client first saw them: UID SEARCH ALL after each IDLE wake-up
    (or half a second), until `stop`, then once more."""
    order: list[int] = []
    with imap_on(cluster, server, "alice") as client:
        while True:
            last = stop.is_set()
            order += sorted(set(client.search("ALL")) - set(order))
            if last:
                return order
            client.idle()
            client.idle_check(timeout=0.5)
            client.idle_done()


def final_state(
    cluster: Cluster, server: Server
) -> tuple[dict[bytes, Any], dict[str, tuple[int, int]]]:
    """STATUS of the group INBOX and, per subject, (UID, MODSEQ) as dave sees them."""
    with condstore_on(cluster, server) as client:
        status = client.folder_status(SHARED_INBOX, ["MESSAGES", "UIDNEXT", "HIGHESTMODSEQ"])
        fetched = client.fetch(
            client.search("ALL"), ["MODSEQ", "BODY.PEEK[HEADER.FIELDS (SUBJECT)]"]
        )
    by_subject = {}
    for uid, data in fetched.items():
        header = email.message_from_bytes(data[b"BODY[HEADER.FIELDS (SUBJECT)]"])
        by_subject[str(header["Subject"])] = (uid, int(data[b"MODSEQ"][0]))
    return status, by_subject


def order_violations(ops: Sequence[Op], attr: str) -> list[str]:
    """Pairs where a write acknowledged before another began got the larger number."""
    ops = [o for o in ops if getattr(o, attr)]
    return [
        f"{x.key} ({attr} {getattr(x, attr)}) acknowledged before {y.key} began "
        f"({attr} {getattr(y, attr)})"
        for x in ops
        for y in ops
        if x.ack < y.start and getattr(x, attr) >= getattr(y, attr)
    ]


async def uids_in_insertion_order(cluster: Cluster) -> list[int]:
    """The group INBOX's UIDs ordered by the rows' insertion (their primary key)."""
    query = (
        select(messages.c.uid)
        .select_from(messages.join(folders, folders.c.id == messages.c.folder_id))
        .join(mailboxes, mailboxes.c.id == folders.c.mailbox_id)
        .where(mailboxes.c.address == DEMO_GROUP.lower(), folders.c.name == "INBOX")
        .order_by(messages.c.id)
    )
    async with cluster.a.runtime.db.read() as conn:
        return [int(r[0]) for r in await conn.execute(query)]


async def test_uids_and_modseqs_grow_in_commit_order_with_writers_on_both_nodes(
    cluster: Cluster,
) -> None:
    a, b = cluster.a, cluster.b
    for n in range(3):  # older messages: only flag changes touch them
        await asyncio.to_thread(deliver_mx, a.ports["smtp"], mail(f"Old {n}"))
    _status, old = await asyncio.to_thread(final_state, cluster, b)
    targets = sorted(uid for uid, _modseq in old.values())
    ops: list[Op] = []
    stop = threading.Event()

    async def writers() -> None:
        await in_threads(
            *(lambda n=n: smtp_writer(a.ports["smtp"], f"Mx{n}", 6, ops) for n in range(3)),
            *(lambda n=n: append_writer(cluster, b, f"Append{n}", 6, ops) for n in range(3)),
            lambda: flag_writer(cluster, b, targets, 12, ops),
        )
        stop.set()

    seen_a, seen_b, _ = await asyncio.gather(
        asyncio.to_thread(observer, cluster, a, stop),
        asyncio.to_thread(observer, cluster, b, stop),
        writers(),
    )
    status, final = await asyncio.to_thread(final_state, cluster, b)
    for op in (o for o in ops if not o.key.startswith("store")):
        uid, modseq = final[op.key]
        assert op.uid in (0, uid), f"APPENDUID {op.uid} but {op.key} has UID {uid}"
        op.uid, op.modseq = uid, modseq
    uids = [uid for uid, _modseq in final.values()]
    assert len(final) == status[b"MESSAGES"] == 1 + 3 + 36, "a message is missing or doubled"
    assert len(set(uids)) == len(uids), "two messages share a UID"
    assert status[b"UIDNEXT"] > max(uids)
    assert status[b"HIGHESTMODSEQ"] >= max(m for _uid, m in final.values())  # RFC 7162 3.1.1
    assert await uids_in_insertion_order(cluster) == sorted(uids), "UIDs out of insertion order"
    assert order_violations(ops, "uid") == []
    assert order_violations(ops, "modseq") == []
    for seen in (seen_a, seen_b):
        assert seen == sorted(seen), "an observer saw a lower UID appear after a higher one"
        assert sorted(seen) == sorted(uids)


# ---------------------------------------------------------------- (c) webmail sessions


async def with_cookie(server: Server, cookie: dict[str, str], path: str = "/") -> httpx.Response:
    """GET `path` from `server` as a browser holding `cookie`, following redirects to a page."""
    url = f"http://127.0.0.1:{server.ports['http']}"
    async with httpx.AsyncClient(base_url=url, timeout=10, cookies=cookie) as browser:
        return await browser.get(path, follow_redirects=True)


async def test_a_webmail_session_from_node_a_works_on_node_b_and_ends_everywhere(
    cluster: Cluster,
) -> None:
    url_a = f"http://127.0.0.1:{cluster.a.ports['http']}"
    async with httpx.AsyncClient(base_url=url_a, timeout=10) as on_a:
        assert (await log_in(on_a, ALICE, cluster.password("alice"))).status_code == 303
        cookie = {"sm_session": on_a.cookies["sm_session"]}
    page = await with_cookie(cluster.b, cookie)  # her group mailbox's INBOX, on node B
    assert page.status_code == 200 and ALICE in page.text, "node B does not know her session"
    url_b = f"http://127.0.0.1:{cluster.b.ports['http']}"
    async with httpx.AsyncClient(base_url=url_b, timeout=10, cookies=cookie) as on_b:
        out = await on_b.post("/logout", data={"csrf": csrf_of(page.text)})
    assert (out.status_code, out.headers["location"]) == (303, "/login")
    for server in (cluster.a, cluster.b):  # the old cookie opens nothing on either node
        again = await with_cookie(server, cookie)
        assert again.url.path == "/login" and ALICE not in again.text


# ---------------------------------------------------------------- (d) lockout


def imap_login_ok(cluster: Cluster, server: Server, password: str) -> bool:
    address = f"bob@{DEMO_DOMAIN}"
    try:
        with imap_login(server.ports["imaps"], cluster.client_tls, address, password):
            return True
    except LoginError:
        return False


def pop3_login_ok(cluster: Cluster, server: Server, password: str) -> bool:
    client = poplib.POP3_SSL("127.0.0.1", server.ports["pop3s"], context=cluster.client_tls)
    try:
        client.user(f"bob@{DEMO_DOMAIN}")
        client.pass_(password)
        return True
    except poplib.error_proto:
        return False
    finally:
        client.close()


async def web_login_ok(server: Server, password: str) -> bool:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.ports['http']}") as web:
        answer = await log_in(web, f"bob@{DEMO_DOMAIN}", password)
    assert answer.status_code in (303, 401), answer.status_code
    return answer.status_code == 303


async def test_failed_logins_on_both_nodes_add_up_to_one_lockout(cluster: Cluster) -> None:
    a, b, good = cluster.a, cluster.b, cluster.password("bob")
    limit = a.settings.auth.max_failed_logins
    assert limit == 5
    assert await asyncio.to_thread(imap_login_ok, cluster, a, good)  # the counter starts at 0
    attempts = [
        lambda: imap_login_ok(cluster, a, "wrong password 1"),
        lambda: pop3_login_ok(cluster, b, "wrong password 2"),
        lambda: imap_login_ok(cluster, a, "wrong password 3"),
        lambda: pop3_login_ok(cluster, b, "wrong password 4"),
    ]
    for attempt in attempts:
        assert not await asyncio.to_thread(attempt)
    assert not await web_login_ok(b, "wrong password 5")  # the fifth, on node B's webmail
    assert not await asyncio.to_thread(imap_login_ok, cluster, a, good), "A let bob in"
    assert not await asyncio.to_thread(pop3_login_ok, cluster, b, good), "B let bob in"
    assert not await web_login_ok(a, good)
    assert not await web_login_ok(b, good)


async def test_concurrent_failed_logins_on_both_nodes_are_all_counted(cluster: Cluster) -> None:
    a, b, good = cluster.a, cluster.b, cluster.password("bob")
    limit = a.settings.auth.max_failed_logins
    wrong = [
        (lambda n=n: imap_login_ok(cluster, (a, b)[n % 2], f"wrong password {n}"))
        for n in range(limit)
    ]
    assert not any(await in_threads(*wrong))
    assert not await asyncio.to_thread(imap_login_ok, cluster, a, good), "A let bob in"
    assert not await asyncio.to_thread(imap_login_ok, cluster, b, good), "B let bob in"
