"""PROXY protocol on a socket: which peers are trusted balancers, and reading their header.

The header is read from the raw socket, exactly as many bytes as wire.proxy asks for, before
asyncio wraps the socket in a transport: on an implicit-TLS port the client's TLS hello
follows the header at once and must reach the TLS layer untouched.
"""

import asyncio
import ipaddress
import socket
from dataclasses import dataclass

from securemail.config import ConfigError
from securemail.wire.proxy import Incomplete, ProxyError, ProxyHeader, parse

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class ProxyPolicy:
    """Peers in `trusted` must open with a PROXY header; everyone else is served as is."""

    trusted: tuple[Network, ...]
    timeout: float  # seconds a trusted peer has to send its whole header

    @classmethod
    def parse(cls, text: str, timeout: float) -> "ProxyPolicy | None":
        """From "10.0.0.0/8,127.0.0.1"; None when empty (the PROXY protocol is off)."""
        networks: list[Network] = []
        for item in (part.strip() for part in text.split(",")):
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise ConfigError(
                    f"[server] proxy_protocol_from: {item!r} is not an address or network"
                ) from None
        return cls(tuple(networks), timeout) if networks else None

    def trusts(self, peer_ip: str) -> bool:
        try:
            address = ipaddress.ip_address(peer_ip)
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # a dual-stack socket reports ::ffff:10.0.0.1
        return any(address in network for network in self.trusted)


def client_ip(header: ProxyHeader, peer_ip: str) -> str:
    """The client the header names (an IPv4-mapped IPv6 address as plain IPv4, so the
    per-address cap counts it once), or the socket's peer for LOCAL and UNKNOWN."""
    if header.source is None:
        return peer_ip
    address = ipaddress.ip_address(header.source[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


async def read_header(sock: socket.socket, timeout: float) -> ProxyHeader:
    """The PROXY header at the start of `sock`; ProxyError if it is bad, late or missing."""
    loop = asyncio.get_running_loop()
    buffer = b""
    try:
        async with asyncio.timeout(timeout):
            while isinstance(step := parse(buffer), Incomplete):
                buffer += await _recv_exactly(loop, sock, step.needed)
    except TimeoutError:
        raise ProxyError("no PROXY header in time") from None
    return step


async def _recv_exactly(loop: asyncio.AbstractEventLoop, sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = await loop.sock_recv(sock, size - len(data))
        if not chunk:
            raise ProxyError("the connection closed inside the PROXY header")
        data += chunk
    return data
