"""IMAP transcripts: LIST (LIST-EXTENDED, LIST-STATUS, SPECIAL-USE, CHILDREN), LSUB, SUBSCRIBE,
STATUS, SELECT, EXAMINE, CREATE, DELETE, RENAME, CLOSE, UNSELECT."""

from securemail.services.demo import DemoResult
from tests.protocols.imap.conftest import Runner, login_line, tagged, untagged

SHARED_INBOX = '"Shared/GM.ZeroTolerance@polres.co.uk/INBOX"'


def names(lines: list[str]) -> list[str]:
    return [line.rsplit(" ", 1)[1].strip('"') for line in lines]


async def test_list_shows_personal_folders_and_the_shared_namespace(
    run_imap: Runner, demo: DemoResult
) -> None:
    ch = await run_imap(login_line(demo, "alice") + 'b LIST "" "*"\r\nc LIST "" "%"\r\n')
    lines = untagged(ch, "LIST")
    star = [line for line in lines if "Shared/" in line]
    assert any(line.endswith('"Shared/gm.zerotolerance@polres.co.uk/INBOX"') for line in star)
    assert '* LIST (\\HasNoChildren \\Sent) "/" "Sent"' in lines
    assert '* LIST (\\Noselect \\HasChildren) "/" "Shared"' in lines
    top = names(lines[-5:])
    assert top == ["INBOX", "Sent", "Drafts", "Trash", "Shared"]


async def test_a_user_without_read_sees_no_shared_namespace(
    run_imap: Runner, demo: DemoResult
) -> None:
    script = login_line(demo, "erin") + f'b LIST "" "*"\r\nc SELECT {SHARED_INBOX}\r\n'
    ch = await run_imap(script)
    assert names(untagged(ch, "LIST")) == ["INBOX", "Sent", "Drafts", "Trash"]
    assert tagged(ch, "c") == "c NO [NONEXISTENT] no such mailbox"


async def test_list_empty_pattern_gives_the_separator(run_imap: Runner, demo: DemoResult) -> None:
    ch = await run_imap(login_line(demo, "alice") + 'b LIST "" ""\r\n')
    assert untagged(ch, "LIST") == ['* LIST (\\Noselect) "/" ""']


async def test_inbox_matches_case_insensitively(run_imap: Runner, demo: DemoResult) -> None:
    ch = await run_imap(
        login_line(demo, "alice") + 'b LIST "" "inbox"\r\nc STATUS inbox (MESSAGES)\r\n'
    )
    assert names(untagged(ch, "LIST")) == ["INBOX"]
    assert tagged(ch, "c").startswith("c OK")


async def test_list_extended_special_use_and_status(run_imap: Runner, demo: DemoResult) -> None:
    script = login_line(demo, "dave") + (
        'b LIST (SPECIAL-USE) "" "*" RETURN (SPECIAL-USE)\r\n'
        'c LIST "" ("INBOX" "Sent") RETURN (CHILDREN STATUS (MESSAGES UNSEEN UIDNEXT))\r\n'
    )
    ch = await run_imap(script)
    first = ch.replies()[: ch.replies().index(tagged(ch, "b"))]
    special = [line for line in first if line.startswith("* LIST")]
    assert len(special) == 6  # personal and group Sent, Drafts and Trash
    assert all("\\Sent" in x or "\\Trash" in x or "\\Drafts" in x for x in special)
    statuses = untagged(ch, "STATUS")
    assert statuses[0].startswith('* STATUS "INBOX" (MESSAGES 0 UNSEEN 0 UIDNEXT ')
    assert tagged(ch, "c").startswith("c OK")


async def test_subscribe_lsub_and_list_subscribed(run_imap: Runner, demo: DemoResult) -> None:
    script = login_line(demo, "alice") + (
        f'b SUBSCRIBE INBOX\r\nc SUBSCRIBE {SHARED_INBOX}\r\nd LSUB "" "*"\r\n'
        'e LIST (SUBSCRIBED) "" "*"\r\nf UNSUBSCRIBE INBOX\r\ng LSUB "" "*"\r\n'
    )
    ch = await run_imap(script)
    lsub = untagged(ch, "LSUB")
    assert names(lsub[:2]) == ["INBOX", "Shared/gm.zerotolerance@polres.co.uk/INBOX"]
    assert all("\\Subscribed" in line for line in untagged(ch, "LIST"))
    assert names(lsub[2:]) == ["Shared/gm.zerotolerance@polres.co.uk/INBOX"]


async def test_status_of_the_group_inbox(run_imap: Runner, demo: DemoResult) -> None:
    script = login_line(demo, "alice") + (
        f"b STATUS {SHARED_INBOX} (MESSAGES UNSEEN RECENT UIDVALIDITY HIGHESTMODSEQ SIZE)\r\n"
        "c STATUS INBOX (BOGUS)\r\n"
    )
    ch = await run_imap(script)
    line = untagged(ch, "STATUS")[0]
    assert "MESSAGES 1 UNSEEN 1 RECENT 0 UIDVALIDITY" in line and "SIZE " in line
    assert tagged(ch, "c").startswith("c BAD")


async def test_select_and_examine(run_imap: Runner, demo: DemoResult) -> None:
    script = login_line(demo, "alice") + f"b SELECT {SHARED_INBOX}\r\nc EXAMINE {SHARED_INBOX}\r\n"
    ch = await run_imap(script)
    assert "* 1 EXISTS" in ch.replies() and "* 0 RECENT" in ch.replies()
    assert "* OK [PERMANENTFLAGS (\\Seen)] flags you may change" in ch.replies()  # Read only
    assert "* OK [UNSEEN 1] first unseen message" in ch.replies()
    assert any(line.startswith("* OK [UIDVALIDITY ") for line in ch.replies())
    assert any(line.startswith("* OK [HIGHESTMODSEQ ") for line in ch.replies())
    assert tagged(ch, "b") == "b OK [READ-WRITE] SELECT completed"
    assert tagged(ch, "c") == "c OK [READ-ONLY] EXAMINE completed"


async def test_select_missing_folder_leaves_nothing_selected(
    run_imap: Runner, demo: DemoResult
) -> None:
    ch = await run_imap(
        login_line(demo, "alice") + "b SELECT INBOX\r\nc SELECT Nope\r\nd CLOSE\r\n"
    )
    assert tagged(ch, "c") == "c NO [NONEXISTENT] no such folder"
    assert tagged(ch, "d").startswith("d BAD")


async def test_create_rename_delete(run_imap: Runner, demo: DemoResult) -> None:
    script = login_line(demo, "bob") + (
        'b CREATE Cases/2026\r\nc LIST "" "Cases*"\r\nd RENAME Cases/2026 Cases/2027\r\n'
        'e DELETE Cases/2027\r\nf DELETE Cases\r\ng LIST "" "Cases*"\r\nh CREATE INBOX\r\n'
        "i RENAME INBOX Old\r\nj DELETE Trash\r\nk CREATE Sent\r\n"
    )
    ch = await run_imap(script)
    for tag in "bdef":
        assert tagged(ch, tag).startswith(f"{tag} OK"), ch.replies()
    assert names(untagged(ch, "LIST")) == ["Cases", "Cases/2026"]
    assert '* LIST (\\HasChildren) "/" "Cases"' in ch.replies()
    assert tagged(ch, "h").startswith("h NO [ALREADYEXISTS]")
    assert tagged(ch, "i").startswith("i NO [CANNOT]")
    assert tagged(ch, "j").startswith("j NO [CANNOT]")
    assert tagged(ch, "k").startswith("k NO [ALREADYEXISTS]")


async def test_create_in_a_group_needs_write(run_imap: Runner, demo: DemoResult) -> None:
    folder = '"Shared/GM.ZeroTolerance@polres.co.uk/Cases"'
    alice = await run_imap(login_line(demo, "alice") + f"b CREATE {folder}\r\n")
    assert tagged(alice, "b").startswith("b NO [NOPERM]")
    bob = await run_imap(login_line(demo, "bob") + f"b CREATE {folder}\r\nc DELETE {folder}\r\n")
    assert tagged(bob, "b").startswith("b OK") and tagged(bob, "c").startswith("c OK")


async def test_close_and_unselect(run_imap: Runner, demo: DemoResult) -> None:
    script = (
        login_line(demo, "alice")
        + "b SELECT INBOX\r\nc UNSELECT\r\nd SELECT INBOX\r\ne CLOSE\r\nf FETCH 1 FLAGS\r\n"
    )
    ch = await run_imap(script)
    assert tagged(ch, "c").startswith("c OK") and tagged(ch, "e").startswith("e OK")
    assert tagged(ch, "f").startswith("f BAD")


async def test_unknown_list_options_are_bad(run_imap: Runner, demo: DemoResult) -> None:
    script = login_line(demo, "alice") + (
        'b LIST (FROB) "" "*"\r\nc LIST "" "*" RETURN (FROB)\r\nd LIST "" "*" RETURN STATUS\r\n'
    )
    ch = await run_imap(script)
    for tag in "bcd":
        assert tagged(ch, tag).startswith(f"{tag} BAD")
