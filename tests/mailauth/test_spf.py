"""SPF check_host() (RFC 7208) against a table of DNS records."""

import asyncio
import ipaddress

import pytest

from securemail.mailauth.spf import check_spf
from securemail.mailauth.spf_record import (
    MacroContext,
    SpfSyntaxError,
    expand,
    parse_record,
    select_record,
)
from securemail.net.dns import MxRecord, StaticResolver
from tests.mailauth.conftest import FlakyResolver


async def spf(
    resolver: StaticResolver | FlakyResolver,
    ip: str = "192.0.2.10",
    mail_from: str = "alice@example.com",
    helo: str = "mail.example.com",
) -> str:
    result = await check_spf(resolver, client_ip=ip, mail_from=mail_from, helo=helo)
    return result.result


def table(record: str, more: dict[str, list[str]] | None = None) -> StaticResolver:
    return StaticResolver(txt_records={"example.com": [record]} | (more or {}))


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ("v=spf1 ip4:192.0.2.0/24 -all", "pass"),
        ("v=spf1 ip4:198.51.100.1 -all", "fail"),
        ("v=spf1 ip4:198.51.100.1 ~all", "softfail"),
        ("v=spf1 ip4:198.51.100.1 ?all", "neutral"),
        ("v=spf1 ip4:198.51.100.1", "neutral"),  # section 4.7: no match, no all
        ("v=spf1 -ip4:192.0.2.10 +all", "fail"),
        ("V=SPF1 IP4:192.0.2.10 -ALL", "pass"),  # section 12: case-insensitive
    ],
)
async def test_qualifiers_give_the_rfc_results(record: str, expected: str) -> None:
    assert await spf(table(record)) == expected


async def test_no_record_is_none() -> None:
    resolver = StaticResolver(txt_records={"example.com": ["google-site-verification=x"]})
    assert await spf(resolver) == "none"
    assert await spf(StaticResolver()) == "none"


async def test_several_records_are_permerror() -> None:
    resolver = StaticResolver(txt_records={"example.com": ["v=spf1 -all", "v=spf1 +all"]})
    assert await spf(resolver) == "permerror"


@pytest.mark.parametrize(
    "record",
    [
        "v=spf1 ip4:192.0.2.300 -all",
        "v=spf1 ip4:2001:db8::1 -all",
        "v=spf1 frobnicate -all",
        "v=spf1 a/33 -all",
        "v=spf1 include -all",
        "v=spf1 redirect=a.example redirect=b.example",
        "v=spf1 exists:%{x}.example -all",
        "v=spf1 all:foo",
    ],
)
async def test_syntax_errors_are_permerror(record: str) -> None:
    assert await spf(table(record)) == "permerror"


async def test_a_mx_and_cidr_lengths() -> None:
    resolver = StaticResolver(
        txt_records={"example.com": ["v=spf1 a:web.example.com/28 mx -all"]},
        addresses={"web.example.com": ["192.0.2.1"], "mx1.example.com": ["203.0.113.7"]},
        mx_records={"example.com": [MxRecord(10, "mx1.example.com")]},
    )
    assert await spf(resolver, ip="192.0.2.14") == "pass"  # inside the /28 of web
    assert await spf(resolver, ip="203.0.113.7") == "pass"  # the MX host
    assert await spf(resolver, ip="192.0.2.17") == "fail"


async def test_ip6_and_ipv4_mapped_clients() -> None:
    resolver = table("v=spf1 ip6:2001:db8::/32 ip4:192.0.2.0/24 -all")
    assert await spf(resolver, ip="2001:db8::25") == "pass"
    assert await spf(resolver, ip="2001:db9::25") == "fail"
    assert await spf(resolver, ip="::ffff:192.0.2.9") == "pass"  # section 5: evaluated as IPv4


async def test_include_and_redirect() -> None:
    resolver = table(
        "v=spf1 include:_spf.provider.example ~all",
        {
            "_spf.provider.example": ["v=spf1 ip4:198.51.100.0/24 -all"],
            "other.example": ["v=spf1 redirect=example.com"],
        },
    )
    assert await spf(resolver, ip="198.51.100.3") == "pass"
    assert await spf(resolver, ip="192.0.2.3") == "softfail"  # include's fail does not match
    assert await spf(resolver, ip="198.51.100.3", mail_from="x@other.example") == "pass"


async def test_include_of_a_domain_without_spf_is_permerror() -> None:
    assert await spf(table("v=spf1 include:nothing.example -all")) == "permerror"


async def test_more_than_ten_dns_mechanisms_is_permerror() -> None:
    """Section 4.6.4: the eleventh include (a chain, then a loop) ends the evaluation."""
    txt = {f"d{i}.example": [f"v=spf1 include:d{i + 1}.example -all"] for i in range(12)}
    txt["example.com"] = ["v=spf1 include:d0.example -all"]
    assert await spf(StaticResolver(txt_records=txt)) == "permerror"
    loop = table("v=spf1 include:example.com -all")
    assert await spf(loop) == "permerror"


async def test_exactly_ten_dns_mechanisms_is_allowed() -> None:
    terms = " ".join(f"a:h{i}.example" for i in range(9))
    resolver = StaticResolver(
        txt_records={"example.com": [f"v=spf1 {terms} a:last.example -all"]},
        addresses={f"h{i}.example": ["198.51.100.1"] for i in range(9)}
        | {"last.example": ["192.0.2.10"]},
    )
    assert await spf(resolver) == "pass"


async def test_void_lookups_beyond_two_are_permerror() -> None:
    resolver = table("v=spf1 a:n1.example a:n2.example a:n3.example -all")
    assert await spf(resolver) == "permerror"


async def test_macros_in_exists() -> None:
    """Section 7: %{i} and %{d}, as large senders publish them."""
    resolver = StaticResolver(
        txt_records={"example.com": ["v=spf1 exists:%{i}._ip.%{d} -all"]},
        addresses={"192.0.2.10._ip.example.com": ["127.0.0.2"]},
    )
    assert await spf(resolver) == "pass"
    assert await spf(resolver, ip="192.0.2.11") == "fail"


async def test_dns_failure_is_temperror() -> None:
    flaky = FlakyResolver(table("v=spf1 include:_spf.provider.example -all"))
    flaky.failing.add("_spf.provider.example")
    assert await spf(flaky) == "temperror"
    flaky.failing.add("example.com")
    assert await spf(flaky) == "temperror"


async def test_slow_dns_is_temperror_after_the_timeout() -> None:
    class Slow(StaticResolver):
        async def txt(self, name: str) -> list[str]:
            await asyncio.sleep(10)
            return []

    result = await check_spf(
        Slow(), client_ip="192.0.2.10", mail_from="a@example.com", helo="h.example", timeout=0.05
    )
    assert result.result == "temperror"


async def test_null_reverse_path_checks_the_helo_name() -> None:
    resolver = StaticResolver(txt_records={"mail.example.com": ["v=spf1 ip4:192.0.2.10 -all"]})
    result = await check_spf(
        resolver, client_ip="192.0.2.10", mail_from="<>", helo="mail.example.com"
    )
    assert (result.result, result.identity, result.domain) == ("pass", "helo", "mail.example.com")


@pytest.mark.parametrize(
    ("mail_from", "helo", "ip"),
    [
        ("alice@[192.0.2.1]", "h.example", "192.0.2.10"),
        ("alice@localhost", "h.example", "192.0.2.10"),
        ("", "[192.0.2.1]", "192.0.2.10"),
        ("alice@" + "a" * 70 + ".example", "h.example", "192.0.2.10"),
        ("alice@example.com", "h.example", "not-an-ip"),
    ],
)
async def test_odd_identities_never_raise(mail_from: str, helo: str, ip: str) -> None:
    result = await check_spf(StaticResolver(), client_ip=ip, mail_from=mail_from, helo=helo)
    assert result.result in {"none", "permerror"}


def test_record_parsing() -> None:
    record = parse_record("v=spf1 -mx/24//64 ip4:192.0.2.0/24 exp=explain.example redirect=r.ex")
    assert [m.name for m in record.mechanisms] == ["mx", "ip4"]
    assert (record.mechanisms[0].result, record.mechanisms[0].cidr4) == ("fail", 24)
    assert record.mechanisms[0].cidr6 == 64
    assert record.redirect == "r.ex"
    assert select_record(["v=spf10 -all", "spf2.0/pra"]) is None
    with pytest.raises(SpfSyntaxError):
        parse_record("v=spf1 ip6:2001:db8::/129")


def test_macro_expansion() -> None:
    """RFC 7208 section 7.4's examples, with sender strong-bad@email.example.com."""
    ctx = MacroContext(
        "strong-bad@email.example.com",
        "email.example.com",
        ipaddress.ip_address("192.0.2.3"),
        "mx.example.org",
    )
    assert expand("%{s}", ctx) == "strong-bad@email.example.com"
    assert expand("%{o}", ctx) == "email.example.com"
    assert expand("%{d4}", ctx) == "email.example.com"
    assert expand("%{d2}", ctx) == "example.com"
    assert expand("%{dr}", ctx) == "com.example.email"
    assert expand("%{d2r}", ctx) == "example.email"
    assert expand("%{l}", ctx) == "strong-bad"
    assert expand("%{l-}", ctx) == "strong.bad"
    assert expand("%{lr-}", ctx) == "bad.strong"
    assert expand("%{l1r-}", ctx) == "strong"
    assert expand("%{ir}.%{v}._spf.%{d2}", ctx) == "3.2.0.192.in-addr._spf.example.com"
    assert expand("%{S}", ctx) == "strong-bad%40email.example.com"
    v6 = MacroContext("a@b.example", "b.example", ipaddress.ip_address("2001:db8::cb01"), "h")
    assert expand("%{ir}.%{v}", v6) == (
        "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6"
    )
    for bad in ("%{d0}", "%{c}", "%x", "50%"):
        with pytest.raises(SpfSyntaxError):
            expand(bad, ctx)
