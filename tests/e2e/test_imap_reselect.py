"""SELECT of a folder a user has selected before (the session starts from that user's last
view of it and reads only what changed): what the client sees is exactly what a first SELECT
shows, after others flagged, delivered, expunged and read; a revoked Read right still wins;
and a session told of another member's \\Seen reports the message's new MODSEQ."""

import re

from securemail.core.context import system_context
from securemail.core.model import Flag
from securemail.protocols.imap import view
from tests.e2e.conftest import Running
from tests.e2e.test_imap_idle_updates import GROUP, NEW_MAIL, SHARED_INBOX, connect, ctx_of

STATE = "c FETCH 1:* (UID FLAGS MODSEQ)"


def _state(lines: list[str]) -> list[str]:
    """The SELECT totals and the FETCH lines, as the client sees them."""
    keep = r"\* (\d+ EXISTS|OK \[(UIDNEXT|HIGHESTMODSEQ|UNSEEN) \d+\].*|\d+ FETCH .*)"
    return [line for line in lines if re.fullmatch(keep, line)]


async def _select_and_fetch(running: Running, user: str) -> list[str]:
    client = await connect(running, user)
    lines = await client.command(f"b SELECT {SHARED_INBOX} (CONDSTORE)")
    lines += await client.command(STATE)
    await client.command("z LOGOUT")
    return _state(lines)


async def test_a_second_select_shows_what_changed_in_between(running: Running) -> None:
    services = running.server.runtime.services
    dave, carol = await ctx_of(running, "dave"), await ctx_of(running, "carol")
    first = await _select_and_fetch(running, "carol")
    assert "* 1 EXISTS" in first
    assert any(key[1] == carol.user_id for key in view._SNAPSHOTS)  # the next SELECT's start

    group = await services.mailboxes.get_mailbox_by_address(dave, GROUP)
    inbox = next(
        f for f in await services.mailboxes.list_folders(dave, group.id) if f.name == "INBOX"
    )
    for _ in range(3):
        await services.delivery.deliver(system_context("test"), NEW_MAIL, [GROUP])
    enquiry, *new = sorted(
        await services.messages.list_messages(dave, inbox.id), key=lambda m: m.uid
    )
    await services.messages.set_flags(dave, enquiry.id, Flag.FLAGGED)
    await services.messages.set_seen(carol, new[0].id, True)  # carol, in webmail
    await services.messages.set_seen(dave, new[1].id, True)  # dave's \Seen is his own
    await services.messages.set_flags(dave, new[1].id, Flag.DELETED)
    assert await services.messages.expunge(dave, inbox.id)

    again = await _select_and_fetch(running, "carol")
    view._SNAPSHOTS.clear()  # what a SELECT reading every message shows
    whole = await _select_and_fetch(running, "carol")
    assert again == whole
    assert "* 3 EXISTS" in again
    flags = [re.sub(r" MODSEQ \(\d+\)", "", line) for line in again if " FETCH " in line]
    assert flags == [
        f"* 1 FETCH (UID {enquiry.uid} FLAGS (\\Flagged))",
        f"* 2 FETCH (UID {new[0].uid} FLAGS (\\Seen))",
        f"* 3 FETCH (UID {new[2].uid} FLAGS ())",
    ]


async def test_a_revoked_read_right_wins_over_a_remembered_view(running: Running) -> None:
    services = running.server.runtime.services
    dave = await ctx_of(running, "dave")
    assert "* 1 EXISTS" in await _select_and_fetch(running, "alice")
    await services.sharing.revoke(dave, GROUP, "alice@polres.co.uk")
    client = await connect(running, "alice")
    client.writer.write(f"b SELECT {SHARED_INBOX}\r\n".encode())
    answer = await client.expect(r"b .*")
    assert answer.startswith("b NO"), answer
    assert "EXISTS" not in answer


async def test_another_members_seen_moves_the_modseq_a_session_reports(
    running: Running,
) -> None:
    """Alice's \\Seen changes nothing bob sees but the message's MODSEQ (RFC 7162 3.1.1):
    after a NOOP bob's FETCH MODSEQ is the new one, not the one of his SELECT."""
    services = running.server.runtime.services
    alice = await ctx_of(running, "alice")
    bob = await connect(running, "bob")
    await bob.command(f"b SELECT {SHARED_INBOX} (CONDSTORE)")
    (before,) = [line for line in await bob.command("c FETCH 1 (MODSEQ)") if line.startswith("* ")]
    group = await services.mailboxes.get_mailbox_by_address(alice, GROUP)
    inbox = next(
        f for f in await services.mailboxes.list_folders(alice, group.id) if f.name == "INBOX"
    )
    (enquiry,) = await services.messages.list_messages(alice, inbox.id)
    await services.messages.set_seen(alice, enquiry.id, True)
    await bob.command("d NOOP")
    (after,) = [line for line in await bob.command("e FETCH 1 (MODSEQ)") if line.startswith("* ")]
    assert _modseq(after) > _modseq(before), (before, after)
    assert "FLAGS" not in after


def _modseq(line: str) -> int:
    return int(re.findall(r"MODSEQ \((\d+)\)", line)[0])
