"""Provisioning through the real `securemail` command: organisations, domains, users, group
mailboxes and grants, checked through the command's own output and by logging in."""

import pytest

from securemail.core.context import AccessContext
from securemail.core.errors import AuthenticationFailed
from securemail.core.rights import Right
from securemail.services.registry import Services
from tests.cli.conftest import ACME, ALICE, BOB, PASSWORD, TEAM, Acme, Cli


async def logs_in(services: Services, address: str, password: str) -> bool:
    try:
        await services.auth.authenticate(address, password, channel="test")
    except AuthenticationFailed:
        return False
    return True


async def test_organisations_and_domains(cli: Cli) -> None:
    created = await cli("org", "create", "Police Research Institute", "--domain", "POLRES.co.uk",
                        "--json")  # fmt: skip
    assert created.code == 0, created
    org = created.json()
    assert org == {
        "id": org["id"],
        "name": "Police Research Institute",
        "domains": ["polres.co.uk"],
    }
    plain = await cli("org", "create", "  Acme   Ltd ", "--domain", "acme.example")
    assert (plain.code, plain.out) == (0, "created organisation Acme Ltd\n")
    added = await cli("domain", "add", "Police Research Institute", "polres.police.uk")
    assert added.code == 0
    assert added.out == (
        "organisation Police Research Institute now has domains polres.co.uk, polres.police.uk\n"
    )
    listed = await cli("org", "list", "--json")
    assert [(o["name"], o["domains"]) for o in listed.json()] == [
        ("Acme Ltd", ["acme.example"]),
        ("Police Research Institute", ["polres.co.uk", "polres.police.uk"]),
    ]
    table = await cli("org", "list")
    assert table.out.splitlines() == [
        "NAME                       DOMAINS",
        "Acme Ltd                   acme.example",
        "Police Research Institute  polres.co.uk,polres.police.uk",
    ]


async def test_a_generated_one_time_password_logs_in(acme: Acme, cli: Cli) -> None:
    result = await cli("user", "create", "Carol@Acme.example", "--name", "Carol C", "--json")
    assert result.code == 0, result
    user = result.json()
    password = user.pop("one_time_password")
    assert user == {"id": user["id"], "address": "carol@acme.example", "name": "Carol C",
                    "role": "user", "disabled": False, "last_login_at": None}  # fmt: skip
    assert len(password) >= 12
    ctx = await acme.services.auth.authenticate("carol@acme.example", password, channel="test")
    mailbox = await acme.services.mailboxes.get_personal_mailbox(ctx)
    assert mailbox.address == "carol@acme.example"
    assert not await logs_in(acme.services, "carol@acme.example", password + "x")


async def test_the_plain_output_prints_the_one_time_password(acme: Acme, cli: Cli) -> None:
    result = await cli("user", "create", "dan@acme.example")
    lines = result.out.splitlines()
    assert lines[0] == "created user dan@acme.example"
    prefix = "one-time password (change at first login): "
    assert lines[1].startswith(prefix) and len(lines) == 2
    assert await logs_in(acme.services, "dan@acme.example", lines[1].removeprefix(prefix))


async def test_a_password_from_stdin_is_used_and_not_printed(acme: Acme, cli: Cli) -> None:
    result = await cli("user", "create", "erin@acme.example", "--password-stdin",
                       stdin="a long passphrase\n")  # fmt: skip
    assert (result.code, result.out) == (0, "created user erin@acme.example\n")
    assert await logs_in(acme.services, "erin@acme.example", "a long passphrase")


async def test_an_administrator_and_the_user_list(acme: Acme, cli: Cli) -> None:
    admin = await cli("user", "create", "admin@acme.example", "--admin", "--json")
    assert admin.code == 0 and admin.json()["role"] == "org_admin"
    ctx = await acme.services.auth.authenticate(
        "admin@acme.example", admin.json()["one_time_password"], channel="test"
    )
    # An administrator administers; the group mailbox does not exist for them without a grant.
    assert [m.address for m in await acme.services.mailboxes.list_mailboxes(ctx)] == [
        "admin@acme.example"
    ]
    listed = await cli("user", "list", "--org", ACME, "--json")
    users = {u["address"]: u for u in listed.json()}
    assert sorted(users) == ["admin@acme.example", ALICE, BOB]
    assert users["admin@acme.example"]["role"] == "org_admin"
    assert users[ALICE]["role"] == "user"
    everyone = await cli("user", "list", "--json")
    assert [u["address"] for u in everyone.json()] == sorted([*users, "olga@other.example"])
    table = await cli("user", "list", "--org", ACME)
    assert table.out.splitlines()[0].split() == ["ADDRESS", "NAME", "ROLE", "DISABLED"]
    assert table.out.splitlines()[1].split() == ["admin@acme.example", "admin", "org_admin"]


async def test_disable_enable_and_reset_password(acme: Acme, cli: Cli) -> None:
    services = acme.services
    disabled = await cli("user", "disable", "Alice@acme.example")
    assert (disabled.code, disabled.out) == (0, "alice@acme.example disabled\n")
    assert not await logs_in(services, ALICE, PASSWORD)
    listed = {u["address"]: u["disabled"] for u in (await cli("user", "list", "--json")).json()}
    assert listed[ALICE] is True and listed[BOB] is False
    enabled = await cli("user", "enable", ALICE)
    assert (enabled.code, enabled.out) == (0, "alice@acme.example enabled\n")
    assert await logs_in(services, ALICE, PASSWORD)

    reset = await cli("user", "reset-password", ALICE)
    lines = reset.out.splitlines()
    assert lines[0] == "password of alice@acme.example reset"
    one_time = lines[1].removeprefix("one-time password (change at first login): ")
    assert not await logs_in(services, ALICE, PASSWORD)
    assert await logs_in(services, ALICE, one_time)

    chosen = await cli("user", "reset-password", ALICE, "--password-stdin",
                       stdin="another long passphrase\n")  # fmt: skip
    assert (chosen.code, chosen.out) == (0, "password of alice@acme.example reset\n")
    assert not await logs_in(services, ALICE, one_time)
    assert await logs_in(services, ALICE, "another long passphrase")


async def test_group_mailboxes(acme: Acme, cli: Cli) -> None:
    created = await cli("group", "create", "GM.Enquiries@acme.example", "--name", "Enquiries",
                        "--json")  # fmt: skip
    assert created.code == 0
    group = created.json()
    assert group == {"id": group["id"], "address": "gm.enquiries@acme.example",
                     "name": "Enquiries", "disabled": False}  # fmt: skip
    plain = await cli("group", "create", "gm.cases@acme.example")
    assert plain.out == "created group mailbox gm.cases@acme.example\n"
    listed = await cli("group", "list", "--org", ACME, "--json")
    assert [(g["address"], g["name"]) for g in listed.json()] == [
        ("gm.cases@acme.example", "gm.cases"),
        ("gm.enquiries@acme.example", "Enquiries"),
        (TEAM, "The Team"),
    ]
    table = await cli("group", "list")
    assert table.out.splitlines()[0].split() == ["ADDRESS", "NAME"]
    assert len(table.out.splitlines()) == 4


async def rights_of(services: Services, ctx: AccessContext) -> Right | None:
    boxes = {m.address: m.rights for m in await services.mailboxes.list_mailboxes(ctx)}
    return boxes.get(TEAM)


async def test_grant_revoke_some_and_revoke_all(acme: Acme, cli: Cli) -> None:
    services = acme.services
    alice = await services.auth.authenticate(ALICE, PASSWORD, channel="test")
    assert await rights_of(services, alice) is None

    granted = await cli("grant", TEAM, "Alice@acme.example", "read,write,mail")
    assert granted.out == f"alice@acme.example now holds read,write,mail on {TEAM}\n"
    assert await rights_of(services, alice) == Right.READ | Right.WRITE | Right.MAIL
    listed = await cli("grants", TEAM, "--json")
    assert listed.json() == [
        {"user": ALICE, "rights": ["read", "write", "mail"]},
        {"user": BOB, "rights": ["read"]},
    ]
    table = await cli("grants", TEAM)
    assert [line.split() for line in table.out.splitlines()] == [
        ["USER", "RIGHTS"], [ALICE, "read,write,mail"], [BOB, "read"]
    ]  # fmt: skip

    some = await cli("revoke", TEAM, ALICE, "write,mail")
    assert some.out == f"alice@acme.example now holds read on {TEAM}\n"
    assert await rights_of(services, alice) == Right.READ

    await cli("grant", TEAM, ALICE, "delete")
    assert await rights_of(services, alice) == Right.READ | Right.DELETE
    everything = await cli("revoke", TEAM, ALICE)
    assert everything.out == f"alice@acme.example now holds nothing on {TEAM}\n"
    assert await rights_of(services, alice) is None
    assert (await cli("grants", TEAM, "--json")).json() == [{"user": BOB, "rights": ["read"]}]


async def test_revoking_read_takes_every_right(acme: Acme, cli: Cli) -> None:
    await cli("grant", TEAM, BOB, "write,manage")
    result = await cli("revoke", TEAM, BOB, "read")
    assert result.out == f"bob@acme.example now holds nothing on {TEAM}\n"
    assert (await cli("grants", TEAM, "--json")).json() == []


@pytest.mark.parametrize("verb", ["--help", "-h"])
async def test_help_lists_the_verbs(cli: Cli, verb: str) -> None:
    result = await cli(verb)
    assert result.code == 0
    for word in ("org", "domain", "user", "group", "grant", "revoke", "grants", "migrate",
                 "serve", "demo", "audit", "deliver"):  # fmt: skip
        assert f"\n    {word} " in result.out
