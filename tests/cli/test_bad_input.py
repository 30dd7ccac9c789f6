"""Bad input to `securemail`: exit status 2, one line on stderr saying what is wrong, nothing on
stdout, and nothing changed in the store."""

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.cli.conftest import ALICE, BOB, LOG_RECORD, TEAM, Acme, Cli, Result, snapshot
from tests.conftest import TestStore

MESSAGE = b"From: jane@university.example\r\nSubject: hello\r\n\r\nbody\r\n"


@dataclass(frozen=True)
class Case:
    args: tuple[str, ...]
    says: tuple[str, ...]  # words the error line must hold
    stdin: bytes = b""
    env: dict[str, str] = field(default_factory=dict)
    config: str | None = None  # TOML text written to a file passed as --config


CASES = {
    "unknown organisation": Case(
        ("domain", "add", "Nobody Ltd", "nobody.example"), ("no organisation", "Nobody Ltd")
    ),
    "unknown organisation in a listing": Case(
        ("user", "list", "--org", "Nobody Ltd"), ("no organisation", "Nobody Ltd")
    ),
    "domain taken by another organisation": Case(
        ("org", "create", "Copycat", "--domain", "acme.example"), ("acme.example", "already")
    ),
    "duplicate organisation": Case(
        ("org", "create", "acme ltd", "--domain", "acme2.example"), ("already exists",)
    ),
    "malformed domain": Case(("domain", "add", "Acme Ltd", "not_a_domain"), ("invalid domain",)),
    "address outside the organisation's domains": Case(
        ("user", "create", "carol@elsewhere.example"), ("elsewhere.example",)
    ),
    "group outside the organisation's domains": Case(
        ("group", "create", "gm@elsewhere.example"), ("elsewhere.example",)
    ),
    "duplicate address, other case": Case(
        ("user", "create", "ALICE@Acme.Example"), ("alice@acme.example", "already in use")
    ),
    "group address taken by a user": Case(
        ("group", "create", ALICE), ("alice@acme.example", "already in use")
    ),
    "user address taken by a group": Case(
        ("user", "create", TEAM), ("team@acme.example", "already in use")
    ),
    "malformed address": Case(("user", "create", "carol at acme.example"), ("invalid address",)),
    "address with a line break": Case(
        ("user", "create", "carol@acme.example\nBcc: eve@evil.example"), ("invalid address",)
    ),
    "unknown right": Case(("grant", TEAM, ALICE, "read,fly"), ("unknown right", "fly")),
    "unknown right to revoke": Case(("revoke", TEAM, BOB, "sudo"), ("unknown right", "sudo")),
    "write without read": Case(("grant", TEAM, ALICE, "write"), ("read",)),
    "grant on a mailbox that is not a group": Case(
        ("grant", BOB, ALICE, "read"), ("no group mailbox", BOB)
    ),
    "grant to a user of another organisation": Case(
        ("grant", TEAM, "olga@other.example", "read"), ("olga@other.example",)
    ),
    "grant to an unknown user": Case(
        ("grant", TEAM, "nobody@acme.example", "read"), ("nobody@acme.example",)
    ),
    "grants of an unknown group": Case(
        ("grants", "nothing@acme.example"), ("no group mailbox", "nothing@acme.example")
    ),
    "disable an unknown user": Case(
        ("user", "disable", "nobody@acme.example"), ("no user", "nobody@acme.example")
    ),
    "reset the password of an unknown user": Case(
        ("user", "reset-password", "nobody@acme.example"), ("no user", "nobody@acme.example")
    ),
    "password too short": Case(
        ("user", "create", "carol@acme.example", "--password-stdin"), ("at least",), b"short\n"
    ),
    "no password on stdin": Case(
        ("user", "create", "carol@acme.example", "--password-stdin"), ("no password",)
    ),
    "missing arguments": Case(("grant", TEAM, ALICE), ("required", "RIGHTS")),
    "missing action": Case(("user",), ("required", "ACTION")),
    "unknown verb": Case(("frobnicate",), ("invalid choice", "frobnicate")),
    "unknown option": Case(("user", "list", "--colour"), ("unrecognized", "--colour")),
    "not a number": Case(("audit", "list", "--limit", "many"), ("invalid int", "many")),
    "deliver to a malformed address": Case(
        ("deliver", ALICE, "not an address"), ("not an address",), MESSAGE
    ),
    "deliver to an unknown address": Case(
        ("deliver", "nobody@acme.example"), ("no mailbox", "nobody@acme.example"), MESSAGE
    ),
    "deliver nothing": Case(("deliver", ALICE), ("no message",), b"\r\n\r\n"),
    "config file that is not TOML": Case(
        ("user", "list"), ("not valid TOML",), config="[http\nport = 1\n"
    ),
    "config file with an unknown section": Case(
        ("user", "create", "carol@acme.example"),
        ("unknown section", "nosuch"),
        config="[nosuch]\nkey = 1\n",
    ),
    "config file with an unknown key": Case(
        ("user", "create", "carol@acme.example"),
        ("unknown setting", "prot"),
        config="[http]\nprot = 80\n",
    ),
    "config file that does not exist": Case(
        ("user", "list", "--config", "missing.toml"), ("cannot read config file", "missing.toml")
    ),
    "bad number in the environment": Case(
        ("user", "create", "carol@acme.example"),
        ("SECUREMAIL_HTTP_PORT", "'eighty'"),
        env={"SECUREMAIL_HTTP_PORT": "eighty"},
    ),
    "unknown event loop": Case(
        ("serve",),
        ("event_loop", "uvloop", "twisted"),
        env={"SECUREMAIL_SERVER_EVENT_LOOP": "twisted"},
    ),
}


def assert_refused(result: Result, says: tuple[str, ...]) -> None:
    assert result.code == 2, result
    assert result.out == "", result
    assert len(result.err_lines) == 1, result.err
    line = result.err_lines[0]
    assert line.startswith("securemail: "), line
    for word in says:
        assert word in line, (word, line)


PARAMS = [pytest.param(case, id=name) for name, case in CASES.items()] + [
    pytest.param(
        Case(("deliver", "alice@acme.example\nBcc: eve@evil.example"), ("alice",), MESSAGE),
        id="deliver to an address with a line break",
    )
]


@pytest.mark.parametrize("case", PARAMS)
async def test_bad_input_is_refused_and_changes_nothing(
    case: Case, acme: Acme, cli: Cli, store: TestStore, tmp_path: Path
) -> None:
    args = case.args
    if case.config is not None:
        config = tmp_path / "bad.toml"
        config.write_text(case.config, encoding="utf-8")
        args = (*args, "--config", str(config))
    before = await snapshot(acme.services, store)
    result = await cli(*args, stdin=case.stdin, env=case.env)
    assert_refused(result, case.says)
    assert await snapshot(acme.services, store) == before


async def test_a_run_of_bad_commands_leaves_users_grants_and_audit_as_they_were(
    acme: Acme, cli: Cli
) -> None:
    async def state() -> tuple[object, ...]:
        users = await cli("user", "list", "--json")
        grants = await cli("grants", TEAM, "--json")
        audit = await cli("audit", "verify")
        assert users.code == grants.code == audit.code == 0
        return users.json(), grants.json(), audit.out

    before = await state()
    assert before[1] == [{"user": BOB, "rights": ["read"]}]
    for case in ("duplicate address, other case", "unknown right", "write without read",
                 "address outside the organisation's domains", "unknown organisation"):  # fmt: skip
        assert_refused(await cli(*CASES[case].args), CASES[case].says)
    assert await state() == before


async def test_bad_input_prints_no_log_records(acme: Acme, cli: Cli) -> None:
    """Every verb runs the migrations first: their progress records must not reach stderr."""
    result = await cli("user", "create", "carol@elsewhere.example")
    assert result.code == 2
    assert not any(LOG_RECORD.match(line) for line in result.err_lines), result.err
    assert len(result.err_lines) == 1


async def test_deliver_with_one_unknown_recipient_delivers_to_nobody(
    acme: Acme, cli: Cli, store: TestStore
) -> None:
    before = await snapshot(acme.services, store)
    result = await cli("deliver", ALICE, "nobody@acme.example", "ghost@acme.example", stdin=MESSAGE)
    assert_refused(result, ("nobody@acme.example",))
    assert await snapshot(acme.services, store) == before
