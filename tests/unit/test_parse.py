"""mail.parse.parse_fields: hostile mail degrades to empty fields, never to an exception."""

import base64
import string

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from securemail.mail.parse import MAX_DEPTH, MAX_HEADER_FIELD, MAX_PARTS, parse_fields

ONE_LINE_FIELDS = ("from_addr", "to_addrs", "cc_addrs", "subject", "message_id", "in_reply_to",
                   "references")  # fmt: skip


def assert_safe(fields: object) -> None:
    """Every header field is one line without NUL, and everything is storable UTF-8 text."""
    for name in ONE_LINE_FIELDS:
        value = getattr(fields, name)
        assert isinstance(value, str)
        assert not any(c in value for c in "\r\n\0"), (name, value)
        assert len(value) <= MAX_HEADER_FIELD
        value.encode("utf-8")
    text = fields.text  # type: ignore[attr-defined]
    assert "\0" not in text
    text.encode("utf-8")


def simple(headers: str, body: str = "hello\r\n") -> bytes:
    return (headers.replace("\n", "\r\n") + "\r\n" + body).encode("utf-8")


def test_plain_message_fields() -> None:
    fields = parse_fields(
        simple(
            "From: Dr Jane Smith <jane.smith@university.example>\n"
            "To: GM.ZeroTolerance@polres.co.uk\n"
            "Cc: bob@polres.co.uk\n"
            "Subject: Evaluation data\n"
            "Date: Thu, 26 Nov 2026 09:15:00 +0100\n"
            "Message-ID: <m1@university.example>\n"
            "In-Reply-To: <m0@polres.co.uk>\n"
            "References: <a@x> <m0@polres.co.uk>\n",
            "Could you share the data?\r\n",
        )
    )
    assert fields.from_addr == "Dr Jane Smith <jane.smith@university.example>"
    assert fields.to_addrs == "GM.ZeroTolerance@polres.co.uk"
    assert fields.cc_addrs == "bob@polres.co.uk"
    assert fields.subject == "Evaluation data"
    assert fields.date is not None and fields.date.isoformat() == "2026-11-26T08:15:00+00:00"
    assert fields.message_id == "<m1@university.example>"
    assert fields.in_reply_to == "<m0@polres.co.uk>"
    assert fields.references == "<a@x> <m0@polres.co.uk>"
    assert "Could you share the data?" in fields.text
    assert not fields.has_attachments


@pytest.mark.parametrize("date", ["yesterday", "Thu, 99 Foo 2026 99:99:99 +9999", ""])
def test_an_unparsable_or_missing_date_is_none(date: str) -> None:
    headers = f"Subject: s\nDate: {date}\n" if date else "Subject: s\n"
    assert parse_fields(simple(headers)).date is None


def test_a_date_without_zone_is_taken_as_utc() -> None:
    fields = parse_fields(simple("Date: Thu, 26 Nov 2026 09:15:00 -0000\n"))
    assert fields.date is not None and fields.date.utcoffset() is not None


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("=?utf-8?b?" + base64.b64encode("Grüße aus Köln".encode()).decode() + "?=",
         "Grüße aus Köln"),
        ("=?iso-8859-1?q?caf=E9_cr=E8me?=", "café crème"),
        ("=?utf-8?q?Zero_Tolerance?= =?utf-8?q?_enquiry?=", "Zero Tolerance enquiry"),
        ("Plain =?UTF-8?Q?m=C3=BCnchen?= text", "Plain münchen text"),
    ],
)  # fmt: skip
def test_encoded_word_subjects_are_decoded(header: str, expected: str) -> None:
    assert parse_fields(simple(f"Subject: {header}\n")).subject == expected


def test_a_folded_subject_becomes_one_line() -> None:
    fields = parse_fields(b"Subject: first part\r\n  second\r\n\tthird\r\n\r\nbody")
    assert fields.subject == "first part second third"


def test_crlf_hidden_in_an_encoded_word_never_reaches_a_field() -> None:
    """CVE-2024-6923 class: a decoded header must not smuggle a new header line."""
    smuggled = base64.b64encode(b"Hello\r\nBcc: eve@evil.example\r\n\r\nbody").decode()
    raw = simple(
        f"Subject: =?utf-8?b?{smuggled}?=\n"
        "References: =?utf-8?q?<a@x>=0D=0AX-Evil:_1?=\n"
        "Message-ID: =?utf-8?q?<a=0D=0AX-Evil:_1@x>?=\n"
    )
    fields = parse_fields(raw)
    assert_safe(fields)
    assert fields.subject.startswith("Hello") and "Bcc: eve@evil.example" in fields.subject


def test_nul_bytes_are_removed_from_headers_and_text() -> None:
    fields = parse_fields(b"Subject: a\x00b\r\nFrom: x\x00@y.example\r\n\r\nbo\x00dy\r\n")
    assert_safe(fields)
    assert fields.subject == "ab"
    assert "body" in fields.text


def test_an_overlong_header_is_cut() -> None:
    fields = parse_fields(simple("Subject: " + "word " * 2000 + "\n"))
    assert len(fields.subject) == MAX_HEADER_FIELD


def attachment_message(disposition: str) -> bytes:
    return (
        b"From: a@b.example\r\nSubject: report\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="XX"\r\n\r\n'
        b"--XX\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSee the attached report.\r\n"
        b"--XX\r\nContent-Type: application/pdf\r\n"
        + disposition.encode()
        + b"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKc2VjcmV0d29yZA==\r\n"
        b"--XX--\r\n"
    )


@pytest.mark.parametrize(
    "disposition",
    ['Content-Disposition: attachment; filename="r.pdf"', "Content-Disposition: attachment",
     'Content-Disposition: inline; filename="r.pdf"'],
)  # fmt: skip
def test_attachments_are_detected_and_not_indexed_as_text(disposition: str) -> None:
    fields = parse_fields(attachment_message(disposition))
    assert fields.has_attachments
    assert "See the attached report." in fields.text
    assert "secretword" not in fields.text


def test_an_inline_part_without_a_file_name_is_not_an_attachment() -> None:
    fields = parse_fields(attachment_message("Content-Disposition: inline"))
    assert not fields.has_attachments


def test_an_unknown_charset_still_gives_the_text() -> None:
    raw = b"Subject: s\r\nContent-Type: text/plain; charset=x-no-such-charset\r\n\r\ncaf\xe9 ok\r\n"
    fields = parse_fields(raw)
    assert_safe(fields)
    assert "caf" in fields.text and "ok" in fields.text


def test_a_bad_transfer_encoding_does_not_raise() -> None:
    raw = (
        b"Subject: s\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n!!!not base64 at all@@@\r\n"
    )
    assert_safe(parse_fields(raw))


def test_a_multipart_without_boundary_does_not_raise() -> None:
    raw = (
        b"Subject: no boundary\r\nContent-Type: multipart/mixed\r\n\r\n"
        b"--x\r\nContent-Type: text/plain\r\n\r\nhi\r\n--x--\r\n"
    )
    fields = parse_fields(raw)
    assert_safe(fields)
    assert fields.subject == "no boundary"


def nested(levels: int, word: str = "deepword") -> bytes:
    body = f"Content-Type: text/plain\r\n\r\n{word}\r\n".encode()
    for i in range(levels):
        b = f"b{i}".encode()
        body = (
            b"Content-Type: multipart/mixed; boundary=" + b + b"\r\n\r\n--" + b + b"\r\n"
            + body + b"\r\n--" + b + b"--\r\n"
        )  # fmt: skip
    return b"Subject: nested\r\n" + body


def test_nesting_is_followed_to_the_depth_limit_and_no_further() -> None:
    assert "deepword" in parse_fields(nested(MAX_DEPTH)).text
    assert "deepword" not in parse_fields(nested(MAX_DEPTH + 1)).text
    assert parse_fields(nested(50)).subject == "nested"


def test_a_thousand_nested_multiparts_do_not_raise() -> None:
    fields = parse_fields(nested(1000))
    assert fields.subject == "nested"


def test_the_number_of_parts_is_capped() -> None:
    parts = b"".join(
        b"--zz\r\nContent-Type: text/plain\r\n\r\nw%d\r\n" % i for i in range(MAX_PARTS * 3)
    )
    raw = b"Subject: many\r\nContent-Type: multipart/mixed; boundary=zz\r\n\r\n" + parts + b"--zz--"
    words = parse_fields(raw).text.split()
    assert words[0] == "w0"
    assert len(words) == MAX_PARTS - 1  # the root multipart counts as one part


@pytest.mark.parametrize(
    "value",
    ["<", ".@", ":<", "<\\@", "\r\n :",
     "=?utf-8?q?Hello=0D=0ABcc:_eve@evil.example?= <jane@university.example>"],
)  # fmt: skip
def test_hostile_address_headers_degrade_instead_of_raising(value: str) -> None:
    fields = parse_fields(f"From: {value}\r\nTo: {value}\r\nSubject: ok\r\n\r\nbody".encode())
    assert_safe(fields)
    assert fields.subject == "ok"


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=3000))
def test_arbitrary_bytes_never_raise(raw: bytes) -> None:
    assert_safe(parse_fields(raw))


HEADER_NAMES = ["From", "To", "Cc", "Subject", "Date", "Message-ID", "In-Reply-To", "References",
                "Content-Type", "Content-Disposition", "Content-Transfer-Encoding"]  # fmt: skip
PIECES = [*'<>@"\\()[];:,. =?-_\'\t', *string.ascii_lowercase[:6], "=?utf-8?q?", "=?utf-8?b?",
          "?=", "\r\n ", "\n", "\r", "é", "\0", "multipart/mixed", "boundary=", "attachment",
          "filename=", "charset=", "base64", "text/plain", "\r\n--"]  # fmt: skip
header_value = st.lists(st.sampled_from(PIECES), max_size=16).map("".join)
headers = st.lists(st.tuples(st.sampled_from(HEADER_NAMES), header_value), max_size=6)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(headers, st.binary(max_size=200))
@example([("From", "<")], b"")
def test_header_soup_never_raises_and_never_leaks_line_breaks(
    items: list[tuple[str, str]], body: bytes
) -> None:
    raw = "".join(f"{n}: {v}\r\n" for n, v in items).encode("utf-8") + b"\r\n" + body
    assert_safe(parse_fields(raw))


@pytest.mark.parametrize("charset", ["unicode_escape", "raw_unicode_escape", "utf-16", "rot13"])
def test_any_declared_charset_gives_text_the_store_can_hold(charset: str) -> None:
    """A stranger's charset=unicode_escape once decoded to lone surrogates and made the
    message undeliverable (the full-text index refused it); NUL is refused by PostgreSQL."""
    raw = (
        "From: a@example.org\r\nSubject: odd\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: text/plain; charset={charset}\r\n\r\n"
        "\\ud800 and \\x00 and plain words\r\n"
    ).encode() + b"\x00tail\r\n"
    fields = parse_fields(raw)
    fields.text.encode("utf-8")  # no lone surrogates
    assert "\x00" not in fields.text
    assert "plain" in fields.text or charset in ("rot13", "utf-16")
