"""Finding the RFC 5322 From domain that DMARC protects, from hostile raw headers."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from securemail.mailauth.message import from_domain, mailbox_domains, split_header
from tests.mailauth.conftest import message


@pytest.mark.parametrize(
    ("value", "domains"),
    [
        ("alice@example.com", ["example.com"]),
        ("Alice <alice@Example.COM>", ["example.com"]),
        ('"Smith, Alice" <alice@example.com>', ["example.com"]),
        ('"a@bank.example" <alice@example.com>', ["example.com"]),
        ("alice@example.com (Alice, at home)", ["example.com"]),
        ("Alice <@relay.example:alice@example.com>", ["example.com"]),  # obsolete route
        ('"odd local"@example.com', ["example.com"]),
        ('<"a>b"@example.com>', ["example.com"]),
        ("a@example.com, b@example.org", ["example.com", "example.org"]),
        ("a@example.com,,", ["example.com"]),
        ("Jürgen <j@bücher.example>", ["xn--bcher-kva.example"]),
    ],
)
def test_readable_from_fields(value: str, domains: list[str]) -> None:
    assert mailbox_domains(value) == domains


@pytest.mark.parametrize(
    "value",
    [
        "",
        "Alice",
        "alice@",
        "@example.com",
        "alice@localhost",
        "alice@[192.0.2.1]",
        "Alice <alice@example.com",
        '"Alice <alice@example.com>',
        "Alice (comment <alice@example.com>",
        "<a@example.com> <b@evil.example>",
        "undisclosed-recipients:;",
        "Team: a@example.com;",
        "Alice alice@example.com",
        "<alice@exa mple.com>",
        "<a<b@example.com>>",
        "alice@exa_mple..com",
        "x" * 20000 + "@example.com",
    ],
)
def test_unreadable_from_fields_give_no_domain(value: str) -> None:
    assert mailbox_domains(value) == []


def test_exactly_one_from_field_is_needed() -> None:
    ok = from_domain(split_header(message()))
    assert (ok.domain, ok.problem) == ("example.com", "")
    twice = message(extra=["From: ceo@bank.example"])
    assert from_domain(split_header(twice)).problem == "several From fields"
    none = b"To: bob@securemail.test\r\nSubject: x\r\n\r\nbody\r\n"
    assert from_domain(split_header(none)).problem == "no From field"
    mixed = message("a@example.com, b@bank.example")
    assert from_domain(split_header(mixed)).problem == "From addresses in several domains"


def test_a_from_field_in_the_body_is_not_read() -> None:
    raw = b"Subject: x\r\n\r\nFrom: ceo@bank.example\r\n"
    assert from_domain(split_header(raw)).problem == "no From field"


def test_folded_from_and_lf_line_ends() -> None:
    raw = b"From: Alice\n <alice@example.com>\nTo: b@example.org\n\nbody\n"
    assert from_domain(split_header(raw)).domain == "example.com"


def test_huge_header_block_is_not_read() -> None:
    raw = b"X-Pad: " + b"a" * 2_000_000 + b"\r\nFrom: a@example.com\r\n\r\n"
    assert from_domain(split_header(raw)).problem == "header too large"


def test_split_header_rebuilds_the_message() -> None:
    raw = message(extra=["X-Folded: one\r\n two"])
    block = split_header(raw)
    assert b"".join(block.fields) + raw[block.end :] == raw
    assert raw[block.end :].startswith(b"\r\n")


@given(st.text(max_size=300))
def test_mailbox_domains_never_raises(value: str) -> None:
    for domain in mailbox_domains(value):
        assert domain and "\r" not in domain and "\n" not in domain


@given(st.binary(max_size=500))
def test_split_header_never_raises_and_rebuilds(raw: bytes) -> None:
    block = split_header(raw)
    assert b"".join(block.fields) + raw[block.end :] == raw
    from_domain(block)
