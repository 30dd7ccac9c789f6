"""IMAP transcripts: FETCH, STORE, SEARCH, EXPUNGE, APPEND, COPY, MOVE, CONDSTORE, IDLE."""

import re

from securemail.services.demo import DemoResult
from tests.protocols.imap.conftest import Runner, login_line, tagged, untagged

SHARED_INBOX = '"Shared/GM.ZeroTolerance@polres.co.uk/INBOX"'
MULTIPART = (
    b"From: Bob <bob@polres.co.uk>\r\n"
    b"To: Alice <alice@polres.co.uk>\r\n"
    b"Subject: Case papers\r\n"
    b"Date: Wed, 25 Nov 2026 10:00:00 +0000\r\n"
    b"Message-ID: <case-1@polres.co.uk>\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="XYZ"\r\n'
    b"\r\n"
    b"--XYZ\r\n"
    b"Content-Type: text/plain; charset=us-ascii\r\n"
    b"\r\n"
    b"See the attached pilot figures.\r\n"
    b"--XYZ\r\n"
    b"Content-Type: application/pdf; name=figures.pdf\r\n"
    b"Content-Disposition: attachment; filename=figures.pdf\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    b"JVBERi0xLjQK\r\n"
    b"--XYZ--\r\n"
)


def append(folder: str, raw: bytes, tag: str = "ap", flags: str = "") -> bytes:
    flag_part = f" ({flags})" if flags else ""
    return f"{tag} APPEND {folder}{flag_part} {{{len(raw)}+}}\r\n".encode() + raw + b"\r\n"


async def test_fetch_sections_of_the_group_enquiry(run_imap: Runner, demo: DemoResult) -> None:
    script = login_line(demo, "alice") + (
        f"b SELECT {SHARED_INBOX}\r\n"
        "c FETCH 1 (BODY.PEEK[HEADER.FIELDS (Subject FROM)] BODY.PEEK[TEXT]<0.4>)\r\n"
        "d FETCH 1 (FLAGS)\r\ne FETCH 1 BODY[]\r\nf UID FETCH 1:* (RFC822.SIZE)\r\n"
        "g FETCH 1 (RFC822.HEADER)\r\nh FETCH 1 FAST\r\n"
    )
    ch = await run_imap(script)
    text = ch.output.decode()
    assert "BODY[HEADER.FIELDS (SUBJECT FROM)] {" in text
    assert "Subject: Enquiry: zero tolerance policing evaluation data\r\n" in text
    assert "BODY[TEXT]<0> {4}\r\nDear" in text
    assert "* 1 FETCH (FLAGS ())" in ch.replies()  # PEEK left \Seen alone
    assert re.search(r"BODY\[\] \{\d+\}\r\nFrom: Dr Jane Smith", text)
    assert "FLAGS (\\Seen)" in text.split("e OK")[0].split("d OK")[1]  # BODY[] sets \Seen
    assert re.search(r"\* 1 FETCH \(UID 1 RFC822\.SIZE \d+\)", text)
    assert "RFC822.HEADER {" in text and "INTERNALDATE" in text


async def test_seen_is_per_user(run_imap: Runner, demo: DemoResult) -> None:
    alice = await run_imap(
        login_line(demo, "alice") + f"b SELECT {SHARED_INBOX}\r\nc FETCH 1 BODY[TEXT]\r\n"
    )
    assert tagged(alice, "c").startswith("c OK")
    bob = await run_imap(
        login_line(demo, "bob") + f"b SELECT {SHARED_INBOX}\r\nc FETCH 1 FLAGS\r\n"
    )
    assert "* 1 FETCH (FLAGS ())" in bob.replies()
    again = await run_imap(
        login_line(demo, "alice") + f"b SELECT {SHARED_INBOX}\r\nc FETCH 1 FLAGS\r\n"
    )
    assert "* 1 FETCH (FLAGS (\\Seen))" in again.replies()


async def test_envelope_and_bodystructure_of_a_multipart(
    run_imap: Runner, demo: DemoResult
) -> None:
    script = (
        login_line(demo, "alice").encode()
        + append("INBOX", MULTIPART)
        + (
            b"b SELECT INBOX\r\nc FETCH 1 (ENVELOPE BODYSTRUCTURE)\r\n"
            b"d FETCH 1 (BODY.PEEK[1] BODY.PEEK[2.MIME] BODY.PEEK[2])\r\n"
        )
    )
    ch = await run_imap(script)
    text = ch.output.decode()
    assert tagged(ch, "ap").startswith("ap OK [APPENDUID ")
    assert '"Case papers" (("Bob" NIL "bob" "polres.co.uk"))' in text
    assert '"<case-1@polres.co.uk>")' in text
    assert '("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" ' in text
    assert '("APPLICATION" "PDF" ("NAME" "figures.pdf") NIL NIL "BASE64" ' in text
    assert '"MIXED" ("BOUNDARY" "XYZ")' in text
    assert "BODY[1] {" in text and "See the attached pilot figures." in text
    assert "BODY[2] {12}\r\nJVBERi0xLjQK)" in text  # the CRLF before a boundary is its own
    assert "Content-Disposition: attachment" in text


async def test_store_flags_and_keywords(run_imap: Runner, demo: DemoResult) -> None:
    script = login_line(demo, "bob") + (
        f"b SELECT {SHARED_INBOX}\r\nc STORE 1 +FLAGS (\\Flagged $Important)\r\n"
        "d STORE 1 -FLAGS.SILENT (\\Flagged)\r\ne FETCH 1 FLAGS\r\nf UID STORE 1 FLAGS (\\Seen)\r\n"
        "g STORE 1 +FLAGS (\\Bogus)\r\n"
    )
    ch = await run_imap(script)
    assert "* 1 FETCH (FLAGS (\\Flagged $Important))" in ch.replies()
    assert "* 1 FETCH (FLAGS ($Important))" in ch.replies()
    assert "* 1 FETCH (UID 1 FLAGS (\\Seen))" in ch.replies()
    assert tagged(ch, "g").startswith("g BAD")


async def test_store_deleted_needs_delete_and_expunge(run_imap: Runner, demo: DemoResult) -> None:
    bob = await run_imap(
        login_line(demo, "bob")
        + f"b SELECT {SHARED_INBOX}\r\nc STORE 1 +FLAGS (\\Deleted)\r\nd EXPUNGE\r\n"
    )
    assert tagged(bob, "c").startswith("c NO [NOPERM]")
    assert tagged(bob, "d").startswith("d NO [NOPERM]")
    dave = await run_imap(
        login_line(demo, "dave")
        + f"b SELECT {SHARED_INBOX}\r\nc STORE 1 +FLAGS (\\Deleted)\r\nd EXPUNGE\r\ne NOOP\r\n"
    )
    assert tagged(dave, "c").startswith("c OK")
    assert "* 1 EXPUNGE" in dave.replies()
    assert tagged(dave, "d").startswith("d OK")


async def test_seen_set_and_cleared_over_a_range_is_per_user(
    run_imap: Runner, demo: DemoResult
) -> None:
    """STORE 1:* +FLAGS / -FLAGS (\\Seen) on the group INBOX (one service call for the range):
    bob's unseen count goes to 0 and back to all, alice's never moves."""
    group = f"b SELECT {SHARED_INBOX}\r\n"
    count = f"u STATUS {SHARED_INBOX} (MESSAGES UNSEEN)\r\n"
    bob = await run_imap(
        login_line(demo, "bob").encode()
        + append(SHARED_INBOX, MULTIPART, "p1")
        + append(SHARED_INBOX, MULTIPART, "p2")
        + f"{group}c STORE 1:* +FLAGS.SILENT (\\Seen)\r\nd CLOSE\r\n{count}".encode()
    )
    alice_before = untagged(await run_imap(login_line(demo, "alice") + count), "STATUS")
    again = await run_imap(
        login_line(demo, "bob") + f"{group}e STORE 1:* -FLAGS (\\Seen)\r\nf CLOSE\r\n{count}"
    )
    seen, unseen = untagged(bob, "STATUS")[0], untagged(again, "STATUS")[0]
    total = int(seen.split("MESSAGES ")[1].split()[0])
    assert total >= 3 and "UNSEEN 0)" in seen and f"UNSEEN {total})" in unseen, (seen, unseen)
    assert len([line for line in again.replies() if " FETCH (FLAGS ())" in line]) == total
    alice = await run_imap(login_line(demo, "alice") + count)
    assert untagged(alice, "STATUS") == alice_before


async def test_uid_expunge_only_removes_the_given_uids(run_imap: Runner, demo: DemoResult) -> None:
    script = (
        login_line(demo, "alice").encode()
        + append("INBOX", MULTIPART, "p1")
        + append("INBOX", MULTIPART, "p2")
        + (
            b"b SELECT INBOX\r\nc STORE 1:2 +FLAGS.SILENT (\\Deleted)\r\nd UID EXPUNGE 2\r\n"
            b"e SEARCH ALL\r\n"
        )
    )
    ch = await run_imap(script)
    assert "* 2 EXPUNGE" in ch.replies()
    assert "* SEARCH 1" in ch.replies()


async def test_search(run_imap: Runner, demo: DemoResult) -> None:
    script = (
        login_line(demo, "alice").encode()
        + append("INBOX", MULTIPART)
        + append("INBOX", b"Subject: other\r\n\r\nnothing\r\n", "p2", "\\Flagged")
        + (
            b"b SELECT INBOX\r\nc SEARCH TEXT pilot\r\nd SEARCH SUBJECT case\r\n"
            b"e SEARCH FLAGGED\r\n"
            b"f UID SEARCH NOT FLAGGED\r\ng SEARCH OR FROM bob SUBJECT other\r\n"
            b"h SEARCH 2:* UNSEEN\r\n"
            b'i SEARCH CHARSET UTF-8 BODY "attached"\r\n'
            b"j SEARCH SENTSINCE 1-Nov-2026 SENTBEFORE 30-Nov-2026\r\n"
            b"k SEARCH HEADER Message-ID case-1\r\nl SEARCH LARGER 100 SMALLER 100000\r\n"
            b"m SEARCH CHARSET KOI8-R TEXT x\r\nn SEARCH FROB\r\no SEARCH (SEEN) UID 1:*\r\n"
            b"p SEARCH OR SEEN\r\nq SEARCH NOT\r\n"  # a key missing at the end: BAD
        )
    )
    ch = await run_imap(script)
    results = untagged(ch, "SEARCH")
    assert results[:10] == [
        "* SEARCH 1",
        "* SEARCH 1",
        "* SEARCH 2",
        "* SEARCH 1",
        "* SEARCH 1 2",
        "* SEARCH 2",
        "* SEARCH 1",
        "* SEARCH 1",
        "* SEARCH 1",
        "* SEARCH 1",
    ]
    assert tagged(ch, "m").startswith("m NO [BADCHARSET")
    assert tagged(ch, "n").startswith("n BAD")
    assert tagged(ch, "p").startswith("p BAD") and tagged(ch, "q").startswith("q BAD")
    assert results[-1] == "* SEARCH"


async def test_append_with_flags_and_date(run_imap: Runner, demo: DemoResult) -> None:
    raw = b"Subject: draft\r\n\r\nbody\r\n"
    script = (
        login_line(demo, "alice")
        + (
            (
                'b APPEND Drafts (\\Draft \\Seen $Later) "05-Nov-2026 10:00:00 +0100" '
                f"{{{len(raw)}}}\r\n"
            ).encode()
            + raw
            + b"\r\nc SELECT Drafts\r\nd FETCH 1 (FLAGS INTERNALDATE)\r\n"
            b"e APPEND Nowhere {1}\r\nx\r\n"
        ).decode()
    )
    ch = await run_imap(script)
    assert "+ ready for literal data" in ch.replies()
    assert tagged(ch, "b").startswith("b OK [APPENDUID ")
    assert (
        '* 1 FETCH (FLAGS (\\Draft \\Seen $Later) INTERNALDATE " 5-Nov-2026 09:00:00 +0000")'
        in ch.replies()
    )
    assert tagged(ch, "e").startswith("e NO [TRYCREATE]")


async def test_copy_and_move_answer_with_copyuid(run_imap: Runner, demo: DemoResult) -> None:
    script = login_line(demo, "dave") + (
        f"b SELECT {SHARED_INBOX}\r\nc COPY 1 INBOX\r\n"
        f'd CREATE "Shared/GM.ZeroTolerance@polres.co.uk/Done"\r\n'
        'e UID MOVE 1 "Shared/GM.ZeroTolerance@polres.co.uk/Done"\r\nf COPY 1 Missing\r\n'
    )
    ch = await run_imap(script)
    assert re.match(r"c OK \[COPYUID \d+ 1 1\] COPY completed", tagged(ch, "c"))
    assert any(re.match(r"\* OK \[COPYUID \d+ 1 1\] moved", line) for line in ch.replies())
    assert "* 1 EXPUNGE" in ch.replies()
    assert tagged(ch, "e").startswith("e OK")


async def test_condstore(run_imap: Runner, demo: DemoResult) -> None:
    script = login_line(demo, "bob") + (
        f"b SELECT {SHARED_INBOX} (CONDSTORE)\r\nc FETCH 1 (MODSEQ)\r\n"
        "d STORE 1 (UNCHANGEDSINCE 1) +FLAGS (\\Flagged)\r\n"
        "e FETCH 1:* (FLAGS) (CHANGEDSINCE 1)\r\nf SEARCH MODSEQ 1\r\n"
        "g STORE 1 (UNCHANGEDSINCE 999999) +FLAGS (\\Answered)\r\n"
    )
    ch = await run_imap(script)
    modseq_lines = [line for line in ch.replies() if "MODSEQ (" in line]
    assert modseq_lines
    assert tagged(ch, "d") == "d OK [MODIFIED 1] some messages changed since"
    assert any(line.startswith("* 1 FETCH (FLAGS () MODSEQ (") for line in ch.replies())
    assert any(re.match(r"\* SEARCH 1 \(MODSEQ \d+\)", line) for line in ch.replies())
    assert any("\\Answered" in line and "MODSEQ" in line for line in ch.replies())


async def test_idle_reports_and_ends_with_done(run_imap: Runner, demo: DemoResult) -> None:
    ch = await run_imap(
        login_line(demo, "alice") + "b SELECT INBOX\r\nc IDLE\r\nDONE\r\nd IDLE\r\nnope\r\n"
    )
    assert "+ idling" in ch.replies()
    assert tagged(ch, "c") == "c OK IDLE terminated"
    assert tagged(ch, "d").startswith("d BAD")


async def test_fetch_bad_items(run_imap: Runner, demo: DemoResult) -> None:
    script = login_line(demo, "alice") + (
        f"b SELECT {SHARED_INBOX}\r\nc FETCH 1 (FROB)\r\nd FETCH 0 FLAGS\r\n"
        f"e FETCH 1 BODY[HEADER.FIELDS]\r\n"
        "f FETCH 1 (FLAGS) (FROB 1)\r\ng FETCH 5 FLAGS\r\n"
    )
    ch = await run_imap(script, max_errors=50)
    for tag in "cdef":
        assert tagged(ch, tag).startswith(f"{tag} BAD")
    assert tagged(ch, "g").startswith("g OK")


async def test_body_has_no_extension_data_and_nested_messages_are_described(
    run_imap: Runner, demo: DemoResult
) -> None:
    forwarded = (
        b"Subject: fwd\r\nContent-Type: message/rfc822\r\n\r\n"
        b"Subject: inner\r\nFrom: x@example.org\r\n\r\nhello\r\n"
    )
    script = (
        login_line(demo, "alice").encode()
        + append("INBOX", forwarded)
        + b"b SELECT INBOX\r\nc FETCH 1 (BODY)\r\nd FETCH 1 (BODYSTRUCTURE)\r\n"
    )
    ch = await run_imap(script)
    body = next(line for line in ch.replies() if "FETCH (BODY (" in line)
    structure = next(line for line in ch.replies() if "BODYSTRUCTURE" in line)
    assert '("MESSAGE" "RFC822" NIL NIL NIL "7BIT" ' in body
    assert '"inner"' in body and '("TEXT" "PLAIN" NIL NIL NIL "7BIT" 7 1)' in body
    assert '("TEXT" "PLAIN" NIL NIL NIL "7BIT" 7 1 NIL NIL NIL NIL)' in structure
