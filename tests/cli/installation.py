"""The installation the store-moving commands are tested on (backup, restore, migrate-store):
an SQLite data directory with the demo organisation and real mail, and fresh PostgreSQL schemas
for the other side. Shared by tests/cli/test_backup.py and tests/cli/test_migrate_store.py."""

import contextlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from securemail.config import load_settings
from securemail.core.context import AccessContext, system_context
from securemail.core.model import Flag
from securemail.core.rights import Right
from securemail.services.demo import DEMO_DOMAIN, DEMO_GROUP, load_demo
from securemail.services.registry import Services
from tests.conftest import TestStore, cheap_env
from tests.e2e.cluster import require_postgres, sql

JANE = "jane@university.example"


def sqlite_store(tmp_path: Path) -> TestStore:
    """Always an SQLite installation, whatever SECUREMAIL_TEST_DATABASE_URL says."""
    env = cheap_env(tmp_path / "var")
    return TestStore(tmp_path / "var", env, load_settings(env=env))


def mail(subject: str, to: str, attachment: bytes | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Jane Smith <{JANE}>"
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{secrets.token_hex(8)}@university.example>"
    msg.set_content(f"About {subject}.\n")
    if attachment is not None:
        msg.add_attachment(attachment, maintype="application", subtype="pdf", filename="data.pdf")
    return msg.as_bytes().replace(b"\n", b"\r\n")


async def ctx_of(services: Services, name: str) -> AccessContext:
    """The user's own context, as a login would give it (no password needed)."""
    users = await services.directory.list_users(system_context("test"))
    found = {u.address: u.id for u in users}
    return await services.auth.context_for(found[f"{name}@{DEMO_DOMAIN}"], channel="test")


async def group_id(services: Services) -> int:
    dave = await ctx_of(services, "dave")
    return (await services.mailboxes.get_mailbox_by_address(dave, DEMO_GROUP)).id


async def populate(services: Services, system: AccessContext) -> None:
    """The demo, mail with attachments in the group and personal mailboxes, flags, per-user
    seen, a moved message, a message sent as the group (and queued outbound), audit entries."""
    await load_demo(services, system)
    pdf = b"%PDF-1.4 evaluation data " + bytes(range(256)) * 40
    await services.delivery.deliver(system, mail("Pilot data", DEMO_GROUP, pdf), [DEMO_GROUP])
    await services.delivery.deliver(system, mail("Follow-up", DEMO_GROUP), [DEMO_GROUP])
    alice_box = f"alice@{DEMO_DOMAIN}"
    both = mail("To both", f"{DEMO_GROUP}, {alice_box}", pdf)
    await services.delivery.deliver(system, both, [DEMO_GROUP, alice_box])
    alice, bob, carol, dave = [await ctx_of(services, n) for n in ("alice", "bob", "carol", "dave")]
    folders = await services.mailboxes.list_folders(dave, await group_id(services))
    inbox = {f.name: f for f in folders}["INBOX"]
    listed = await services.messages.list_messages(dave, inbox.id, limit=50)
    first, second, third = sorted(listed, key=lambda s: s.uid)[:3]
    await services.messages.set_flags(dave, second.id, Flag.FLAGGED | Flag.ANSWERED, ["$Case"])
    await services.messages.open_message(alice, first.id)
    await services.messages.set_seen(carol, second.id, True)
    cases = await services.mailboxes.create_folder(bob, inbox.mailbox_id, "Cases 2026")
    await services.messages.move(bob, [third.id], cases.id)
    reply = mail("Re: Pilot data", JANE).replace(
        f"From: Jane Smith <{JANE}>".encode(), f"From: {DEMO_GROUP}".encode()
    )
    await services.submission.submit(carol, DEMO_GROUP, [JANE], reply)
    await services.sharing.grant(dave, DEMO_GROUP, f"erin@{DEMO_DOMAIN}", Right.READ)
    personal = await services.mailboxes.get_personal_mailbox(alice)
    for folder in await services.mailboxes.list_folders(alice, personal.id):
        for summary in await services.messages.list_messages(alice, folder.id, limit=50):
            await services.messages.set_seen(alice, summary.id, True)


@dataclass
class Installation:
    services: Services
    store: TestStore
    system: AccessContext


@contextlib.asynccontextmanager
async def fresh_schema(prefix: str) -> AsyncIterator[str]:
    """A fresh, empty PostgreSQL schema, dropped afterwards; skipped (failed when CI=true)
    when PostgreSQL cannot be reached."""
    await require_postgres()
    name = prefix + secrets.token_hex(6)
    await sql(f'CREATE SCHEMA "{name}"')
    try:
        yield name
    finally:
        await sql(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


async def source_view(services: Services, ctx: AccessContext) -> dict[str, Any]:
    """Every folder of every mailbox the user may open: the folder, its messages, raw bytes.
    Raw bytes come from the blob store directly: reading through the service would audit."""
    view: dict[str, Any] = {}
    for box in await services.mailboxes.list_mailboxes(ctx):
        for folder in await services.mailboxes.list_folders(ctx, box.id):
            summaries = await services.messages.list_messages(ctx, folder.id, limit=500)
            async with services.deps.db.read() as conn:
                raws = [await services.deps.blobs.get(conn, s.blob_id) for s in summaries]
            view[f"{box.address}/{folder.name}"] = (
                box,
                folder,
                list(zip(summaries, raws, strict=True)),
            )
    return view


async def target_view(services: Services, ctx: AccessContext) -> dict[str, Any]:
    """The same, the raw bytes read the way IMAP FETCH reads them on the target."""
    view: dict[str, Any] = {}
    for box in await services.mailboxes.list_mailboxes(ctx):
        for folder in await services.mailboxes.list_folders(ctx, box.id):
            summaries = await services.messages.list_messages(ctx, folder.id, limit=500)
            ids = [s.id for s in summaries]
            pairs = await services.messages.read_many(ctx, folder.id, ids) if ids else []
            raws = {state.id: raw for state, raw in pairs}  # a message not read is left out
            found = [(s, raws[s.id]) for s in summaries if s.id in raws]
            view[f"{box.address}/{folder.name}"] = (box, folder, found)
    return view
