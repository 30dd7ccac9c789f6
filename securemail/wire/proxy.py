"""The PROXY protocol header (HAProxy "proxy-protocol.txt", v1 text and v2 binary), sans-IO.

A TCP balancer sends one header before any byte of the proxied connection, so the server
learns the client's address. The caller reads exactly the bytes `parse` asks for (never more:
on an implicit-TLS port the TLS handshake follows at once), and calls `parse` again:

    buffer = b""
    while isinstance(step := parse(buffer), Incomplete):
        buffer += read_exactly(step.needed)

Section 2.1 (v1): "PROXY" SP ("TCP4" | "TCP6" | "UNKNOWN") SP src SP dst SP sport SP dport
CRLF, at most 107 bytes with the CRLF; for UNKNOWN the rest of the line is ignored.

Section 2.2 (v2): the 12-byte signature, then ver_cmd (high nibble version 2, low nibble
0 LOCAL or 1 PROXY), fam (high nibble AF_UNSPEC 0, AF_INET 1, AF_INET6 2, AF_UNIX 3; low
nibble UNSPEC 0, STREAM 1, DGRAM 2), a 16-bit big-endian length of what follows, then the
addresses (12, 36 or 216 bytes) and optional TLVs, which we skip. LOCAL (health checks of the
balancer itself), AF_UNSPEC and AF_UNIX keep the socket's own peer: `source` is None.
"""

import ipaddress
import struct
from dataclasses import dataclass

V1_PREFIX = b"PROXY "
V1_MAX_LENGTH = 107  # section 2.1: the worst case, CRLF included
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"  # section 2.2
V2_FIXED_LENGTH = 16  # signature, ver_cmd, fam, len
V2_MAX_BODY = 4096  # addresses + TLVs we accept (the format allows 65535)
MIN_HEADER = 15  # "PROXY UNKNOWN\r\n"; every v2 header is longer: safe first read
V2_ADDRESS_LENGTH = {0x1: 12, 0x2: 36, 0x3: 216}  # section 2.2, by address family
MAX_PORT = 65535


class ProxyError(ValueError):
    """The bytes are not a valid PROXY protocol header; the connection must be closed."""


@dataclass(frozen=True)
class Incomplete:
    """Read exactly `needed` more bytes, then parse again."""

    needed: int


@dataclass(frozen=True)
class ProxyHeader:
    """A whole header: `length` bytes of the stream; `source` None means "use the socket"."""

    version: int
    length: int
    source: tuple[str, int] | None = None
    destination: tuple[str, int] | None = None


def parse(data: bytes) -> ProxyHeader | Incomplete:
    """The header at the start of `data`, or how many more bytes it needs; ProxyError if the
    start of `data` can never become a valid header."""
    if len(data) < MIN_HEADER:
        if not (V2_SIGNATURE.startswith(data[:12]) or V1_PREFIX.startswith(data[:6])):
            raise ProxyError("not a PROXY protocol header")
        return Incomplete(MIN_HEADER - len(data))
    if data.startswith(V2_SIGNATURE):
        return _parse_v2(data)
    if data.startswith(V1_PREFIX):
        return _parse_v1(data)
    raise ProxyError("not a PROXY protocol header")


def _parse_v1(data: bytes) -> ProxyHeader | Incomplete:
    """Section 2.1; `data` holds at least MIN_HEADER bytes and starts with "PROXY "."""
    end = data.find(b"\n", 0, V1_MAX_LENGTH)
    if end < 0:
        if len(data) >= V1_MAX_LENGTH:
            raise ProxyError("PROXY v1 header longer than 107 bytes")
        return Incomplete(1)  # the line ends somewhere after: one byte at a time
    if end == 0 or data[end - 1 : end] != b"\r":
        raise ProxyError("PROXY v1 header must end in CRLF")
    line = data[: end - 1].decode("ascii", "replace")
    fields = line.split(" ")
    if fields[1:2] == ["UNKNOWN"]:
        return ProxyHeader(version=1, length=end + 1)  # section 2.1: the rest is ignored
    if len(fields) != 6 or fields[1] not in ("TCP4", "TCP6"):
        raise ProxyError("PROXY v1 header: expected TCP4, TCP6 or UNKNOWN and four fields")
    version = 4 if fields[1] == "TCP4" else 6
    source = (_v1_address(fields[2], version), _v1_port(fields[4]))
    destination = (_v1_address(fields[3], version), _v1_port(fields[5]))
    return ProxyHeader(version=1, length=end + 1, source=source, destination=destination)


def _v1_address(text: str, version: int) -> str:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise ProxyError(f"PROXY v1 header: bad address {text[:40]!r}") from None
    if address.version != version:
        raise ProxyError(f"PROXY v1 header: {text[:40]!r} is not an IPv{version} address")
    return str(address)


def _v1_port(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or len(text) > 5 or int(text) > MAX_PORT:
        raise ProxyError(f"PROXY v1 header: bad port {text[:10]!r}")
    return int(text)


def _parse_v2(data: bytes) -> ProxyHeader | Incomplete:
    """Section 2.2; `data` holds at least MIN_HEADER bytes and starts with the signature."""
    if len(data) < V2_FIXED_LENGTH:
        return Incomplete(V2_FIXED_LENGTH - len(data))
    ver_cmd, fam, body_length = struct.unpack_from("!BBH", data, 12)
    if ver_cmd >> 4 != 2:
        raise ProxyError("PROXY v2 header: unsupported version")
    command = ver_cmd & 0x0F
    if command not in (0x0, 0x1):
        raise ProxyError("PROXY v2 header: unknown command")
    family, transport = fam >> 4, fam & 0x0F
    if family > 0x3 or transport > 0x2:
        raise ProxyError("PROXY v2 header: unknown address family or transport")
    if body_length > V2_MAX_BODY:
        raise ProxyError(f"PROXY v2 header: {body_length} bytes is over the {V2_MAX_BODY} cap")
    if command == 0x1 and body_length < V2_ADDRESS_LENGTH.get(family, 0):
        raise ProxyError("PROXY v2 header: the length is too short for the addresses")
    total = V2_FIXED_LENGTH + body_length
    if len(data) < total:
        return Incomplete(total - len(data))
    if command == 0x0 or family in (0x0, 0x3):  # LOCAL, AF_UNSPEC, AF_UNIX: the socket's peer
        return ProxyHeader(version=2, length=total)
    if transport != 0x1:
        raise ProxyError("PROXY v2 header: only STREAM connections can be proxied here")
    return _v2_inet(data[V2_FIXED_LENGTH:total], family, total)


def _v2_inet(body: bytes, family: int, total: int) -> ProxyHeader:
    """The address block of AF_INET (4+4+2+2 bytes) or AF_INET6 (16+16+2+2 bytes)."""
    size = 4 if family == 0x1 else 16
    src = ipaddress.ip_address(body[:size])
    dst = ipaddress.ip_address(body[size : 2 * size])
    sport, dport = struct.unpack_from("!HH", body, 2 * size)
    return ProxyHeader(
        version=2, length=total, source=(str(src), sport), destination=(str(dst), dport)
    )


def encode_v1(source: tuple[str, int], destination: tuple[str, int]) -> bytes:
    """A v1 header (section 2.1), for tests and tools that speak to a PROXY listener."""
    kind = "TCP4" if ipaddress.ip_address(source[0]).version == 4 else "TCP6"
    return f"PROXY {kind} {source[0]} {destination[0]} {source[1]} {destination[1]}\r\n".encode()


def encode_v2(
    source: tuple[str, int] | None, destination: tuple[str, int] | None, tlvs: bytes = b""
) -> bytes:
    """A v2 header (section 2.2): PROXY over STREAM, or LOCAL when `source` is None."""
    if source is None or destination is None:
        return V2_SIGNATURE + struct.pack("!BBH", 0x20, 0x00, len(tlvs)) + tlvs
    src, dst = ipaddress.ip_address(source[0]), ipaddress.ip_address(destination[0])
    if src.version != dst.version:
        raise ValueError("both addresses of a PROXY header are of one family")
    fam = 0x11 if src.version == 4 else 0x21
    body = src.packed + dst.packed + struct.pack("!HH", source[1], destination[1]) + tlvs
    return V2_SIGNATURE + struct.pack("!BBH", 0x21, fam, len(body)) + body
