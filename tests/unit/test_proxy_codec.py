"""The PROXY protocol codec (proxy-protocol.txt sections 2.1 and 2.2): valid, short, long, bad."""

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from securemail.wire.proxy import (
    MIN_HEADER,
    V1_MAX_LENGTH,
    V2_MAX_BODY,
    V2_SIGNATURE,
    Incomplete,
    ProxyError,
    ProxyHeader,
    encode_v1,
    encode_v2,
    parse,
)


def feed(data: bytes) -> ProxyHeader:
    """Read the way the listener does: exactly what parse asks for, never more."""
    buffer = b""
    while isinstance(step := parse(buffer), Incomplete):
        assert step.needed > 0
        buffer += data[len(buffer) : len(buffer) + step.needed]
    return step


def test_v1_tcp4():
    raw = b"PROXY TCP4 203.0.113.7 192.0.2.1 56324 25\r\nEHLO x\r\n"
    header = feed(raw)
    assert header == ProxyHeader(1, 43, ("203.0.113.7", 56324), ("192.0.2.1", 25))
    assert raw[header.length :] == b"EHLO x\r\n"


def test_v1_tcp6_and_encoder_round_trip():
    raw = encode_v1(("2001:db8::1", 40000), ("2001:db8::2", 993))
    assert feed(raw) == ProxyHeader(1, len(raw), ("2001:db8::1", 40000), ("2001:db8::2", 993))


def test_v1_unknown_keeps_the_socket_peer():
    assert feed(b"PROXY UNKNOWN\r\n") == ProxyHeader(1, 15)
    assert feed(b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n").source is None


def test_v1_worst_case_is_accepted_one_byte_longer_is_not():
    addr = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
    worst = f"PROXY UNKNOWN {addr} {addr} 65535 65535\r\n".encode()
    assert len(worst) == V1_MAX_LENGTH
    assert feed(worst).length == V1_MAX_LENGTH
    with pytest.raises(ProxyError, match="107"):
        feed(b"PROXY UNKNOWN " + b"x" * 200 + b"\r\n")


@pytest.mark.parametrize(
    "raw",
    [
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",  # no CR
        b"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
        b"PROXY TCP4 1.2.3.4 ::1 1 2\r\n",  # families differ
        b"PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n",
        b"PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",
        b"PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n",  # two spaces
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1 \xd9\xa3\r\n",  # a non-ASCII digit
    ],
)
def test_v1_malformed(raw: bytes):
    with pytest.raises(ProxyError):
        feed(raw)


def test_v2_inet_with_tlvs_skipped():
    tlv = b"\x05\x00\x03abc"  # PP2_TYPE_UNIQUE_ID
    raw = encode_v2(("198.51.100.9", 51000), ("192.0.2.1", 993), tlv) + b"\x16\x03\x01"
    header = feed(raw)
    assert header.source == ("198.51.100.9", 51000)
    assert header.destination == ("192.0.2.1", 993)
    assert raw[header.length :] == b"\x16\x03\x01"  # the TLS hello that follows is untouched


def test_v2_inet6():
    raw = encode_v2(("2001:db8::7", 1), ("2001:db8::8", 2))
    assert feed(raw) == ProxyHeader(2, 16 + 36, ("2001:db8::7", 1), ("2001:db8::8", 2))


def test_v2_local_keeps_the_socket_peer():
    assert feed(encode_v2(None, None)) == ProxyHeader(2, 16)
    # LOCAL with an address block (as HAProxy's health checks may send): ignored
    block = V2_SIGNATURE + struct.pack("!BBH", 0x20, 0x11, 12) + bytes(12)
    assert feed(block) == ProxyHeader(2, 28)


@pytest.mark.parametrize("fam", [0x00, 0x31])  # AF_UNSPEC, AF_UNIX
def test_v2_unspec_and_unix_keep_the_socket_peer(fam: int):
    body = bytes(216 if fam == 0x31 else 0)
    raw = V2_SIGNATURE + struct.pack("!BBH", 0x21, fam, len(body)) + body
    assert feed(raw).source is None


@pytest.mark.parametrize(
    ("ver_cmd", "fam", "length", "error"),
    [
        (0x11, 0x11, 12, "version"),
        (0x22, 0x11, 12, "command"),
        (0x21, 0x41, 12, "family"),
        (0x21, 0x13, 12, "family"),
        (0x21, 0x11, 11, "too short"),
        (0x21, 0x21, 35, "too short"),
        (0x21, 0x11, V2_MAX_BODY + 1, "cap"),
        (0x21, 0x12, 12, "STREAM"),  # DGRAM on a TCP port
    ],
)
def test_v2_malformed(ver_cmd: int, fam: int, length: int, error: str):
    raw = V2_SIGNATURE + struct.pack("!BBH", ver_cmd, fam, length) + bytes(length)
    with pytest.raises(ProxyError, match=error):
        feed(raw)


def test_truncated_headers_ask_for_more():
    v2 = encode_v2(("192.0.2.5", 1), ("192.0.2.6", 2))
    for cut in range(len(v2)):
        step = parse(v2[:cut])
        assert isinstance(step, Incomplete)
        assert 0 < step.needed <= len(v2) - cut  # never asks for bytes past the header
    v1 = b"PROXY TCP4 192.0.2.5 192.0.2.6 1 2\r\n"
    for cut in range(len(v1)):
        step = parse(v1[:cut])
        assert isinstance(step, Incomplete)
        assert 0 < step.needed <= len(v1) - cut


@pytest.mark.parametrize(
    "raw", [b"EHLO client.example\r\n", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", b"PROXZ"]
)
def test_bad_signature(raw: bytes):
    with pytest.raises(ProxyError, match="not a PROXY"):
        parse(raw)


def test_first_read_is_safe_for_the_shortest_header():
    assert parse(b"") == Incomplete(MIN_HEADER)


@given(st.binary(max_size=300))
def test_any_bytes_give_a_result_or_a_clean_error(data: bytes):
    try:
        step = parse(data)
    except ProxyError:
        return
    if isinstance(step, Incomplete):
        assert step.needed > 0
    else:
        assert 0 < step.length <= len(data)


@given(st.binary(min_size=16, max_size=80))
def test_any_v2_body_gives_a_result_or_a_clean_error(tail: bytes):
    try:
        step = parse(V2_SIGNATURE + tail)
    except ProxyError:
        return
    assert isinstance(step, Incomplete | ProxyHeader)
