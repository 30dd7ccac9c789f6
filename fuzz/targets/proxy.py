"""Fuzz target: the PROXY protocol v1/v2 header parser, read the way a listener reads it."""

from __future__ import annotations

from fuzz.harness import Harness
from securemail.wire.proxy import (
    Incomplete,
    ProxyError,
    ProxyHeader,
    encode_v1,
    encode_v2,
    parse,
)


def _read_as_listener(data: bytes) -> ProxyHeader | None:
    """Read exactly what parse() asks for, as the module docstring tells a caller to."""
    buffer = b""
    while isinstance(step := parse(buffer), Incomplete):
        assert step.needed > 0, (buffer, step)
        if len(buffer) + step.needed > len(data):
            return None
        buffer = data[: len(buffer) + step.needed]
    assert step.length == len(buffer), (buffer, step)  # never asks for a byte past the header
    return step


def _round_trip(header: ProxyHeader) -> None:
    """A header with addresses encodes back to one that parses to the same addresses."""
    if header.source is None or header.destination is None:
        return
    encode = encode_v1 if header.version == 1 else encode_v2
    again = parse(encode(header.source, header.destination))
    assert isinstance(again, ProxyHeader), again
    assert (again.source, again.destination) == (header.source, header.destination), again


def check(data: bytes) -> None:
    whole = parse(data)
    if isinstance(whole, ProxyHeader):
        assert 0 < whole.length <= len(data), whole
    header = _read_as_listener(data)
    if header is not None:
        assert header == whole, (header, whole)
        _round_trip(header)


HARNESS = Harness(
    name="proxy",
    check=check,
    expected=(ProxyError,),
    tokens=(
        b"PROXY ",
        b"TCP4 ",
        b"TCP6 ",
        b"UNKNOWN",
        b"\r\n",
        b"\r\n\r\n\x00\r\nQUIT\n",
        b"\x21\x11\x00\x0c",
        b"\x21\x21\x00\x24",
        b"\x20\x00\x00\x00",
        b"127.0.0.1 ",
        b"::1 ",
        b"65535",
        b"\xff\xff",
    ),
)
