"""`securemail keys`: what each data key seals, rotation while the store is in use, and the
refusals an operator can meet."""

from securemail.core.search import SearchQuery
from tests.cli.conftest import BOB, PASSWORD, TEAM, Acme, Cli

RAW = (
    "From: jane@university.example\r\nTo: team@acme.example\r\nSubject: Evaluation data\r\n"
    "\r\nThe confidential figures are attached.\r\n"
)


async def test_status_rotate_and_reseal(acme: Acme, cli: Cli) -> None:
    assert (await cli("deliver", TEAM, stdin=RAW)).code == 0

    before = await cli("keys", "status")
    assert before.code == 0, before.err
    assert "data keys: 1 (key 1 seals new data)" in before.out
    assert "blobs: 1 under key 1" in before.out
    assert "to seal again under key 1: 0" in before.out

    rotated = await cli("keys", "rotate")
    assert rotated.code == 0, rotated.err
    assert "added data key 2" in rotated.out
    assert "sealed again: 1; indexed: 0" in rotated.out
    assert "blobs: 1 under key 2" in rotated.out
    assert "to seal again under key 2: 0" in rotated.out

    # The services built before the rotation still open and find the message.
    services = acme.services
    bob = await services.auth.authenticate(BOB, PASSWORD, channel="test")
    group = await services.mailboxes.get_mailbox_by_address(bob, TEAM)
    found = await services.messages.search(bob, group.id, SearchQuery(text="confidential"))
    assert [m.subject for m in found] == ["Evaluation data"]
    assert (await services.messages.open_message(bob, found[0].id)).raw == RAW.encode()

    staged = await cli("keys", "stage")
    assert staged.code == 0 and "added data key 3" in staged.out and "staged" in staged.out
    assert "data keys: 1, 2, 3 (key 2 seals new data)" in (await cli("keys", "status")).out
    again = await cli("keys", "rotate")
    assert "added data key 3" in again.out and "blobs: 1 under key 3" in again.out


async def test_keys_from_a_variable_cannot_be_rotated_here(acme: Acme, cli: Cli) -> None:
    text = (acme.services.deps.settings.data_path / "secrets" / "data.keys").read_text()
    keys = ";".join(line for line in text.splitlines() if not line.startswith("#"))
    env = {"SECUREMAIL_SECURITY_KEYS": keys}
    assert (await cli("keys", "status", env=env)).code == 0
    refused = await cli("keys", "rotate", env=env)
    assert refused.code == 2
    assert refused.err_lines == [
        "securemail: keys given by variable: add a key there and restart instead"
    ]


async def test_a_malformed_key_file_is_named(cli: Cli, acme: Acme) -> None:
    path = acme.services.deps.settings.data_path / "secrets" / "data.keys"
    path.write_text(path.read_text() + "key two " + "A" * 43 + "=\n")
    result = await cli("keys", "status")
    assert result.code == 2
    assert result.err_lines == [
        f"securemail: {path}, line 6: invalid literal for int() with base 10: 'two'"
    ]
