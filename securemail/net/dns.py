"""DNS look-ups behind one small interface: dnspython in production, a table in tests."""

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import dns.asyncresolver
import dns.exception
import dns.resolver

CACHE_ENTRIES = 10_000
NEGATIVE_TTL = 300.0
MAX_TTL = 3600.0


class DnsError(Exception):
    """A temporary DNS failure (timeout, SERVFAIL): try again later."""


@dataclass(frozen=True, order=True)
class MxRecord:
    preference: int
    host: str


class Resolver(Protocol):
    async def mx(self, domain: str) -> list[MxRecord]:
        """MX records sorted by preference; [] when the domain has none (NXDOMAIN or no MX)."""

    async def txt(self, name: str) -> list[str]:
        """TXT strings joined per record; [] when none."""

    async def address(self, host: str) -> list[str]:
        """A and AAAA addresses; [] when none."""


def _name(name: str | bytes) -> str:
    """dkimpy passes bytes with a trailing dot, authheaders str without (STACK.md gotcha 6)."""
    text = name.decode("ascii", "replace") if isinstance(name, bytes) else name
    return text.rstrip(".").lower()


class DnsPythonResolver:
    """The real resolver, asynchronous, with the configured servers and timeout."""

    def __init__(self, nameservers: Sequence[str] = (), timeout: float = 5.0) -> None:
        self._resolver = dns.asyncresolver.Resolver(configure=not nameservers)
        if nameservers:
            self._resolver.nameservers = list(nameservers)
        self._resolver.lifetime = timeout
        # SPF and DMARC records of a sender are asked for on every message it sends: answers
        # are kept for their TTL, "no such record" for NEGATIVE_TTL (RFC 2308 in spirit).
        self._cache: dict[tuple[str, str], tuple[float, list[object]]] = {}

    async def _query(self, name: str, rdtype: str) -> list[object]:
        key = (_name(name), rdtype)
        cached = self._cache.get(key)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        try:
            answer = await self._resolver.resolve(key[0], rdtype)
            records, ttl = list(answer), float(answer.rrset.ttl if answer.rrset else 0)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            records, ttl = [], NEGATIVE_TTL
        except (dns.exception.Timeout, dns.resolver.NoNameservers) as exc:
            raise DnsError(f"DNS {rdtype} {name}: {exc}") from exc
        if len(self._cache) >= CACHE_ENTRIES:
            self._cache.clear()
        self._cache[key] = (time.monotonic() + min(ttl, MAX_TTL), records)
        return records

    async def mx(self, domain: str) -> list[MxRecord]:
        records = await self._query(domain, "MX")
        return sorted(
            MxRecord(int(r.preference), str(r.exchange).rstrip(".").lower())  # type: ignore[attr-defined]
            for r in records
        )

    async def txt(self, name: str) -> list[str]:
        records = await self._query(name, "TXT")
        return [b"".join(r.strings).decode("utf-8", "replace") for r in records]  # type: ignore[attr-defined]

    async def address(self, host: str) -> list[str]:
        out: list[str] = []
        for rdtype in ("A", "AAAA"):
            out.extend(str(r) for r in await self._query(host, rdtype))
        return out


@dataclass
class StaticResolver:
    """A fixed table of records: for tests, and for sites that want no DNS at all."""

    mx_records: Mapping[str, list[MxRecord]] = field(default_factory=dict)
    txt_records: Mapping[str, list[str]] = field(default_factory=dict)
    addresses: Mapping[str, list[str]] = field(default_factory=dict)

    async def mx(self, domain: str) -> list[MxRecord]:
        return sorted(self.mx_records.get(_name(domain), []))

    async def txt(self, name: str) -> list[str]:
        return list(self.txt_records.get(_name(name), []))

    async def address(self, host: str) -> list[str]:
        return list(self.addresses.get(_name(host), []))
