"""Rights through IMAP for the demo organisation: what LIST, SELECT, FETCH, STORE, COPY, MOVE,
APPEND, EXPUNGE and MYRIGHTS do for alice (read), bob (read+write), carol (read+mail), dave (all)
and erin (none) matches the services' rights matrix."""

import pytest

from securemail.services.demo import DemoResult
from tests.protocols.imap.conftest import Runner, login_line, tagged, untagged

GROUP = '"Shared/GM.ZeroTolerance@polres.co.uk/INBOX"'
GROUP_SENT = '"Shared/GM.ZeroTolerance@polres.co.uk/Sent"'
RAW = b"Subject: filed\r\n\r\nfiled copy\r\n"


def _append(tag: str, folder: str) -> bytes:
    return f"{tag} APPEND {folder} {{{len(RAW)}+}}\r\n".encode() + RAW + b"\r\n"


SCRIPT = [
    b'l LIST "" "*"\r\n',
    f"sel SELECT {GROUP}\r\n".encode(),
    b"fe FETCH 1 BODY[]\r\n",
    b"fl STORE 1 +FLAGS (\\Flagged)\r\n",
    b"sn STORE 1 -FLAGS (\\Seen)\r\n",
    _append("ai", GROUP),
    _append("as", GROUP_SENT),
    b"c1 COPY 1 INBOX\r\n",
    f"mr MYRIGHTS {GROUP}\r\n".encode(),
    b"ps SELECT INBOX\r\n",
    f"c2 COPY 1 {GROUP}\r\n".encode(),
    f"gs SELECT {GROUP}\r\n".encode(),
    b"sd STORE 1 +FLAGS (\\Deleted)\r\n",
    b"ex EXPUNGE\r\n",
    b"mv MOVE 1 INBOX\r\n",
]
ALWAYS = ("sel", "fe", "sn", "c1", "mr", "ps", "gs")
# command -> the users for whom it succeeds; everyone else with Read gets NO [NOPERM]
ONLY = {
    "fl": {"bob", "dave"},
    "ai": {"bob", "dave"},
    "as": {"bob", "carol", "dave"},
    "c2": {"bob", "dave"},
    "sd": {"dave"},
    "ex": {"dave"},
    "mv": {"dave"},
}
MYRIGHTS = {"alice": "lrs", "bob": "lrswik", "carol": "lrsp", "dave": "lrswipkxtea"}


@pytest.mark.parametrize("user", ["alice", "bob", "carol", "dave"])
async def test_members_get_what_their_rights_allow(
    run_imap: Runner, demo: DemoResult, user: str
) -> None:
    ch = await run_imap(login_line(demo, user).encode() + b"".join(SCRIPT))
    assert any("Shared/gm.zerotolerance@polres.co.uk" in line for line in ch.replies())
    for tag in ALWAYS:
        assert tagged(ch, tag).startswith(f"{tag} OK"), (user, tag, ch.replies())
    for tag, allowed in ONLY.items():
        expected = f"{tag} OK" if user in allowed else f"{tag} NO [NOPERM]"
        assert tagged(ch, tag).startswith(expected), (user, tag, tagged(ch, tag))
    assert untagged(ch, "MYRIGHTS") == [f"* MYRIGHTS {GROUP} {MYRIGHTS[user]}"]


async def test_erin_cannot_see_the_group_at_all(run_imap: Runner, demo: DemoResult) -> None:
    script = login_line(demo, "erin").encode() + (
        b'l LIST "" "*"\r\n'
        + f"s SELECT {GROUP}\r\nm MYRIGHTS {GROUP}\r\nt STATUS {GROUP} (MESSAGES)\r\n".encode()
        + _append("a", GROUP)
        + f"g GETACL {GROUP}\r\n".encode()
        + b"p SELECT INBOX\r\n"
        + f"c COPY 1 {GROUP}\r\n".encode()
        + b'x LIST "" "Shared/*"\r\n'
    )
    ch = await run_imap(script)
    assert not any("Shared" in line for line in untagged(ch, "LIST"))
    for tag in "smtg":
        assert tagged(ch, tag).startswith(f"{tag} NO [NONEXISTENT]"), tagged(ch, tag)
    assert tagged(ch, "a").startswith("a NO [TRYCREATE]")  # as for a folder that never existed


async def test_acl_commands(run_imap: Runner, demo: DemoResult) -> None:
    script = login_line(demo, "dave") + (
        f"l LISTRIGHTS {GROUP} erin@polres.co.uk\r\n"
        f"s SETACL {GROUP} erin@polres.co.uk lrsp\r\n"
        f"g GETACL {GROUP}\r\n"
        f"m SETACL {GROUP} erin@polres.co.uk -p\r\n"
        f"n SETACL {GROUP} erin@polres.co.uk +x\r\n"
        f"d DELETEACL {GROUP} erin@polres.co.uk\r\n"
        f"h GETACL {GROUP}\r\n"
        f"q SETACL {GROUP} erin@polres.co.uk p\r\n"
        f"z SETACL {GROUP} erin@polres.co.uk lrZ\r\n"
        "y SETACL INBOX erin@polres.co.uk lrs\r\n"
        "w GETACL INBOX\r\n"
    )
    ch = await run_imap(script)
    assert untagged(ch, "LISTRIGHTS") == [
        f'* LISTRIGHTS {GROUP} erin@polres.co.uk "" lrs iwk p tex a'
    ]
    acl = untagged(ch, "ACL")
    assert "erin@polres.co.uk lrsp" in acl[0]
    assert "erin" not in acl[1]
    assert acl[2] == '* ACL "INBOX" dave@polres.co.uk lrswipkxte'
    for tag in "smnd":
        assert tagged(ch, tag).startswith(f"{tag} OK"), tagged(ch, tag)
    assert tagged(ch, "q").startswith("q NO")
    assert tagged(ch, "z").startswith("z BAD")
    assert tagged(ch, "y").startswith("y NO [CANNOT]")


async def test_acl_changes_need_manage(run_imap: Runner, demo: DemoResult) -> None:
    script = login_line(demo, "bob") + (
        f"s SETACL {GROUP} erin@polres.co.uk lrs\r\ng GETACL {GROUP}\r\n"
    )
    ch = await run_imap(script)
    assert tagged(ch, "s").startswith("s NO [NOPERM]")
    assert tagged(ch, "g").startswith("g NO [NOPERM]")


async def test_a_store_over_a_range_needing_a_missing_right_changes_nothing(
    run_imap: Runner, demo: DemoResult
) -> None:
    """dave marks the group INBOX's last message \\Deleted. bob holds Write but not Delete:
    `FLAGS (\\Flagged)` on every message would clear that \\Deleted, so it is refused whole
    (before, the messages ahead of the last were flagged, then NO); `+FLAGS (\\Flagged)`
    needs only Write and flags them all, and the FETCH lines say so."""
    dave = [_append("a1", GROUP), _append("a2", GROUP), f"s SELECT {GROUP}\r\n".encode()]
    dave.append(b"d STORE * +FLAGS (\\Deleted)\r\n")
    ch = await run_imap(login_line(demo, "dave", tag="li").encode() + b"".join(dave))
    assert tagged(ch, "d").startswith("d OK"), tagged(ch, "d")
    script = [
        f"sel SELECT {GROUP}\r\n".encode(),
        b"no STORE 1:* FLAGS (\\Flagged)\r\n",
        b"f1 FETCH 1:* (FLAGS)\r\n",
        b"ok STORE 1:* +FLAGS (\\Flagged)\r\n",
        b"f2 FETCH 1:* (FLAGS)\r\n",
    ]
    ch = await run_imap(login_line(demo, "bob", tag="li").encode() + b"".join(script))
    assert tagged(ch, "no").startswith("no NO [NOPERM]"), tagged(ch, "no")
    replies = ch.replies()
    exists = int(untagged(ch, "EXISTS")[-1].split()[1])
    first = replies[replies.index(tagged(ch, "no")) : replies.index(tagged(ch, "f1"))]
    fetched = [line for line in first if " FETCH " in line]
    assert exists >= 3 and len(fetched) == exists
    assert not any("\\Flagged" in line for line in fetched), fetched
    assert "\\Deleted" in fetched[-1] and not any("\\Deleted" in f for f in fetched[:-1])
    assert tagged(ch, "ok").startswith("ok OK")
    second = replies[replies.index(tagged(ch, "ok")) : replies.index(tagged(ch, "f2"))]
    fetched = [line for line in second if " FETCH " in line]
    assert len(fetched) == exists and all("\\Flagged" in line for line in fetched), fetched
