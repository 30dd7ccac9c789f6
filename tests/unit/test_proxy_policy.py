"""Which peers are trusted to send a PROXY header, and which client address a header names."""

import pytest

from securemail.config import ConfigError
from securemail.net.proxy import ProxyPolicy, client_ip
from securemail.wire.proxy import ProxyHeader


def test_empty_list_is_off():
    assert ProxyPolicy.parse("", 5) is None
    assert ProxyPolicy.parse(" , ", 5) is None


def test_networks_and_single_addresses():
    policy = ProxyPolicy.parse("10.0.0.0/8, 127.0.0.1,2001:db8::/32", 5)
    assert policy is not None
    assert policy.trusts("10.20.30.40")
    assert policy.trusts("127.0.0.1")
    assert policy.trusts("::ffff:10.0.0.1")  # a dual-stack socket's view of an IPv4 peer
    assert policy.trusts("2001:db8::5")
    assert not policy.trusts("127.0.0.2")
    assert not policy.trusts("192.0.2.1")
    assert not policy.trusts("unknown")


def test_a_bad_entry_is_a_config_error_naming_it():
    with pytest.raises(ConfigError, match=r"'10\.0\.0\.300'"):
        ProxyPolicy.parse("10.0.0.0/8,10.0.0.300", 5)


def test_client_address_of_a_header():
    assert client_ip(ProxyHeader(2, 16), "10.0.0.5") == "10.0.0.5"  # LOCAL
    assert client_ip(ProxyHeader(1, 40, ("192.0.2.7", 1), ("10.0.0.9", 25)), "10.0.0.5") == (
        "192.0.2.7"
    )
    mapped = ProxyHeader(2, 52, ("::ffff:192.0.2.7", 1), ("::1", 25))
    assert client_ip(mapped, "10.0.0.5") == "192.0.2.7"
