"""The outbound worker end to end: queue rows in the store, a remote SMTP sink on a socket,
retries on the injected clock, bounces as DSNs in the sender's Inbox, audit entries."""

import asyncio
from datetime import timedelta
from email.message import EmailMessage

from securemail.services.policy import PolicyService
from securemail.store.repos import queue as queue_repo
from tests.relay.conftest import (
    REMOTE,
    SENDER,
    SinkHandler,
    World,
    message,
    parts,
    serve_sink,
    wait_for,
)

BOB, CAROL = f"bob@{REMOTE}", f"carol@{REMOTE}"


def status_fields(dsn: EmailMessage) -> list[dict[str, str]]:
    """The per-recipient blocks of a DSN's message/delivery-status part."""
    assert dsn.get_content_type() == "multipart/report"
    report = parts(dsn)[1]
    assert report.get_content_type() == "message/delivery-status"
    return [dict(block.items()) for block in parts(report)[1:]]


async def audit_actions(world: World) -> list[tuple[str, str, str]]:
    entries = await world.services.audit.list_entries(world.system)
    return [
        (e.action, e.mailbox, e.target) for e in reversed(entries) if e.action.startswith("mail.")
    ]


async def test_a_queued_message_reaches_the_remote_and_is_recorded(world: World) -> None:
    async with serve_sink() as sink:
        worker = world.worker(sink.port)
        await world.enqueue(message(), [BOB, CAROL])
        assert await worker.run_once() == 2
        assert await worker.run_once() == 0
    assert [(m.mail_from, m.rcpt_tos) for m in sink.handler.messages] == [(SENDER, [BOB, CAROL])]
    assert sink.handler.messages[0].message["Subject"] == "Case 42"
    rows = await world.rows()
    assert [(r.status, r.attempts, r.last_code, r.lease_owner) for r in rows] == [
        ("sent", 1, 250, None),
        ("sent", 1, 250, None),
    ]
    assert await audit_actions(world) == [
        ("mail.sent", SENDER, BOB),
        ("mail.sent", SENDER, CAROL),
    ]
    assert (await world.services.audit.verify(world.system)).ok


async def test_451_is_retried_after_the_backoff_and_then_delivered(world: World) -> None:
    handler = SinkHandler(data_replies=["451 4.3.0 try again later"])
    async with serve_sink(handler) as sink:
        worker = world.worker(sink.port, retry_base_seconds=60)
        await world.enqueue(message(), [BOB])
        assert await worker.run_once() == 1
        [row] = await world.rows()
        assert (row.status, row.attempts, row.last_status) == ("queued", 1, "4.3.0")
        assert row.next_attempt_at == world.clock() + timedelta(seconds=60)
        assert await worker.run_once() == 0  # not due yet
        world.clock.advance(60)
        assert await worker.run_once() == 1
    assert [m.rcpt_tos for m in handler.messages] == [[BOB]]
    [row] = await world.rows()
    assert (row.status, row.attempts) == ("sent", 2)
    assert await world.inbox() == []  # no DSN for mail that got through


async def test_backoff_doubles_up_to_the_maximum(world: World) -> None:
    handler = SinkHandler(rcpt_reply=lambda _r: "450 4.2.1 mailbox busy")
    async with serve_sink(handler) as sink:
        worker = world.worker(sink.port, retry_base_seconds=10, retry_max_seconds=45)
        await world.enqueue(message(), [BOB])
        waits = []
        for _ in range(4):
            before = world.clock()
            assert await worker.run_once() == 1
            [row] = await world.rows()
            waits.append((row.next_attempt_at - before).total_seconds())
            world.clock.current = row.next_attempt_at
    assert waits == [10, 20, 40, 45]


async def test_550_bounces_at_once_with_a_dsn_in_the_senders_inbox(world: World) -> None:
    handler = SinkHandler(rcpt_reply=lambda r: "550 5.1.1 <bob@remote.test>: no such user")
    async with serve_sink(handler) as sink:
        await world.enqueue(message(), [BOB])
        assert await world.worker(sink.port).run_once() == 1
    assert handler.messages == []
    [row] = await world.rows()
    assert (row.status, row.last_status, row.lease_owner) == ("bounced", "5.1.1", None)
    [dsn] = await world.inbox()
    assert dsn["Subject"] == "Undelivered Mail Returned to Sender"
    [fields] = status_fields(dsn)
    assert fields["Final-Recipient"] == f"rfc822; {BOB}"
    assert (fields["Action"], fields["Status"]) == ("failed", "5.1.1")
    assert fields["Diagnostic-Code"] == "smtp; 550 5.1.1 <bob@remote.test>: no such user"
    assert "Subject: Case 42" in parts(dsn)[2].get_payload()
    assert await audit_actions(world) == [("mail.bounced", SENDER, BOB)]


async def test_one_dsn_lists_every_failed_recipient_of_a_message(world: World) -> None:
    handler = SinkHandler(rcpt_reply=lambda r: "550 5.1.1 unknown" if r != BOB else None)
    async with serve_sink(handler) as sink:
        await world.enqueue(message(), [BOB, CAROL, f"dave@{REMOTE}"])
        assert await world.worker(sink.port).run_once() == 3
    assert [m.rcpt_tos for m in handler.messages] == [[BOB]]
    [dsn] = await world.inbox()
    assert [f["Final-Recipient"] for f in status_fields(dsn)] == [
        f"rfc822; {CAROL}",
        f"rfc822; dave@{REMOTE}",
    ]


async def test_temporary_failures_bounce_when_the_lifetime_runs_out(world: World) -> None:
    handler = SinkHandler(rcpt_reply=lambda _r: "451 4.4.5 system busy")
    async with serve_sink(handler) as sink:
        lifetime = 3600
        worker = world.worker(
            sink.port, max_lifetime_seconds=lifetime, retry_base_seconds=600, retry_max_seconds=900
        )
        await world.enqueue(message(), [BOB])
        attempts = 0
        while (await world.rows())[0].status == "queued":
            assert await worker.run_once() == 1
            attempts += 1
            world.clock.current = (await world.rows())[0].next_attempt_at
    [row] = await world.rows()
    assert row.status == "bounced" and row.attempts == attempts == 6  # at 0, 10, 25, 40, 55, 60 min
    assert row.last_attempt_at == row.created_at + timedelta(seconds=lifetime)
    [dsn] = await world.inbox()
    [fields] = status_fields(dsn)
    assert (fields["Action"], fields["Status"]) == ("failed", "4.4.5")
    assert fields["Diagnostic-Code"] == "smtp; 451 4.4.5 system busy"


async def test_no_dsn_for_the_null_sender(world: World) -> None:
    handler = SinkHandler(rcpt_reply=lambda _r: "550 5.1.1 unknown")
    async with serve_sink(handler) as sink:
        await world.enqueue(message(), [BOB], sender="")
        assert await world.worker(sink.port).run_once() == 1
    [row] = await world.rows()
    assert row.status == "bounced"
    assert await world.inbox() == []


async def test_tls_required_domain_is_deferred_never_sent_in_clear_then_bounced(
    world: World,
) -> None:
    policy = PolicyService(world.services.deps)
    await policy.add_tls_required(world.system, "Police Research Institute", REMOTE)
    async with serve_sink() as sink:  # no STARTTLS
        worker = world.worker(sink.port, max_lifetime_seconds=600, retry_base_seconds=300)
        await world.enqueue(message(), [BOB])
        assert await worker.run_once() == 1
        [row] = await world.rows()
        assert (row.status, row.last_status) == ("queued", "4.7.4")
        world.clock.advance(300)
        assert await worker.run_once() == 1
        world.clock.advance(300)
        assert await worker.run_once() == 1
    assert sink.handler.mail_commands == 0 and sink.handler.messages == []
    [row] = await world.rows()
    assert (row.status, row.attempts) == ("bounced", 3)
    [dsn] = await world.inbox()
    [fields] = status_fields(dsn)
    assert fields["Status"] == "4.7.4"
    assert "STARTTLS" in fields["Diagnostic-Code"]


async def test_a_dead_nodes_lease_runs_out_and_another_node_delivers(world: World) -> None:
    async with serve_sink() as sink:
        worker = world.worker(sink.port)
        await world.enqueue(message(), [BOB])
        dead = await worker.queue.claim(world.system, "dead-node", 10)
        assert [r.recipient for r in dead] == [BOB]
        assert await worker.run_once() == 0  # leased to the dead node
        world.clock.advance(world.services.deps.settings.relay.lease_seconds)
        assert await worker.run_once() == 1
    assert [m.rcpt_tos for m in sink.handler.messages] == [[BOB]]


async def test_a_dsn_owed_by_a_dead_node_is_delivered_by_another(world: World) -> None:
    """The node recorded the bounce and died before delivering the DSN."""
    from securemail.mail.dsn import from_reply

    async with serve_sink() as sink:
        worker = world.worker(sink.port)
        [row_id] = await world.enqueue(message(), [BOB])
        await worker.queue.claim(world.system, "dead-node", 10)
        owed = await worker.queue.record(
            world.system, "dead-node", [(row_id, from_reply(550, "5.1.1 unknown", "mx"))]
        )
        assert [(r.id, r.status) for r in owed] == [(row_id, "bouncing")]
        assert await worker.run_once() == 0
        world.clock.advance(world.services.deps.settings.relay.lease_seconds)
        assert await worker.run_once() == 1
    assert sink.handler.messages == []
    [row] = await world.rows()
    assert row.status == "bounced"
    [dsn] = await world.inbox()
    assert status_fields(dsn)[0]["Status"] == "5.1.1"


async def test_a_missing_blob_bounces_instead_of_looping(world: World) -> None:
    async with world.services.deps.db.write() as conn:
        await queue_repo.enqueue(
            conn,
            org_id=world.org_id,
            sender=SENDER,
            recipients=[BOB],
            blob_id="0" * 64,
            size=10,
            now=world.clock(),
        )
    async with serve_sink() as sink:
        assert await world.worker(sink.port).run_once() == 1
    [row] = await world.rows()
    assert (row.status, row.last_status) == ("bounced", "5.3.0")
    assert len(await world.inbox()) == 1


async def test_wake_starts_a_round_without_waiting_for_the_poll(world: World) -> None:
    async with serve_sink() as sink:
        worker = world.worker(sink.port, poll_seconds=3600)
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        await world.enqueue(message(), [BOB])
        worker.wake.set()
        await wait_for(sink.handler.arrived)
        stop.set()
        await asyncio.wait_for(task, 10)
    assert [m.rcpt_tos for m in sink.handler.messages] == [[BOB]]
