"""SPF check_host() (RFC 7208 sections 2.4, 4 and 5), asynchronous, every look-up through net.dns.

Hand-written because pyspf is not installed here and routes its DNS through a module-global
function; this covers the whole mechanism set except that `ptr` never matches (the Resolver has
no PTR look-up; RFC 7208 section 5.5 already asks publishers not to use it) and `%{p}` expands to
"unknown" (section 7.3 allows it). `exists` matches on any address record, A or AAAA.
"""

import asyncio
import ipaddress
import logging
from collections.abc import Awaitable, Sized
from dataclasses import dataclass
from typing import TypeVar

from securemail.mailauth import lookup
from securemail.mailauth.spf_record import (
    Address,
    MacroContext,
    Mechanism,
    SpfSyntaxError,
    expand,
    parse_record,
    select_record,
)
from securemail.net.dns import Resolver

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_DNS_MECHANISMS = 10  # section 4.6.4: include, a, mx, ptr, exists and redirect
MAX_VOID_LOOKUPS = 2  # section 4.6.4: look-ups answered with nothing
MAX_MX_NAMES = 10  # section 4.6.4: address look-ups per mx mechanism
DEFAULT_TIMEOUT = 20.0  # section 4.6.4: at least 20 seconds for the whole evaluation


@dataclass(frozen=True)
class SpfResult:
    """An RFC 7208 section 2.6 result for one identity ("mailfrom" or "helo")."""

    result: str
    domain: str  # the domain checked, for smtp.mailfrom / smtp.helo
    identity: str
    reason: str = ""


class _PermError(Exception):
    pass


class _TempError(Exception):
    pass


def identity(mail_from: str, helo: str) -> tuple[str, str, str]:
    """(identity, sender, domain): MAIL FROM, or HELO for a null reverse-path (section 2.4)."""
    path = mail_from.strip().removeprefix("<").removesuffix(">").strip()
    helo = lookup.normalise(helo)
    if not path:
        return "helo", f"postmaster@{helo}", helo
    local, at, domain = path.rpartition("@")
    domain = lookup.normalise(domain if at else path)
    return "mailfrom", f"{local or 'postmaster'}@{domain}", domain  # section 4.3


async def check_spf(
    resolver: Resolver,
    *,
    client_ip: str,
    mail_from: str,
    helo: str,
    timeout: float = DEFAULT_TIMEOUT,
) -> SpfResult:
    """Evaluate SPF for the SMTP client; never raises (errors are temperror or permerror)."""
    kind, sender, domain = identity(mail_from, helo)
    try:
        ip = _client_address(client_ip)
    except ValueError:
        return SpfResult("permerror", domain, kind, "bad client address")
    evaluator = _Evaluator(resolver, ip, sender, lookup.normalise(helo))
    try:
        async with asyncio.timeout(timeout):
            result = await evaluator.check_host(domain)
    except _PermError as exc:
        return SpfResult("permerror", domain, kind, str(exc))
    except (_TempError, TimeoutError):
        return SpfResult("temperror", domain, kind, "DNS failure")
    except Exception:
        log.exception("SPF check of %r failed", domain)
        return SpfResult("temperror", domain, kind, "internal error")
    return SpfResult(result, domain, kind)


def _client_address(text: str) -> Address:
    ip = ipaddress.ip_address(text.strip().removeprefix("[").removesuffix("]"))
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped  # section 5: an IPv4-mapped client is an IPv4 client
    return ip


class _Evaluator:
    """One SMTP client's evaluation: the look-up counters span every include and redirect."""

    def __init__(self, resolver: Resolver, ip: Address, sender: str, helo: str) -> None:
        self.resolver = resolver
        self.ip = ip
        self.sender = sender
        self.helo = helo
        self.dns_mechanisms = 0
        self.voids = 0

    async def check_host(self, domain: str) -> str:
        """Section 4: none / neutral / pass / fail / softfail; errors raise."""
        if not lookup.lookup_name(domain):
            return "none"  # section 4.3: malformed or single-label domain
        txts = await self._ask(self.resolver.txt(domain), f"TXT {domain}")
        try:
            text = select_record(txts)
            if text is None:
                return "none"
            record = parse_record(text)
        except SpfSyntaxError as exc:
            raise _PermError(str(exc)) from None
        for mechanism in record.mechanisms:
            if await self._matches(mechanism, domain):
                return mechanism.result
        if record.redirect:
            self._count()
            result = await self.check_host(self._target(record.redirect, domain))
            if result == "none":
                raise _PermError("redirect to a domain without SPF")  # section 6.1
            return result
        return "neutral"  # section 4.7

    async def _matches(self, mechanism: Mechanism, domain: str) -> bool:
        name = mechanism.name
        if name == "all":
            return True
        if mechanism.network is not None:
            return self.ip in mechanism.network
        if name in ("ip4", "ip6"):
            return False
        self._count()
        target = self._target(mechanism.arg, domain) if mechanism.arg else domain
        if name == "include":
            return await self._include(target)
        if name == "a":
            found = await self._addresses(target)
            return self._in_any(found, mechanism.cidr4, mechanism.cidr6)
        if name == "mx":
            return await self._mx(target, mechanism)
        if name == "exists":
            return bool(await self._addresses(target))
        return False  # ptr: counted, never matches (see the module docstring)

    async def _include(self, target: str) -> bool:
        """Section 5.2: pass matches; fail, softfail, neutral do not; none is permerror."""
        result = await self.check_host(target)
        if result == "none":
            raise _PermError("include of a domain without SPF")
        return result == "pass"

    async def _mx(self, target: str, mechanism: Mechanism) -> bool:
        records = await self._ask(self.resolver.mx(target), f"MX {target}")
        self._void(records)
        if len(records) > MAX_MX_NAMES:
            raise _PermError("too many MX names")
        for record in records:
            if not lookup.lookup_name(record.host):
                continue
            found = await self._ask(self.resolver.address(record.host), f"A {record.host}")
            if self._in_any(found, mechanism.cidr4, mechanism.cidr6):
                return True
        return False

    async def _addresses(self, name: str) -> list[str]:
        found = await self._ask(self.resolver.address(name), f"A {name}")
        self._void(found)
        return found

    def _in_any(self, addresses: list[str], cidr4: int, cidr6: int) -> bool:
        for text in addresses:
            try:
                ip = ipaddress.ip_address(text)
            except ValueError:
                continue
            if ip.version != self.ip.version:
                continue
            prefix = cidr4 if ip.version == 4 else cidr6
            if self.ip in ipaddress.ip_network(f"{ip}/{prefix}", strict=False):
                return True
        return False

    def _target(self, spec: str, domain: str) -> str:
        context = MacroContext(self.sender, domain, self.ip, self.helo)
        try:
            target = expand(spec, context)
        except SpfSyntaxError as exc:
            raise _PermError(str(exc)) from None
        if not lookup.lookup_name(target):
            raise _PermError("invalid domain in record")
        return target.lower()

    def _count(self) -> None:
        self.dns_mechanisms += 1
        if self.dns_mechanisms > MAX_DNS_MECHANISMS:
            raise _PermError("too many DNS lookups")

    def _void(self, answer: Sized) -> None:
        if not answer:
            self.voids += 1
            if self.voids > MAX_VOID_LOOKUPS:
                raise _PermError("too many void DNS lookups")

    async def _ask(self, query: Awaitable[T], what: str) -> T:
        try:
            return await lookup.ask(query, what)
        except lookup.LookupFailed as exc:
            raise _TempError(str(exc)) from None
