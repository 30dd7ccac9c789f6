"""mail.compose: built messages parse back to what was drafted; injection is refused; reply and
forward seeds follow RFC 5322 section 3.6.4 and never raise on hostile mail."""

import email
import email.policy
import re
from datetime import UTC, datetime
from email.message import EmailMessage, MIMEPart

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from securemail.core.errors import InvalidInput
from securemail.mail.compose import (
    MAX_ATTACHMENTS,
    Draft,
    Upload,
    build_message,
    envelope_recipients,
    parse_recipients,
)
from securemail.mail.seed import ReplySeed, forward_seed, reply_seed

HOST = "mail.polres.co.uk"
GROUP = "GM.ZeroTolerance@polres.co.uk"
USER = "jane.smith@polres.co.uk"
NOW = datetime(2026, 11, 26, 9, 15, tzinfo=UTC)


def draft(**changes: object) -> Draft:
    fields: dict[str, object] = {"from_addr": GROUP, "to": ("dc.jones@police.example",)}
    fields.update(changes)
    return Draft(**fields)  # type: ignore[arg-type]


def build(d: Draft, **kwargs: object) -> bytes:
    return build_message(d, hostname=HOST, now=NOW, **kwargs)  # type: ignore[arg-type]


def parsed(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def content(part: MIMEPart | None) -> str:
    """A text part's decoded content; the stdlib parser keeps the wire's CRLF: undo it."""
    assert part is not None
    text = part.get_content()
    assert isinstance(text, str)
    return text.replace("\r\n", "\n")


def mail(headers: str, body: str = "Hello there.\n", extra: bytes = b"") -> bytes:
    return headers.replace("\n", "\r\n").encode() + b"\r\n" + body.encode() + extra


ORIGINAL = mail(
    "From: Dr Jane Smith <jane@university.example>\n"
    "To: GM.ZeroTolerance@polres.co.uk, Bob <bob@polres.co.uk>\n"
    "Cc: carol@university.example, Jane.Smith@POLRES.co.uk\n"
    "Subject: Evaluation data\n"
    "Date: Thu, 26 Nov 2026 09:15:00 +0100\n"
    "Message-ID: <orig.1@university.example>\n"
    "References: <root.0@university.example>\n",
    "First line.\n\nSecond line.\n",
)


# --- build_message ------------------------------------------------------------------------


def test_headers_round_trip() -> None:
    raw = build(
        draft(
            from_name="Zero Tolerance Team",
            to=("dc.jones@police.example", "Amy@Court.Example"),
            cc=("cps@cps.example",),
            subject="Case 42",
            body="Please see below.\n",
        )
    )
    msg = parsed(raw)
    assert msg["From"].addresses[0].display_name == "Zero Tolerance Team"
    assert msg["From"].addresses[0].addr_spec == GROUP
    assert [a.addr_spec for a in msg["To"].addresses] == [
        "dc.jones@police.example",
        "Amy@court.example",
    ]
    assert [a.addr_spec for a in msg["Cc"].addresses] == ["cps@cps.example"]
    assert msg["Subject"] == "Case 42"
    assert msg["Date"].datetime == NOW
    assert msg["MIME-Version"] == "1.0"
    assert msg["Sender"] is None
    assert re.fullmatch(r"<[0-9a-f]{32}@mail\.polres\.co\.uk>", msg["Message-ID"])
    assert msg.get_content_type() == "text/plain"
    assert msg.get_content_charset() == "utf-8"
    assert msg["Content-Transfer-Encoding"] == "7bit"
    assert content(msg) == "Please see below.\n"


def test_line_endings_are_crlf() -> None:
    raw = build(draft(body="a\nb\r\nc\rd\n" + "ü" * 200, attachments=(Upload("x", "a/b", b"\n"),)))
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert b"\r" not in raw.replace(b"\r\n", b"")
    assert content(parsed(raw).get_body()) == "a\nb\nc\nd\n" + "ü" * 200 + "\n"


def test_message_ids_are_unique_and_given_one_is_kept() -> None:
    assert parsed(build(draft()))["Message-ID"] != parsed(build(draft()))["Message-ID"]
    assert parsed(build(draft(), message_id="<given.1@x.example>"))["Message-ID"] == (
        "<given.1@x.example>"
    )


@pytest.mark.parametrize("bad", ["given", "<a@b> <c@d>", "<a@b>\r\nBcc: x@y.example", ""])
def test_malformed_message_id_refused(bad: str) -> None:
    with pytest.raises(InvalidInput):
        build(draft(), message_id=bad)


@pytest.mark.parametrize(
    "bad", ["", "bad host", "host\r\nBcc: x@y", "-x.example", "a..b", "a.b\n", "a@b"]
)
def test_malformed_hostname_refused(bad: str) -> None:
    with pytest.raises(InvalidInput, match="hostname"):
        build_message(draft(), hostname=bad)


def test_bad_from_address_is_named() -> None:
    with pytest.raises(InvalidInput, match="From address 'jane@'"):
        build(draft(from_addr="jane@"))


def test_non_ascii_name_subject_and_body_round_trip() -> None:
    name = "Zoë Müller-Łukasiewicz, Ермолова 陈"
    subject = "Grüße \u2013 Fall Nr. 42 — 証拠 " + "ä" * 80
    body = "Grüße,\n\u0432\u043e\u0442 \u043e\u0442\u0447\u0451\u0442.\n" + "é" * 300 + "\n"
    raw = build(draft(from_name=name, subject=subject, body=body))
    assert raw.isascii()  # encoded-words (RFC 2047) and quoted-printable: 7-bit clean
    msg = parsed(raw)
    assert msg["From"].addresses[0].display_name == name
    assert msg["Subject"] == subject
    assert msg["Content-Transfer-Encoding"] == "quoted-printable"
    assert content(msg) == body
    assert max(len(line) for line in raw.split(b"\r\n")) <= 78


def test_display_name_with_specials_stays_a_name() -> None:
    msg = parsed(build(draft(from_name='Eve "Admin" <admin@polres.co.uk>, x')))
    (author,) = msg["From"].addresses
    assert author.addr_spec == GROUP
    assert author.display_name == 'Eve "Admin" <admin@polres.co.uk>, x'


def test_bcc_is_never_in_headers_but_in_envelope() -> None:
    d = draft(cc=("cc@x.example",), bcc=("secret@hidden.example", "DC.Jones@police.example"))
    raw = build(d)
    assert b"secret" not in raw.lower()
    assert parsed(raw)["Bcc"] is None
    assert envelope_recipients(d) == (
        "dc.jones@police.example",
        "cc@x.example",
        "secret@hidden.example",
    )


def test_envelope_recipients_dedupes_case_insensitively_in_order() -> None:
    d = draft(
        to=("b@x.example", "A@x.example"), cc=("a@X.EXAMPLE", "c@x.example"), bcc=("B@x.example",)
    )
    assert envelope_recipients(d) == ("b@x.example", "A@x.example", "c@x.example")


def test_sender_header_when_sending_as_group() -> None:
    msg = parsed(build(draft(), sender=USER))
    assert [a.addr_spec for a in msg["Sender"].addresses] == [USER]
    assert parsed(build(draft(), sender=GROUP.lower()))["Sender"] is None  # same as From


def test_in_reply_to_and_references() -> None:
    refs = " ".join(f"<{i}.{'r' * 40}@university.example>" for i in range(5))
    raw = build(draft(in_reply_to="<4.parent@university.example>", references=refs))
    msg = parsed(raw)
    assert msg["In-Reply-To"] == "<4.parent@university.example>"
    assert msg["References"].split() == refs.split()
    assert max(len(line) for line in raw.split(b"\r\n")) <= 78


def test_long_message_ids_are_never_encoded_words() -> None:
    long_id = f"<{'x' * 200}@university.example>"
    raw = build(draft(in_reply_to=long_id, references=f"<a@b> {long_id}"), message_id=long_id)
    assert b"=?" not in raw
    msg = parsed(raw)
    assert (msg["Message-ID"], msg["In-Reply-To"]) == (long_id, long_id)
    assert msg["References"].split() == ["<a@b>", long_id]


def test_garbage_in_thread_fields_is_dropped_not_sent() -> None:
    msg = parsed(build(draft(in_reply_to="your message of Tuesday", references="x <a@b> y")))
    assert msg["In-Reply-To"] is None
    assert msg["References"] == "<a@b>"


def test_attachments_round_trip() -> None:
    pdf = bytes(range(256)) * 10
    uploads = (
        Upload(
            "Bericht für Ämter \u2013 Übersicht sehr lang " + "x" * 60 + ".pdf",
            "application/pdf",
            pdf,
        ),
        Upload("C:\\Users\\jane\\notes.txt", "text/plain; charset=latin-1", b"caf\xe9\n"),
        Upload("", "", b""),
        Upload("fwd.eml", "message/rfc822", b"Subject: x\r\n\r\nhi\r\n"),
        Upload("odd.bin", "not a type", b"\0"),
    )
    msg = parsed(build(draft(body="See attached.\n", attachments=uploads)))
    assert msg.get_content_type() == "multipart/mixed"
    body, *parts = list(msg.iter_parts())
    assert body.get_content_type() == "text/plain"
    assert content(body) == "See attached.\n"
    assert [p.get_filename() for p in parts] == [
        uploads[0].filename,
        "notes.txt",
        "attachment",
        "fwd.eml",
        "odd.bin",
    ]
    assert [p.get_content_type() for p in parts] == [
        "application/pdf",
        "text/plain",
        "application/octet-stream",
        "application/octet-stream",  # message/* may not be base64 (RFC 2046 section 5.2.1)
        "application/octet-stream",
    ]
    for part, upload in zip(parts, uploads, strict=True):
        assert part.get_content_disposition() == "attachment"
        assert part["Content-Transfer-Encoding"] == "base64"
        assert part["MIME-Version"] is None
        assert part.get_payload(decode=True) == upload.data


def test_non_ascii_filename_uses_rfc2231() -> None:
    raw = build(draft(attachments=(Upload("Ämter.pdf", "application/pdf", b"x"),)))
    assert b"filename*=utf-8''%C3%84mter.pdf" in raw


def test_too_many_attachments_refused() -> None:
    uploads = tuple(Upload(f"{i}.txt", "text/plain", b"") for i in range(MAX_ATTACHMENTS + 1))
    with pytest.raises(InvalidInput, match="too many attachments"):
        build(draft(attachments=uploads))


def test_sending_needs_a_recipient_saving_a_draft_does_not() -> None:
    with pytest.raises(InvalidInput, match="at least one recipient"):
        build(draft(to=()))
    msg = parsed(build(draft(to=(), subject="half written"), draft_flag=True))
    assert msg["To"] is None
    assert msg["Subject"] == "half written"


def test_bcc_only_is_enough_to_send() -> None:
    raw = build(draft(to=(), bcc=("hidden@x.example",)))
    assert parsed(raw)["To"] is None
    assert b"hidden" not in raw


INJECTIONS = [
    "x\r\nBcc: evil@attacker.example",
    "x\nBcc: evil@attacker.example",
    "x\rB",
    "x\0y",
    "x\u2028y",
    "x\x0bBcc: y",
    "x\x85y",
]


@pytest.mark.parametrize("payload", INJECTIONS)
@pytest.mark.parametrize(
    "field",
    [
        "subject",
        "from_name",
        "from_addr",
        "to",
        "cc",
        "bcc",
        "in_reply_to",
        "references",
        "filename",
        "sender",
    ],
)
def test_header_injection_refused(field: str, payload: str) -> None:
    address = "dc.jones@police.example" + payload
    cases: dict[str, dict[str, object]] = {
        "subject": {"subject": "Case" + payload},
        "from_name": {"from_name": "Jane" + payload},
        "from_addr": {"from_addr": GROUP + payload},
        "to": {"to": (address,)},
        "cc": {"cc": (address,)},
        "bcc": {"bcc": (address,)},
        "in_reply_to": {"in_reply_to": "<a@b>" + payload},
        "references": {"references": "<a@b> " + payload},
        "filename": {"attachments": (Upload("a.txt" + payload, "text/plain", b""),)},
        "sender": {},
    }
    changes = cases[field]
    kwargs = {"sender": USER + payload} if field == "sender" else {}
    with pytest.raises(InvalidInput):
        build(draft(**changes), **kwargs)


def test_control_characters_in_body_are_encoded_not_refused() -> None:
    body = "nul\0 vt\x0b cr-only\r end\n"
    msg = parsed(build(draft(body=body)))
    assert msg["Content-Transfer-Encoding"] == "quoted-printable"
    assert content(msg) == "nul\0 vt\x0b cr-only\n end\n"


# --- parse_recipients ------------------------------------------------------------------------


def test_parse_recipients_mixed_list() -> None:
    text = 'a@x.example, B <b@y.example>; c@z.example , "Smith, Jane" <Jane@Z.example>,,'
    assert parse_recipients(text) == ("a@x.example", "b@y.example", "c@z.example", "Jane@z.example")


def test_parse_recipients_dedupes_case_insensitively_keeping_order() -> None:
    assert parse_recipients("b@x.example, A@x.example, a@X.example; B@X.EXAMPLE") == (
        "b@x.example",
        "A@x.example",
    )


def test_parse_recipients_empty() -> None:
    assert parse_recipients("") == ()
    assert parse_recipients(" , ; ") == ()


@pytest.mark.parametrize(
    "text, bad",
    [
        ("a@x.example, not-an-address", "not-an-address"),
        ("a@x.example; Bob <bob@>", "Bob <bob@>"),
        ("Bob <bob@x.example", "Bob <bob@x.example"),
        ("<a@x.example> trailing", "<a@x.example> trailing"),
        ("a b@x.example", "a b@x.example"),
        ("a@x.example\r\nBcc: evil@y.example", "a@x.example\\r\\nBcc: evil@y.example"),
        ("undisclosed-recipients:;", "undisclosed-recipients:"),
    ],
)
def test_parse_recipients_names_the_bad_entry(text: str, bad: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_recipients(text)
    assert bad in str(caught.value)


def test_parse_recipients_limit() -> None:
    text = ", ".join(f"u{i}@x.example" for i in range(5))
    assert len(parse_recipients(text, limit=5)) == 5
    assert len(parse_recipients(text + ", U0@X.example", limit=5)) == 5  # duplicates are free
    with pytest.raises(InvalidInput, match="at most 4"):
        parse_recipients(text, limit=4)
    with pytest.raises(InvalidInput, match="at most 100"):
        parse_recipients(", ".join(f"u{i}@x.example" for i in range(101)))


# --- reply_seed -----------------------------------------------------------------------------


def test_reply_to_sender_with_thread_fields_and_quote() -> None:
    seed = reply_seed(ORIGINAL, me=[GROUP, USER], reply_all=False)
    assert seed == ReplySeed(
        to=("jane@university.example",),
        cc=(),
        subject="Re: Evaluation data",
        in_reply_to="<orig.1@university.example>",
        references="<root.0@university.example> <orig.1@university.example>",
        body="\n\nOn Thu, 26 Nov 2026 09:15:00 +0100, Dr Jane Smith <jane@university.example>"
        " wrote:\n> First line.\n>\n> Second line.",
    )


def test_reply_all_excludes_me_and_to_case_insensitively() -> None:
    seed = reply_seed(ORIGINAL, me=[GROUP.upper(), "jane.smith@polres.co.uk"], reply_all=True)
    assert seed.to == ("jane@university.example",)
    assert seed.cc == ("bob@polres.co.uk", "carol@university.example")


def test_reply_all_never_repeats_the_author_in_cc() -> None:
    raw = mail("From: a@x.example\nTo: A@X.example, b@x.example\nCc: b@x.example\n")
    assert reply_seed(raw, me=[], reply_all=True).cc == ("b@x.example",)


def test_reply_prefers_reply_to() -> None:
    raw = mail(
        "From: a@x.example\nReply-To: List <list@x.example>, b@x.example\nTo: me@y.example\n"
    )
    seed = reply_seed(raw, me=["me@y.example"], reply_all=True)
    assert seed.to == ("list@x.example", "b@x.example")
    assert seed.cc == ()


def test_reply_to_own_sent_message_goes_to_its_recipients() -> None:
    raw = mail(f"From: {GROUP}\nSender: {USER}\nTo: dc.jones@police.example\nCc: cps@cps.example\n")
    seed = reply_seed(raw, me=[GROUP, USER], reply_all=True)
    assert seed.to == ("dc.jones@police.example",)
    assert seed.cc == ("cps@cps.example",)


@pytest.mark.parametrize(
    "subject, expected",
    [
        ("Evaluation", "Re: Evaluation"),
        ("Re: Evaluation", "Re: Evaluation"),
        ("RE: Evaluation", "Re: Evaluation"),
        ("Aw: Evaluation", "Re: Evaluation"),
        ("AW:Evaluation", "Re: Evaluation"),
        ("Re: Re: RE: aw: Evaluation", "Re: Evaluation"),
        ("Re[3]: Evaluation", "Re: Evaluation"),
        ("Fwd: Evaluation", "Re: Fwd: Evaluation"),
        ("Regarding: Evaluation", "Re: Regarding: Evaluation"),
        ("", "Re:"),
        ("=?utf-8?q?Gr=C3=BC=C3=9Fe?=", "Re: Grüße"),
    ],
)
def test_reply_subject_is_not_stacked(subject: str, expected: str) -> None:
    raw = mail(f"From: a@x.example\nSubject: {subject}\n")
    assert reply_seed(raw, me=[], reply_all=False).subject == expected


def test_references_fall_back_to_single_in_reply_to() -> None:
    raw = mail("From: a@x.example\nMessage-ID: <c@x>\nIn-Reply-To: <b@x>\n")
    seed = reply_seed(raw, me=[], reply_all=False)
    assert (seed.in_reply_to, seed.references) == ("<c@x>", "<b@x> <c@x>")
    raw = mail("From: a@x.example\nMessage-ID: <c@x>\nIn-Reply-To: <b@x> <a@x>\n")
    assert reply_seed(raw, me=[], reply_all=False).references == "<c@x>"
    raw = mail("From: a@x.example\nReferences: <a@x> <b@x>\n")  # no Message-ID
    seed = reply_seed(raw, me=[], reply_all=False)
    assert (seed.in_reply_to, seed.references) == ("", "<a@x> <b@x>")


def test_reply_quotes_html_only_mail_as_text() -> None:
    raw = mail(
        "From: a@x.example\nContent-Type: text/html; charset=utf-8\n",
        "<html><head><style>p{color:red}</style><script>alert(1)</script></head>"
        "<body><p>Dear&nbsp;team,</p><p>see <b>this</b> &amp; that</p></body></html>",
    )
    body = reply_seed(raw, me=[], reply_all=False).body
    assert body.endswith("a@x.example wrote:\n> Dear\xa0team,\n>\n> see this & that")
    assert "alert" not in body
    assert "color" not in body


def test_reply_prefers_plain_over_html_and_skips_attachments() -> None:
    raw = mail(
        'From: a@x.example\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b"\n',
        "--b\r\nContent-Type: multipart/alternative; boundary=c\r\n\r\n"
        "--c\r\nContent-Type: text/plain\r\n\r\nplain text\r\n"
        "--c\r\nContent-Type: text/html\r\n\r\n<p>html text</p>\r\n--c--\r\n"
        "--b\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=a.txt\r\n"
        "\r\nattached text\r\n--b--\r\n",
    )
    assert reply_seed(raw, me=[], reply_all=False).body.endswith("wrote:\n> plain text")


def test_reply_seed_of_garbage_is_empty_not_an_error() -> None:
    seed = reply_seed(b"\xff\xfe garbage", me=[], reply_all=True)
    assert (seed.to, seed.cc, seed.in_reply_to, seed.references) == ((), (), "", "")
    assert seed.subject == "Re:"


def test_cve_2024_6923_encoded_crlf_in_original_does_not_reach_the_reply() -> None:
    """An encoded-word decoding to CR LF (CVE-2024-6923 class) stays one line in the seed,
    so the reply built from it has no injected header."""
    raw = mail(
        "From: =?utf-8?q?Eve=0D=0ABcc=3A_spy=40attacker=2Eexample?= <eve@x.example>\n"
        "Subject: =?utf-8?q?Hello=0D=0ABcc=3A_spy=40attacker=2Eexample?=\n"
        "Message-ID: <m@x.example>\n"
    )
    seed = reply_seed(raw, me=[], reply_all=False)
    assert "\r" not in seed.subject and "\n" not in seed.subject
    assert seed.subject == "Re: Hello Bcc: spy@attacker.example"
    out = parsed(
        build(
            draft(
                to=seed.to,
                subject=seed.subject,
                body=seed.body,
                in_reply_to=seed.in_reply_to,
                references=seed.references,
            )
        )
    )
    assert out["Bcc"] is None
    assert [a.addr_spec for a in out["To"].addresses] == ["eve@x.example"]


def test_cve_2023_27043_crafted_address_is_not_misread() -> None:
    """getaddresses() reads `alice@example.org)<bob@example.org>` as two addresses
    (CVE-2023-27043 class); the seed must not invent bob."""
    raw = mail("From: alice@example.org)<bob@example.org>\nTo: me@polres.co.uk\n")
    seed = reply_seed(raw, me=["me@polres.co.uk"], reply_all=True)
    assert "bob@example.org" not in seed.to + seed.cc


# --- forward_seed ---------------------------------------------------------------------------


def test_forward_seed_summary_and_body() -> None:
    subject, body, uploads = forward_seed(ORIGINAL)
    assert subject == "Fwd: Evaluation data"
    assert body == (
        "---------- Forwarded message ----------\n"
        "From: Dr Jane Smith <jane@university.example>\n"
        "Date: Thu, 26 Nov 2026 09:15:00 +0100\n"
        "Subject: Evaluation data\n"
        "To: GM.ZeroTolerance@polres.co.uk, Bob <bob@polres.co.uk>\n"
        "\n"
        "First line.\n\nSecond line.\n"
    )
    assert uploads == ()


@pytest.mark.parametrize(
    "original, expected",
    [("Fwd: x", "Fwd: x"), ("FW: x", "Fwd: x"), ("Re: x", "Fwd: Re: x"), ("", "Fwd:")],
)
def test_forward_subject_not_stacked(original: str, expected: str) -> None:
    assert forward_seed(mail(f"Subject: {original}\n"))[0] == expected


def test_forward_carries_attachments_into_a_new_message() -> None:
    pdf = bytes(range(256))
    first = build(
        draft(
            body="Report attached.\n",
            attachments=(
                Upload("Bericht Ä.pdf", "application/pdf", pdf),
                Upload("notes.txt", "text/plain", b"one\ntwo\n"),
            ),
        )
    )
    subject, body, uploads = forward_seed(first)
    assert body.endswith("\n\nReport attached.\n")
    assert uploads == (
        Upload("Bericht Ä.pdf", "application/pdf", pdf),
        Upload("notes.txt", "text/plain", b"one\ntwo\n"),
    )
    again = parsed(build(draft(subject=subject, body=body, attachments=uploads)))
    assert [p.get_payload(decode=True) for p in again.iter_attachments()] == [pdf, b"one\ntwo\n"]


def test_forward_keeps_an_attached_message_whole() -> None:
    inner = "From: x@y.example\r\nSubject: inner\r\n\r\ninner body\r\n"
    raw = mail(
        'From: a@x.example\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b"\n',
        "--b\r\nContent-Type: text/plain\r\n\r\nouter body\r\n"
        f"--b\r\nContent-Type: message/rfc822\r\n\r\n{inner}--b--\r\n",
    )
    _subject, body, uploads = forward_seed(raw)
    assert body.endswith("\n\nouter body")  # the CRLF before a boundary is the boundary's
    assert "inner body" not in body
    (upload,) = uploads
    assert (upload.filename, upload.content_type) == ("message.eml", "message/rfc822")
    assert parsed(upload.data)["Subject"] == "inner"


def test_forward_seed_of_garbage_is_empty_not_an_error() -> None:
    subject, body, uploads = forward_seed(b"")
    assert subject == "Fwd:"
    assert body.startswith("---------- Forwarded message ----------\nFrom: \n")
    assert uploads == ()


# --- never raise on hostile input -----------------------------------------------------------

HEADER_LINES = st.sampled_from(
    [
        "From: a@x.example",
        "From: =?utf-8?q?=0D=0A?= <b@x.example>",
        "From: <>",
        "From: @",
        'From: "unterminated <a@x.example>',
        "Reply-To: ,,,",
        "To: a@x.example)<b@y.example>",
        "Cc: undisclosed-recipients:;",
        "Subject: =?x-unknown?q?abc?=",
        "Subject: =?utf-8?b?!!!?=",
        "Message-ID: <<<>>>",
        "References: <a@b> <a@b> junk",
        "In-Reply-To: <" + "x" * 300 + ">",
        "Date: not a date",
        "Content-Type: multipart/mixed",
        "Content-Type: multipart/mixed; boundary=b",
        "Content-Type: text/plain; charset=x-nonexistent",
        "Content-Transfer-Encoding: base64",
        "Content-Type: message/rfc822",
        "Content-Disposition: attachment; filename*=bogus''%ZZ",
        "Content-Type: text/html",
        " folded continuation",
        "no colon here",
        "X: \udcff",
    ]
)
BODIES = st.sampled_from(
    [
        "",
        "--b\r\n\r\n--b--\r\n",
        "--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b--\r\n",
        "=ZZ=\r\n",
        "!!!notbase64",
        "<p>unclosed <script>x",
        "--b\r\nContent-Type: message/rfc822\r\n",
    ]
)


def assert_buildable(seed: ReplySeed) -> None:
    """Whatever hostile mail gives, a seed is something build_message accepts."""
    build(
        draft(
            to=seed.to or ("x@y.example",),
            cc=seed.cc,
            subject=seed.subject,
            body=seed.body,
            in_reply_to=seed.in_reply_to,
            references=seed.references,
        )
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
@example(b"Content-Type: multipart/mixed; boundary=b\r\n\r\n" + b"--b\r\n" * 500)
@example(b"\r\n".join([b"Content-Type: multipart/mixed; boundary=b"] * 3) + b"\r\n\r\n")
def test_any_bytes_never_raise(raw: bytes) -> None:
    assert_buildable(reply_seed(raw, me=["a@x.example"], reply_all=True))
    subject, body, uploads = forward_seed(raw)
    build(draft(subject=subject, body=body, attachments=uploads))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(HEADER_LINES, max_size=8), BODIES, st.booleans())
def test_hostile_messages_never_raise(lines: list[str], body: str, reply_all: bool) -> None:
    raw = ("\r\n".join(lines) + "\r\n\r\n" + body).encode("utf-8", "surrogateescape")
    assert_buildable(reply_seed(raw, me=["a@x.example"], reply_all=reply_all))
    subject, text, uploads = forward_seed(raw)
    build(draft(subject=subject, body=text, attachments=uploads))


def test_deeply_nested_mime_does_not_raise() -> None:
    head = "".join(
        f'Content-Type: multipart/mixed; boundary="b{i}"\r\n\r\n--b{i}\r\n' for i in range(2000)
    )
    raw = b"From: a@x.example\r\n" + head.encode() + b"Content-Type: text/plain\r\n\r\ndeep\r\n"
    assert reply_seed(raw, me=[], reply_all=False).to == ("a@x.example",)
    forward_seed(raw)


@settings(deadline=None)
@given(st.text(max_size=200))
def test_parse_recipients_raises_only_invalid_input(text: str) -> None:
    try:
        result = parse_recipients(text)
    except InvalidInput:
        return
    assert all("@" in a for a in result)
