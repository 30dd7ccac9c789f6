"""Inputs the fuzzers (fuzz/, scripts/fuzz) found crashing a parser, each kept as a named test."""

import pytest

from fuzz.registry import load
from securemail.core.errors import InvalidInput
from securemail.mail.headers import header_addresses
from securemail.mail.sanitize import sanitise_html
from securemail.protocols.imap import structure
from securemail.wire.imap.parser import Atom, ParseError, number, search_date, sequence_set

LATIN1_8BIT = b"Content-Type: text/plain; charset=iso-8859-1\r\n\r\ncaf\xe9\r\n"
FORWARDED_8BIT = (
    b"From: a@example.org\r\nContent-Type: message/rfc822\r\n\r\n"
    b"From: b@example.org\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nna\xc3\xafve \xff\r\n"
)
# an <a> fostered out of a <table> inside an <a>: re-parsing the output opens a <b> again
REOPENED_FORMATTING = (
    b" <p~>e'p~Hel<b>><b>><A>>o;tp<Apt><table background=>\xbd<t<\x00<p/p~>el <b>><A>>"
    b"<A>h<b>><\x00<p/p~>el <b>><A>></\x00\x00"
)
# the inner multipart has no boundary, 8-bit octets, and a NUL in its charset name
NUL_CHARSET_FORWARDED = (
    b"From: a@example.org\r\nContent-Type: message/rfc822\r\n\r\n"
    b"From: inner@example.org\r\nContent-Type: multipart/mixed; charset=ut\x00f\r\n\r\n"
    b"body \xff\r\n"
)
BOUNDARYLESS_8BIT = (
    b"Content-Type: multipart/mixed\r\n\r\n--XX\r\nCon\xf8: x\r\n\r\nbody\r\n--XX--\r\n"
)


def test_imap_sequence_number_with_a_superscript_digit_is_a_parse_error() -> None:
    """ "1²" passed str.isdigit() and then int() raised ValueError, not ParseError."""
    with pytest.raises(ParseError):
        sequence_set(Atom("1\u00b2:*"))


def test_imap_number_with_a_superscript_digit_is_a_parse_error() -> None:
    with pytest.raises(ParseError):
        number(Atom("\u00b2"))


def test_imap_number_with_arabic_indic_digits_is_a_parse_error() -> None:
    """int() would read "٣" as 3: RFC 5234 DIGIT is ASCII only."""
    with pytest.raises(ParseError):
        sequence_set(Atom("\u0663"))


def test_imap_search_date_with_a_huge_year_is_a_parse_error() -> None:
    """datetime() raised OverflowError for a year past the C int range."""
    with pytest.raises(ParseError):
        search_date(Atom("1-Feb-2999999999999020"))


def test_bodystructure_counts_the_octets_of_an_8bit_body() -> None:
    """get_payload() decoded the Latin-1 body and encoding it as ASCII raised; the size must be
    the 6 octets received, and BODY[1] those octets."""
    shape = structure.bodystructure(structure.parse(LATIN1_8BIT))
    assert b'"8BIT"' not in shape and b" 6 1 " in shape
    assert structure.section(LATIN1_8BIT, "1", []) == b"caf\xe9\r\n"


def test_bodystructure_of_a_forwarded_message_with_an_8bit_body() -> None:
    shape = structure.bodystructure(structure.parse(FORWARDED_8BIT))
    assert shape.startswith(b'("MESSAGE" "RFC822"')
    assert structure.section(FORWARDED_8BIT, "1", []) == b"na\xc3\xafve \xff\r\n"


def test_mime_header_of_a_boundaryless_multipart_with_8bit_octets() -> None:
    """The stdlib's bytes writer raised UnicodeEncodeError on this part (BODY[1.MIME])."""
    assert (
        structure.section(BOUNDARYLESS_8BIT, "1.MIME", [])
        == b"Content-Type: multipart/mixed\r\n\r\n"
    )
    assert structure.section(BOUNDARYLESS_8BIT, "1.TEXT", []) == b""


def test_bodystructure_of_a_forwarded_part_with_a_nul_in_its_charset() -> None:
    """The stdlib writer raised ValueError ("embedded null character") decoding the body."""
    msg = structure.parse(NUL_CHARSET_FORWARDED)
    shown = structure.bodystructure(msg, extended=True)
    assert shown.startswith(b'("MESSAGE" "RFC822"'), shown
    assert structure.section(NUL_CHARSET_FORWARDED, "1", []).endswith(b"body \xff\r\n")


def test_mime_header_with_a_group_separator_in_a_field() -> None:
    """str.splitlines() breaks at \\x1d, so the stdlib's writer saw an "embedded header" and
    raised HeaderParseError for BODY[1.MIME]; the raw fields are served instead."""
    raw = b"From: Alice <a@example.org>\x1dTo: x\r\nSubject: hi\r\n\r\nbody\r\n"
    assert structure.section(raw, "1.MIME", []) == raw[: raw.index(b"body")]


def test_bodystructure_of_a_forwarded_message_with_a_group_separator_in_a_field() -> None:
    raw = (
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
        b"Content-Type: message/rfc822\r\n\r\nFrom: x\x1dTo: y\r\n\r\ninner\r\n--b--\r\n"
    )
    assert structure.bodystructure(structure.parse(raw)).startswith(b'(("MESSAGE" "RFC822"')


def test_sanitiser_drops_an_empty_style_declaration_so_it_is_idempotent() -> None:
    """`style="width:"` came out as `style=""`, which a second pass removed."""
    once, _ = sanitise_html('<div style="width:">x</div>', allow_remote=False)
    assert once == "<div>x</div>"
    assert sanitise_html(once, allow_remote=False)[0] == once


@pytest.mark.parametrize("style", ["width: calc(100e.org/", "width: 1e", "font-family: 1e-x"])
def test_sanitiser_refuses_an_e_unit_that_nh3_would_escape(style: str) -> None:
    """nh3 re-wrote `100e` as the CSS escape `100\\65 `, which a second pass then removed."""
    once, _ = sanitise_html(f'<div style="{style}">x</div>', allow_remote=False)
    assert once == "<div>x</div>"


def test_sanitiser_keeps_em_units_and_exponents() -> None:
    once, _ = sanitise_html('<p style="width: 2em; height: 1e-3px">x</p>', allow_remote=False)
    assert once == '<p style="width:2em;height:0.001px">x</p>'
    assert sanitise_html(once, allow_remote=False)[0] == once


@pytest.mark.parametrize(
    "style", ["width: calc(100% dth: calc(100% 2 2px)", "width: 1px)", "width: 'a(1px)"]
)
def test_sanitiser_drops_a_declaration_with_unbalanced_parentheses(style: str) -> None:
    """`calc(` left open was cut differently by nh3 on a second pass: not idempotent."""
    once, _ = sanitise_html(f'<div style="{style}">x</div>', allow_remote=False)
    assert once == "<div>x</div>"


@pytest.mark.parametrize("style", ["width: 1\x00calc(1px)", "width: 1\x01px", "width: \ufffd1px"])
def test_sanitiser_drops_a_declaration_with_control_characters(style: str) -> None:
    """nh3 re-serialised `1\\x00\\x00calc(100p 2 %-x)` as `1\\ufffd\\ufffdcalc (`, which a second
    pass then dropped: not idempotent."""
    once, _ = sanitise_html(f'<div style="{style}">x</div>', allow_remote=False)
    assert once == "<div>x</div>"


@pytest.mark.parametrize("url", ["//", "//a b", "//[::1"])
def test_sanitiser_drops_a_protocol_relative_url_that_is_no_url_once_made_https(url: str) -> None:
    """`<a href=//>` came out as `href="https://"`, which nh3 drops: not idempotent."""
    once, _ = sanitise_html(f'<a href="{url}">x</a><img src="{url}">', allow_remote=True)
    assert "href" not in once and "src" not in once, once


def test_sanitiser_makes_a_protocol_relative_url_https() -> None:
    once, _ = sanitise_html('<a href="//example.org/x">x</a>', allow_remote=False)
    assert 'href="https://example.org/x"' in once


def test_sanitiser_judges_the_style_nh3_will_print() -> None:
    """nh3 closes an open string and an open `calc(`; judged after that, both passes agree."""
    for style in ("width: calc(100p'2 %-x)", "width: calc(1px"):
        once, _ = sanitise_html(f'<div style="{style}">x</div>', allow_remote=False)
        assert sanitise_html(once, allow_remote=False)[0] == once


def test_sanitiser_keeps_balanced_calc() -> None:
    once, _ = sanitise_html('<p style="width: calc(100% - 2px)">x</p>', allow_remote=False)
    assert once == '<p style="width:calc(100% - 2px)">x</p>'
    assert sanitise_html(once, allow_remote=False)[0] == once


@pytest.mark.parametrize(
    ("target", "data"),
    [
        ("imap", b"a2 UID FETCH 1\xc2\xb2:*,4 (FLAGS)"),
        ("imap", b"a5 SEARCH SINCE 1-Feb-2999999999999020 NOT SEEN"),
        ("imap", b'a3 APPEND INBOX (\\Seen) "01-Jan-2024 10:00:00 +0000" \xc2\xb2 {2}\r\nhi\r\n'),
        ("mime", FORWARDED_8BIT),
        ("mime", BOUNDARYLESS_8BIT),
        ("mime", NUL_CHARSET_FORWARDED),
        ("mime", b"From: a\r\nContent-Type: multipart/;related; boundar*\r\n\r\nx\r\n"),
        ("mime", b"From: Alice <alice@exa\x1dTo: b>\r\n\r\nx"),
        ("mime", b"From:\xc1&@[ "),  # a domain literal cut short: the stdlib's UnboundLocalError
        ("html", REOPENED_FORMATTING),
        ("html", b'\x01<div style= width: calc(100% - 2px)"><svg></svg></div>'),
        ("html", b'\x01<div style="width: calc(100e.org/" onclic/div>k="x()">link</a>'),
        ("html", b'\x01<div style="width: calc(100%dth: calc(100% 2 2px)tyle="widt<svi v>'),
        (
            "html",
            b'\x01<div style="width: 1\x00\x00\x00calc(100p 2 %-x)"><svg><style>a{}</stylg></div>',
        ),
    ],
)
def test_fuzz_harness_accepts_the_former_crash(target: str, data: bytes) -> None:
    """The whole harness (every property it checks) passes on the input that once crashed."""
    outcome, crash = load(target).run(data)
    assert crash is None, outcome


def test_a_from_field_the_stdlib_cannot_parse_is_refused_as_bad_input() -> None:
    """`From: x@[ ` (a domain literal cut short) made the stdlib's address parser raise
    UnboundLocalError, which escaped the From: check of submission and DKIM signing."""
    with pytest.raises(InvalidInput, match="cannot parse the From: header"):
        header_addresses(b"From: \xc1&@[ \r\n\r\nbody\r\n", "From")
