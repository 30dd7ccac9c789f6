"""`securemail migrate`, `demo`, `deliver`, `audit list` and `audit verify` through the real
command."""

import itertools
import stat

from alembic.script import ScriptDirectory

from securemail.core.context import AccessContext
from securemail.core.rights import Right
from securemail.core.search import SearchQuery
from securemail.services.demo import DEMO_GROUP
from securemail.services.registry import Services
from securemail.store.migrate import alembic_config
from tests.cli.conftest import ALICE, BOB, PASSWORD, TEAM, Acme, Cli
from tests.conftest import TestStore

DEMO_PEOPLE = [f"{n}@polres.co.uk" for n in ("admin", "alice", "bob", "carol", "dave", "erin")]


def printed_passwords(out: str) -> dict[str, str]:
    pairs = [line.split("  ", 1) for line in out.splitlines() if "@polres.co.uk  " in line]
    return dict(pairs)


async def test_demo_loads_once_and_prints_the_same_passwords(
    cli: Cli, store: TestStore, services: Services
) -> None:
    first = await cli("demo")
    assert first.code == 0, first
    assert first.out.startswith("demo organisation 'Police Research Institute' created\n")
    passwords = printed_passwords(first.out)
    assert sorted(passwords) == sorted(DEMO_PEOPLE)
    path = store.data_dir / "demo-passwords.txt"
    assert f"demo passwords (also in {path}):" in first.out
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert printed_passwords(path.read_text()) == passwords

    second = await cli("demo")
    assert second.code == 0
    assert second.out.startswith("demo organisation already present\n")
    assert printed_passwords(second.out) == passwords
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    rights = {}
    for address, password in passwords.items():
        ctx = await services.auth.authenticate(address, password, channel="test")
        boxes = {m.address: m.rights for m in await services.mailboxes.list_mailboxes(ctx)}
        rights[address.split("@")[0]] = boxes.get(DEMO_GROUP.lower())
    assert rights == {
        "admin": None,
        "alice": Right.READ,
        "bob": Right.READ | Right.WRITE,
        "carol": Right.READ | Right.MAIL,
        "dave": Right.READ | Right.WRITE | Right.MAIL | Right.DELETE | Right.MANAGE,
        "erin": None,
    }
    users = await cli("user", "list", "--json")
    assert sorted(u["address"] for u in users.json()) == sorted(DEMO_PEOPLE)


async def inbox_subjects(services: Services, ctx: AccessContext, address: str) -> list[str]:
    mailbox = await services.mailboxes.get_mailbox_by_address(ctx, address)
    folders = await services.mailboxes.list_folders(ctx, mailbox.id)
    inbox = next(f for f in folders if f.name == "INBOX")
    return [m.subject for m in await services.messages.list_messages(ctx, inbox.id)]


async def test_deliver_stores_the_message_in_each_inbox(acme: Acme, cli: Cli) -> None:
    raw = (
        "From: Jane Smith <jane@university.example>\r\nTo: team@acme.example\r\n"
        "Subject: Evaluation data\r\nMessage-ID: <q1@university.example>\r\n\r\n"
        "Could you share the data?\r\n"
    )
    result = await cli("deliver", "Team@ACME.example", ALICE, TEAM, stdin=raw)
    assert (result.code, result.out) == (0, f"delivered to {TEAM}\ndelivered to {ALICE}\n")
    services = acme.services
    bob = await services.auth.authenticate(BOB, PASSWORD, channel="test")
    alice = await services.auth.authenticate(ALICE, PASSWORD, channel="test")
    assert await inbox_subjects(services, bob, TEAM) == ["Evaluation data"]
    assert await inbox_subjects(services, alice, ALICE) == ["Evaluation data"]
    assert await inbox_subjects(services, bob, BOB) == []
    group = await services.mailboxes.get_mailbox_by_address(bob, TEAM)
    found = await services.messages.search(bob, group.id, SearchQuery(text="share"))
    assert [m.subject for m in found] == ["Evaluation data"]
    opened = await services.messages.open_message(bob, found[0].id)
    assert opened.raw == raw.encode()


async def test_audit_list_and_verify(acme: Acme, cli: Cli) -> None:
    await cli("grant", TEAM, ALICE, "read,write")
    await cli("revoke", TEAM, ALICE, "write")
    verified = await cli("audit", "verify")
    assert verified.code == 0, verified
    entries = (await cli("audit", "list", "--limit", "500", "--json")).json()
    # org.create x2, user.create x3, group.create, grant (fixture); grant, revoke (above).
    assert len(entries) == 9
    assert [e["id"] for e in entries] == list(range(9, 0, -1))
    head = entries[0]
    assert verified.out == f"audit chain intact: 9 entries, head 9 {head['hash']}\n"
    assert [e["action"] for e in entries[:2]] == ["revoke", "grant"]
    assert entries[0]["target"] == ALICE and entries[0]["mailbox"] == TEAM
    assert entries[0]["actor"] == "system"
    assert "removed=write now=read" in entries[0]["detail"]
    assert all(e["prev_hash"] == older["hash"] for e, older in itertools.pairwise(entries))

    team_only = (await cli("audit", "list", "--mailbox", "TEAM@acme.example", "--json")).json()
    assert [e["action"] for e in team_only] == ["revoke", "grant", "grant", "group.create"]
    assert {e["mailbox"] for e in team_only} == {TEAM}
    limited = (await cli("audit", "list", "--limit", "2", "--json")).json()
    assert [e["id"] for e in limited] == [9, 8]
    table = (await cli("audit", "list", "--limit", "1")).out.splitlines()
    assert table[0].split() == ["ID", "AT", "(UTC)", "ACTOR", "ACTION", "MAILBOX", "TARGET"]
    assert table[1].split()[0] == "9" and table[1].split()[-3:] == ["revoke", TEAM, ALICE]


async def test_migrate_builds_the_schema_and_is_idempotent(cli: Cli) -> None:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    first = await cli("migrate")
    assert (first.code, first.out, first.err_lines) == (0, f"database at revision {head}\n", [])
    created = await cli("org", "create", "Kept Ltd", "--domain", "kept.example")
    assert created.code == 0
    again = await cli("migrate")
    assert (again.code, again.out, again.err_lines) == (0, first.out, [])
    orgs = (await cli("org", "list", "--json")).json()
    assert [o["name"] for o in orgs] == ["Kept Ltd"]
