"""core.addresses: what an operator may type as an address or a domain, and what is refused."""

import re
import string

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from securemail.core.addresses import MAX_ADDRESS, Address, normalise_domain, parse_address
from securemail.core.errors import InvalidInput

LDH_DOMAIN = re.compile(r"[a-z0-9.-]+")


@pytest.mark.parametrize(
    ("text", "local", "domain", "key"),
    [
        ("alice@polres.co.uk", "alice", "polres.co.uk", "alice@polres.co.uk"),
        ("GM.ZeroTolerance@POLRES.co.uk", "GM.ZeroTolerance", "polres.co.uk",
         "gm.zerotolerance@polres.co.uk"),
        ("  bob@example.org  ", "bob", "example.org", "bob@example.org"),
        ("carol@example.org.", "carol", "example.org", "carol@example.org"),
        ("o'brien+tag@mail.example", "o'brien+tag", "mail.example", "o'brien+tag@mail.example"),
        ("x@1st.example", "x", "1st.example", "x@1st.example"),
        ("a.b.c@sub-domain.example", "a.b.c", "sub-domain.example", "a.b.c@sub-domain.example"),
    ],
)  # fmt: skip
def test_valid_addresses_keep_the_local_case_and_lower_the_domain(
    text: str, local: str, domain: str, key: str
) -> None:
    address = parse_address(text)
    assert (address.local, address.domain, address.key) == (local, domain, key)
    assert str(address) == f"{local}@{domain}"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "alice",
        "@example.org",
        "alice@",
        "alice@localhost",
        "alice@@example.org",
        "a b@example.org",
        "alice@exa mple.org",
        "<alice@example.org>",
        '"alice"@example.org',
        "alice@example.org\r\nBcc: eve@evil.example",
        "alice\n@example.org",
        "alice\0@example.org",
        ".alice@example.org",
        "alice.@example.org",
        "al..ice@example.org",
        "alice@-example.org",
        "alice@example-.org",
        "alice@exa_mple.org",
        "alice@example..org",
        "jörg@example.org",
        "alice@exämple.org",
        "a" * 65 + "@example.org",
        "alice@" + "a" * 64 + ".example",
        "a@" + ".".join(["abcdefgh"] * 30) + ".example",
        "alice,bob@example.org",
        "alice;@example.org",
        "alice@[127.0.0.1]",
    ],
)
def test_malformed_addresses_are_refused_with_invalid_input(text: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_address(text)
    message = str(info.value)
    assert message and "\n" not in message and "\r" not in message


def test_an_address_longer_than_the_smtp_path_limit_is_refused() -> None:
    local = "a" * 64
    domain = ".".join(["b" * 60] * 4)[: MAX_ADDRESS - 64]
    domain = domain.rstrip(".")
    text = f"{local}@{domain}x.example"
    assert len(text) > MAX_ADDRESS
    with pytest.raises(InvalidInput, match="longer than"):
        parse_address(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Example.ORG", "example.org"),
        ("example.org.", "example.org"),
        (" polres.co.uk ", "polres.co.uk"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("a-b.c-d.example", "a-b.c-d.example"),
    ],
)
def test_valid_domains_are_normalised(text: str, expected: str) -> None:
    assert normalise_domain(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", ".", "localhost", "example..org", "-a.example", "a-.example", "a_b.example",
     "bücher.example", "a b.example", "a" * 64 + ".example", ".".join(["a"] * 200)],
)  # fmt: skip
def test_malformed_domains_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput):
        normalise_domain(text)


def test_a_domain_label_ending_in_a_line_feed_is_refused() -> None:
    with pytest.raises(InvalidInput):
        normalise_domain("abc\n.example")


address_soup = st.text(
    alphabet=st.sampled_from(string.ascii_letters + string.digits + "@.-_+'\"<>()[]\\ \r\n\t\0é"),
    max_size=80,
)


@given(st.one_of(st.text(max_size=300), address_soup))
def test_parse_address_never_raises_anything_but_invalid_input(text: str) -> None:
    try:
        address = parse_address(text)
    except InvalidInput:
        return
    assert isinstance(address, Address)
    # Whatever is accepted is a single clean line that parses back to itself.
    assert not any(c in str(address) for c in "\r\n\0 <>")
    assert parse_address(str(address)) == address
    assert parse_address(address.key).key == address.key


domain_soup = st.text(
    alphabet=st.sampled_from(string.ascii_letters + string.digits + ".-_ \r\n\t\0é"), max_size=60
)


@given(st.one_of(st.text(max_size=300), domain_soup))
def test_normalise_domain_never_raises_anything_but_invalid_input(text: str) -> None:
    try:
        domain = normalise_domain(text)
    except InvalidInput:
        return
    assert normalise_domain(domain) == domain


@given(domain_soup)
@example("abc\n.example")
def test_accepted_domains_hold_only_letters_digits_hyphens_and_dots(text: str) -> None:
    try:
        domain = normalise_domain(text)
    except InvalidInput:
        return
    assert LDH_DOMAIN.fullmatch(domain)
