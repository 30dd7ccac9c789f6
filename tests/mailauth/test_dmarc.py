"""DMARC records (RFC 7489 section 6.3), policy discovery (6.6.3) and organizational domains."""

import pytest

from securemail.mailauth.dmarc import DmarcRecord, discover, parse_record
from securemail.mailauth.orgdomain import aligned, org_domain
from securemail.mailauth.results import authserv_id_of
from securemail.net.dns import StaticResolver


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("v=DMARC1; p=reject", DmarcRecord("reject", "reject", "r", "r")),
        (
            "v=DMARC1;p=Quarantine;sp=none;adkim=s;aspf=s",
            DmarcRecord("quarantine", "none", "s", "s"),
        ),
        ("v = DMARC1; p=none; sp=bogus; adkim=x", DmarcRecord("none", "none", "r", "r")),
        ("v=DMARC1; p=bogus; rua=mailto:d@example.com", DmarcRecord("none", "none", "r", "r")),
        (
            "v=DMARC1; p=reject; mailto:stray@example.com; fo=1",
            DmarcRecord("reject", "reject", "r", "r"),
        ),
        ("v=DMARC1; p=bogus", None),
        ("v=DMARC1", None),
        ("p=reject; v=DMARC1", None),  # v= must come first
        ("v=dmarc1; p=reject", None),  # and is case-sensitive
        ("v=spf1 -all", None),
    ],
)
def test_record_tags(text: str, expected: DmarcRecord | None) -> None:
    assert parse_record(text) == expected


async def test_discovery_falls_back_to_the_organizational_domain() -> None:
    resolver = StaticResolver(
        txt_records={"_dmarc.example.co.uk": ["v=DMARC1; p=reject; sp=quarantine"]}
    )
    found = await discover(resolver, "mail.example.co.uk")
    assert found.policy == "quarantine"
    found = await discover(resolver, "example.co.uk")
    assert found.policy == "reject"


async def test_two_records_mean_no_dmarc() -> None:
    resolver = StaticResolver(
        txt_records={"_dmarc.example.com": ["v=DMARC1; p=reject", "v=DMARC1; p=none"]}
    )
    found = await discover(resolver, "example.com")
    assert (found.record, found.policy) == (None, "")


def test_organizational_domains() -> None:
    assert org_domain("a.b.example.com") == "example.com"
    assert org_domain("mail.example.co.uk") == "example.co.uk"
    assert org_domain("x.y.unknown-tld-here") == "y.unknown-tld-here"  # last two labels
    assert aligned("bounce.example.com", "example.com", "r")
    assert not aligned("bounce.example.com", "example.com", "s")
    assert not aligned("example.co.uk", "other.co.uk", "r")


@pytest.mark.parametrize(
    ("value", "authserv_id"),
    [
        (" mx.example.org; spf=pass", "mx.example.org"),
        (" (forged) MX.Example.Org. 1; dkim=pass", "mx.example.org"),
        ('"mx.example.org"; none', "mx.example.org"),
        (" mx.example.org", "mx.example.org"),
        ("", ""),
    ],
)
def test_authserv_id_of_existing_fields(value: str, authserv_id: str) -> None:
    assert authserv_id_of(value) == authserv_id
