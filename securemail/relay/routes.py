"""Where mail for a domain goes: MX records in preference order, the implicit MX (RFC 5321
section 5.1), null MX (RFC 7505), or the configured smarthost."""

import ipaddress
from dataclasses import dataclass

from securemail.config import ConfigError
from securemail.mail.dsn import DeliveryStatus, Outcome, local_status
from securemail.net.dns import DnsError, Resolver

MAX_ADDRESSES = 5  # connection attempts per delivery across all MX hosts (RFC 5321 5.1 asks >= 2)


class RouteError(Exception):
    """No host can be tried; `status` says whether that is for now or for good."""

    def __init__(self, status: DeliveryStatus) -> None:
        super().__init__(status.text)
        self.status = status


@dataclass(frozen=True, slots=True)
class Hop:
    """One address to try: the host name (for TLS verification and reports) and its IP."""

    host: str
    address: str
    port: int


@dataclass(frozen=True, slots=True)
class Smarthost:
    host: str
    port: int


def parse_smarthost(text: str, default_port: int = 25) -> Smarthost | None:
    """`host`, `host:port`, `[v6-literal]` or `[v6-literal]:port`; None when empty."""
    text = text.strip()
    if not text:
        return None
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port = text.rpartition(":") if text.count(":") == 1 else (text, "", "")
    if (
        not host
        or (port and not (port.isascii() and port.isdigit()))
        or not 0 < int(port or default_port) < 65536
    ):
        raise ConfigError(f"[relay] smarthost {text!r} is not host[:port]")
    return Smarthost(host.lower(), int(port or default_port))


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


async def _mx_hosts(resolver: Resolver, domain: str) -> list[str]:
    """MX exchanges by preference; the domain itself when it has none (implicit MX)."""
    records = await resolver.mx(domain)
    if len(records) == 1 and records[0].host in ("", "."):
        raise RouteError(
            local_status(Outcome.PERMANENT, "5.1.10", f"{domain} accepts no mail (null MX)")
        )
    hosts = [r.host for r in records if r.host not in ("", ".")]
    return hosts or [domain]


async def _addresses(resolver: Resolver, host: str) -> list[str]:
    if _is_ip(host):
        return [host]
    return await resolver.address(host)


async def hops_for(resolver: Resolver, domain: str, port: int) -> list[Hop]:
    """The addresses to try, in order, at most MAX_ADDRESSES; RouteError when there are none."""
    try:
        hosts = await _mx_hosts(resolver, domain)
        hops = [Hop(h, a, port) for h in hosts for a in await _addresses(resolver, h)]
    except DnsError as exc:
        raise RouteError(local_status(Outcome.TEMPORARY, "4.4.3", f"DNS failure: {exc}")) from None
    if not hops:
        if hosts == [domain]:
            text = f"{domain} has no MX and no address record"
            raise RouteError(local_status(Outcome.PERMANENT, "5.1.2", text))
        text = f"no address for the mail servers of {domain}"
        raise RouteError(local_status(Outcome.TEMPORARY, "4.4.4", text))
    return hops[:MAX_ADDRESSES]


def smarthost_hop(smarthost: Smarthost) -> Hop:
    """The smarthost is reached by name through the operating system's resolver, so
    `localhost` and /etc/hosts entries work as an operator expects."""
    return Hop(smarthost.host, smarthost.host, smarthost.port)
