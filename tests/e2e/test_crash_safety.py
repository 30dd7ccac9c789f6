"""Kill -9 the server while clients are sending: every message that got its 250 is there after
restart, exactly once, and every stored message points at an existing blob."""

import asyncio
import smtplib
import threading
from pathlib import Path

from securemail import app
from securemail.core.context import system_context
from securemail.services.demo import load_demo
from securemail.store.repos.common import now  # noqa: F401  (keeps import-time cost honest)
from securemail.store.schema import contents, messages
from tests.conftest import TestStore
from tests.e2e.serve_process import ServeProcess

CLIENTS = 6
PER_CLIENT = 400  # far more than get through before the kill
KILL_AFTER = 60  # acknowledged messages before SIGKILL
RCPT = "alice@polres.co.uk"


errors: list[str] = []


def _client(port: int, n: int, acked: list[str], count: threading.Semaphore, stop: threading.Event):
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
            for i in range(PER_CLIENT):
                if stop.is_set():
                    return
                msgid = f"<crash-{n}-{i}@test>"
                body = f"From: a@b.example\r\nTo: {RCPT}\r\nSubject: {n}-{i}\r\n"
                body += f"Message-ID: {msgid}\r\n\r\n" + ("x" * 74 + "\r\n") * 40
                smtp.sendmail("a@b.example", [RCPT], body)  # returns only after 250
                acked.append(msgid)
                count.release()
    except (smtplib.SMTPException, OSError) as exc:
        errors.append(repr(exc))
        return  # the server died under us: what was not acknowledged may be lost


async def _message_ids_and_blobs(store: TestStore) -> tuple[list[str], list[bool]]:
    runtime = app.build(store.settings)
    try:
        async with runtime.db.read() as conn:
            rows = (
                await conn.execute(
                    messages.join(contents, contents.c.id == messages.c.content_id)
                    .select()
                    .with_only_columns(contents.c.message_id, contents.c.blob_id)
                )
            ).all()
            present = [await runtime.services.deps.blobs.exists(conn, r[1]) for r in rows]
        return [r[0] for r in rows], present
    finally:
        await runtime.close()


async def _load_demo(store: TestStore) -> None:
    runtime = app.build(store.settings)
    try:
        from securemail.store.migrate import upgrade

        await upgrade(runtime.db)
        await load_demo(runtime.services, system_context("test"))
    finally:
        await runtime.close()


def test_sigkill_under_load_loses_no_acknowledged_message(store: TestStore, tmp_path: Path):
    asyncio.run(_load_demo(store))
    server = ServeProcess(store.env, store.data_dir, tmp_path)
    ports = server.start()
    acked: list[str] = []
    count, stop = threading.Semaphore(0), threading.Event()
    threads = [
        threading.Thread(target=_client, args=(ports["smtp"], n, acked, count, stop))
        for n in range(CLIENTS)
    ]
    for t in threads:
        t.start()
    for _ in range(KILL_AFTER):
        assert count.acquire(timeout=60), f"the server stopped acknowledging mail: {errors}"
    server.kill()
    stop.set()
    for t in threads:
        t.join(60)
    acknowledged = list(acked)
    assert len(acknowledged) >= KILL_AFTER

    server.start()  # the restarted server opens the same store cleanly
    assert server.terminate() == 0
    ids, blobs_present = asyncio.run(_message_ids_and_blobs(store))
    crash_ids = [i for i in ids if i.startswith("<crash-")]
    assert len(crash_ids) == len(set(crash_ids)), "a message was stored twice"
    missing = set(acknowledged) - set(crash_ids)
    assert not missing, f"{len(missing)} acknowledged messages lost"
    assert all(blobs_present), "a stored message points at a missing blob"
