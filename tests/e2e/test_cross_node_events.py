"""Two `securemail serve` nodes on one PostgreSQL schema: a change committed on one reaches
the IDLE clients and webmail pages of the other (LISTEN/NOTIFY, `store/notify.py`).

These tests always run on PostgreSQL (SECUREMAIL_TEST_DATABASE_URL, else the local test
database of `cluster.py`), each in a fresh schema, even when the rest of the suite runs on SQLite.
Latencies are measured on the wall clock and printed (run with -s to see them)."""

import asyncio
import contextlib
import json
import smtplib
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme

from securemail.core.context import system_context
from securemail.core.events import Event, GrantsChanged, MailboxChanged
from securemail.core.model import Flag
from securemail.server import Server
from securemail.services.demo import DEMO_DOMAIN, DEMO_GROUP
from securemail.store.notify import PAYLOAD_LIMIT, channel_for, decode, encode
from tests.e2e.cluster import OUTSIDER, Cluster, imap_on, mail, sql, two_nodes
from tests.web.conftest import log_in

pytestmark = pytest.mark.always_postgres  # run once: both CI passes would repeat it

LATENCY_LIMIT = 1.5  # seconds; the aim is one second, measured with some slack for CI


@pytest.fixture
async def cluster(tmp_path: Path, ca: trustme.CA) -> AsyncIterator[Cluster]:
    async with two_nodes(tmp_path, ca) as running:
        yield running


# ---------------------------------------------------------------- clients (run in threads)


def idle_until(client: Any, kind: bytes, timeout: float = 10.0) -> tuple[list[Any], float]:
    """IDLE responses until one of `kind` (EXISTS, FETCH) arrives; and when it did."""
    seen: list[Any] = []
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        seen += client.idle_check(timeout=left)
        if any(len(r) > 1 and r[1] == kind for r in seen):
            return seen, time.monotonic()
    return seen, time.monotonic()


def send_mx(server: Server, raw: bytes, to: str = DEMO_GROUP) -> float:
    """Deliver `raw` through the node's MX listener; the moment its 250 arrived."""
    with smtplib.SMTP("127.0.0.1", server.ports["smtp"], timeout=10) as smtp:
        smtp.sendmail(OUTSIDER, [to], raw)
        return time.monotonic()


async def drain(queue: asyncio.Queue[Event], settle: float = 0.3) -> list[Event]:
    """What arrives on `queue` until it has been quiet for `settle` seconds."""
    out: list[Event] = []
    with contextlib.suppress(TimeoutError):
        while True:
            out.append(await asyncio.wait_for(queue.get(), settle))
    return out


async def group_inbox(cluster: Cluster, server: Server, user: str) -> tuple[int, int]:
    ctx = await cluster.ctx(server, user)
    mailboxes = server.runtime.services.mailboxes
    box = await mailboxes.get_mailbox_by_address(ctx, DEMO_GROUP)
    folders = {f.name: f.id for f in await mailboxes.list_folders(ctx, box.id)}
    return box.id, folders["INBOX"]


# ---------------------------------------------------------------- (a) IDLE


async def test_idle_on_node_a_hears_a_delivery_on_node_b(cluster: Cluster) -> None:
    loop = asyncio.get_running_loop()
    idling: asyncio.Future[None] = loop.create_future()

    def watch() -> tuple[list[Any], float]:
        with imap_on(cluster, cluster.a, "carol") as client:
            client.idle()
            loop.call_soon_threadsafe(idling.set_result, None)
            seen, heard_at = idle_until(client, b"EXISTS")
            client.idle_done()
            return seen, heard_at

    watcher = asyncio.create_task(asyncio.to_thread(watch))
    await asyncio.wait_for(asyncio.shield(idling), 10)
    sent_at = await asyncio.to_thread(send_mx, cluster.b, mail("Across nodes"))
    seen, heard_at = await asyncio.wait_for(watcher, 15)
    assert (2, b"EXISTS") in seen, f"node A's IDLE reported {seen}"
    latency = heard_at - sent_at
    print(f"\nIDLE EXISTS on node A {latency * 1000:.0f} ms after node B's 250")
    assert latency < LATENCY_LIMIT, f"EXISTS took {latency:.3f}s (measured) to cross nodes"


# ---------------------------------------------------------------- (b) flags


async def test_a_flag_change_on_node_b_reaches_node_a(cluster: Cluster) -> None:
    loop = asyncio.get_running_loop()
    idling: asyncio.Future[None] = loop.create_future()
    idle_over: asyncio.Future[None] = loop.create_future()
    second_change = threading.Event()
    dave = await cluster.ctx(cluster.b, "dave")
    _box, inbox = await group_inbox(cluster, cluster.b, "dave")
    messages = cluster.b.runtime.services.messages
    [enquiry] = await messages.list_messages(dave, inbox, offset=0, limit=10)

    def watch() -> tuple[list[Any], list[Any]]:
        with imap_on(cluster, cluster.a, "alice") as client:
            client.idle()
            loop.call_soon_threadsafe(idling.set_result, None)
            during_idle, _at = idle_until(client, b"FETCH")
            client.idle_done()
            loop.call_soon_threadsafe(idle_over.set_result, None)
            assert second_change.wait(10)
            _text, after_noop = client.noop()
            return during_idle, after_noop

    watcher = asyncio.create_task(asyncio.to_thread(watch))
    await asyncio.wait_for(asyncio.shield(idling), 10)
    await messages.set_flags(dave, enquiry.id, Flag.FLAGGED)
    await asyncio.wait_for(asyncio.shield(idle_over), 10)
    await messages.set_flags(dave, enquiry.id, Flag.ANSWERED)
    second_change.set()
    during_idle, after_noop = await asyncio.wait_for(watcher, 15)
    assert (1, b"FETCH", (b"UID", 1, b"FLAGS", (b"\\Flagged",))) in during_idle, during_idle
    assert (1, b"FETCH", (b"UID", 1, b"FLAGS", (b"\\Answered",))) in after_noop, after_noop


# ---------------------------------------------------------------- (c) webmail


async def next_changed(lines: AsyncIterator[str]) -> tuple[dict[str, Any], float]:
    event = ""
    async for line in lines:
        if line.startswith("event:"):
            event = line.split(":", 1)[1].strip()
        elif line.startswith("data:") and event == "changed":
            return json.loads(line.split(":", 1)[1]), time.monotonic()
    raise AssertionError("the event stream ended")


async def test_webmail_on_node_a_is_told_of_a_delivery_on_node_b(cluster: Cluster) -> None:
    group, inbox = await group_inbox(cluster, cluster.a, "alice")
    base = f"http://127.0.0.1:{cluster.a.ports['http']}"
    async with httpx.AsyncClient(base_url=base, timeout=5) as alice:
        address = f"alice@{DEMO_DOMAIN}"
        assert (await log_in(alice, address, cluster.password("alice"))).status_code == 303
        async with alice.stream("GET", "/events") as events:
            assert events.status_code == 200
            lines = events.aiter_lines()
            assert await anext(lines) == "retry: 3000"
            reader = asyncio.create_task(next_changed(lines))
            sent_at = await asyncio.to_thread(send_mx, cluster.b, mail("Live across nodes"))
            changed, heard_at = await asyncio.wait_for(reader, 5)
    assert changed == {"mailbox": group, "folder": inbox, "kind": "new"}
    latency = heard_at - sent_at
    print(f"\nwebmail `changed` on node A {latency * 1000:.0f} ms after node B's 250")
    assert latency < LATENCY_LIMIT, f"`changed` took {latency:.3f}s (measured) to cross nodes"


async def test_a_user_without_read_hears_nothing_of_the_group_across_nodes(
    cluster: Cluster,
) -> None:
    """erin (no right on the group) listens on node A; a delivery to the group on node B, then
    one to erin herself: the first change erin is told of is her own, never the group's."""
    group, _inbox = await group_inbox(cluster, cluster.a, "alice")
    erin_address = f"erin@{DEMO_DOMAIN}"
    base = f"http://127.0.0.1:{cluster.a.ports['http']}"
    async with httpx.AsyncClient(base_url=base, timeout=5) as erin:
        assert (await log_in(erin, erin_address, cluster.password("erin"))).status_code == 303
        async with erin.stream("GET", "/events") as events:
            assert events.status_code == 200
            lines = events.aiter_lines()
            assert await anext(lines) == "retry: 3000"
            reader = asyncio.create_task(next_changed(lines))
            await asyncio.to_thread(send_mx, cluster.b, mail("For the group only"))
            await asyncio.to_thread(send_mx, cluster.b, mail("For erin"), erin_address)
            changed, _heard_at = await asyncio.wait_for(reader, 5)
    assert changed["kind"] == "new" and changed["mailbox"] != group


# ---------------------------------------------------------------- (d) once, not twice


async def test_an_event_reaches_each_node_once(cluster: Cluster) -> None:
    bridge_a, bridge_b = cluster.bridge(cluster.a), cluster.bridge(cluster.b)
    group, inbox = await group_inbox(cluster, cluster.a, "alice")
    own_before, received_before = bridge_a.stats.own_ignored, bridge_b.stats.received
    async with (
        cluster.a.runtime.services.deps.events.subscribe() as on_a,
        cluster.b.runtime.services.deps.events.subscribe() as on_b,
    ):
        delivery = cluster.a.runtime.services.delivery
        await delivery.deliver(system_context("test"), mail("Once"), [DEMO_GROUP])
        async with asyncio.timeout(5):  # node A hears its own NOTIFY back, node B hears it
            while (
                bridge_a.stats.own_ignored == own_before
                or bridge_b.stats.received == received_before
            ):
                await asyncio.sleep(0.01)
        seen_a, seen_b = await drain(on_a), await drain(on_b)
    expected = MailboxChanged(group, inbox, "new")
    assert Counter(seen_a)[expected] == 1, seen_a
    assert Counter(seen_b)[expected] == 1, seen_b
    assert bridge_a.stats.received == 0, "node A republished events nobody else sent"


# ---------------------------------------------------------------- (e) reconnect


async def test_the_bridge_survives_its_listener_connection_being_killed(cluster: Cluster) -> None:
    bridge = cluster.bridge(cluster.a)
    old = bridge.listener_pid
    assert old is not None
    killed_at = time.monotonic()
    assert await sql("SELECT pg_terminate_backend($1)", old) is True
    async with asyncio.timeout(5):
        while bridge.listener_pid in (None, old):
            await asyncio.sleep(0.01)
    back = time.monotonic() - killed_at
    print(f"\nnode A's listener back {back * 1000:.0f} ms after pg_terminate_backend")
    assert bridge.stats.connects == 2
    group, inbox = await group_inbox(cluster, cluster.a, "alice")
    async with cluster.a.runtime.services.deps.events.subscribe() as on_a:
        await asyncio.to_thread(send_mx, cluster.b, mail("After the outage"))
        async with asyncio.timeout(LATENCY_LIMIT):
            while (await on_a.get()) != MailboxChanged(group, inbox, "new"):
                pass


# ---------------------------------------------------------------- malformed and foreign


async def test_malformed_notifications_are_ignored(cluster: Cluster) -> None:
    bridge = cluster.bridge(cluster.a)
    good = encode("another-node", [GrantsChanged(123, 456)])[0]
    async with cluster.a.runtime.services.deps.events.subscribe() as on_a:
        for payload in (
            "not json",
            '{"v": 1, "node": "x", "events": [{"type": "Nope", "fields": {}}]}',
            '{"v": 1, "node": "x", "events": [{"type": "GrantsChanged", '
            '"fields": {"mailbox_id": true, "user_id": 1}}]}',
            good,
        ):
            await sql("SELECT pg_notify($1, $2)", cluster.channel, payload)
        async with asyncio.timeout(2):
            assert await on_a.get() == GrantsChanged(123, 456)
    assert bridge.stats.malformed == 3


# ---------------------------------------------------------------- the format (no database)


def test_channels_are_identifiers_and_schemas_do_not_share_one() -> None:
    assert channel_for("") == "securemail_events_public"
    assert channel_for("t_0a1b") == "securemail_events_t_0a1b"
    odd = [channel_for(s) for s in ("Mail", "mail-1", "mail_1", "x" * 80, "x" * 81)]
    assert len(set(odd)) == 5
    assert all(len(c) <= 63 and c.replace("_", "").isalnum() and c.islower() for c in odd)


def test_large_batches_are_split_below_the_payload_limit() -> None:
    events: list[Event] = [MailboxChanged(i, i + 1, "new") for i in range(2000)]
    payloads = encode("node", events)
    assert len(payloads) > 1
    assert all(len(p.encode()) < PAYLOAD_LIMIT for p in payloads)
    assert [e for p in payloads for e in decode(p)[1]] == events
