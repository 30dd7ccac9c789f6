"""Where outbound mail goes: MX order, implicit MX, null MX, DNS trouble, smarthost syntax."""

import pytest

from securemail.mail.dsn import Outcome
from securemail.net.dns import DnsError, MxRecord, StaticResolver
from securemail.relay.routes import (
    MAX_ADDRESSES,
    Hop,
    RouteError,
    Smarthost,
    hops_for,
    parse_smarthost,
)


async def test_mx_hosts_are_tried_in_preference_order_with_every_address() -> None:
    resolver = StaticResolver(
        mx_records={
            "remote.test": [MxRecord(20, "backup.remote.test"), MxRecord(10, "mx.remote.test")]
        },
        addresses={
            "mx.remote.test": ["192.0.2.1", "2001:db8::1"],
            "backup.remote.test": ["192.0.2.2"],
        },
    )
    hops = await hops_for(resolver, "remote.test", 25)
    assert hops == [
        Hop("mx.remote.test", "192.0.2.1", 25),
        Hop("mx.remote.test", "2001:db8::1", 25),
        Hop("backup.remote.test", "192.0.2.2", 25),
    ]


async def test_a_domain_without_mx_is_its_own_mail_server() -> None:
    """RFC 5321 section 5.1: no MX records -> the implicit MX, the domain's address."""
    resolver = StaticResolver(addresses={"remote.test": ["192.0.2.9"]})
    assert await hops_for(resolver, "remote.test", 2525) == [Hop("remote.test", "192.0.2.9", 2525)]


async def test_null_mx_bounces_at_once() -> None:
    """RFC 7505: a single MX "." means the domain accepts no mail (5.1.10)."""
    resolver = StaticResolver(mx_records={"remote.test": [MxRecord(0, "")]})
    with pytest.raises(RouteError) as caught:
        await hops_for(resolver, "remote.test", 25)
    assert (caught.value.status.outcome, caught.value.status.status) == (
        Outcome.PERMANENT,
        "5.1.10",
    )


async def test_a_domain_that_does_not_exist_is_permanent() -> None:
    with pytest.raises(RouteError) as caught:
        await hops_for(StaticResolver(), "nowhere.test", 25)
    assert (caught.value.status.outcome, caught.value.status.status) == (Outcome.PERMANENT, "5.1.2")


async def test_mx_hosts_without_addresses_are_temporary() -> None:
    resolver = StaticResolver(mx_records={"remote.test": [MxRecord(10, "mx.remote.test")]})
    with pytest.raises(RouteError) as caught:
        await hops_for(resolver, "remote.test", 25)
    assert (caught.value.status.outcome, caught.value.status.status) == (Outcome.TEMPORARY, "4.4.4")


class FailingResolver(StaticResolver):
    async def mx(self, domain: str) -> list[MxRecord]:
        raise DnsError("SERVFAIL")


async def test_dns_failure_is_temporary() -> None:
    with pytest.raises(RouteError) as caught:
        await hops_for(FailingResolver(), "remote.test", 25)
    assert (caught.value.status.outcome, caught.value.status.status) == (Outcome.TEMPORARY, "4.4.3")


async def test_connection_attempts_are_capped() -> None:
    many = [f"192.0.2.{i}" for i in range(1, 20)]
    resolver = StaticResolver(addresses={"remote.test": many})
    assert len(await hops_for(resolver, "remote.test", 25)) == MAX_ADDRESSES


def test_smarthost_syntax() -> None:
    assert parse_smarthost("") is None
    assert parse_smarthost("relay.example.net") == Smarthost("relay.example.net", 25)
    assert parse_smarthost("Relay.Example.net:587") == Smarthost("relay.example.net", 587)
    assert parse_smarthost("[2001:db8::5]:2525") == Smarthost("2001:db8::5", 2525)
    assert parse_smarthost("[2001:db8::5]") == Smarthost("2001:db8::5", 25)
    for bad in ("relay:port", "relay:0", "relay:70000", ":25"):
        with pytest.raises(ValueError):
            parse_smarthost(bad)
