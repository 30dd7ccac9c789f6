"""SPF record syntax (RFC 7208 sections 4.5, 4.6.1, 5, 6 and 12) and macro expansion (section 7)."""

import ipaddress
import re
import urllib.parse
from dataclasses import dataclass

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

MECHANISMS = frozenset({"all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists"})
QUALIFIERS = {"+": "pass", "-": "fail", "~": "softfail", "?": "neutral"}

_MODIFIER = re.compile(r"^([A-Za-z][A-Za-z0-9._-]*)=(.*)$")
_DIRECTIVE = re.compile(r"^([+\-~?]?)([A-Za-z][A-Za-z0-9._-]*)(.*)$")
_DUAL_CIDR = re.compile(r"^(.*?)(?:/(0|[1-9]\d?))?(?://(0|[1-9]\d{0,2}))?$")
_MACRO = re.compile(r"%(?:\{([slodiphcrtvSLODIPHCRTV])(\d*)(r?)([.\-+,/_=]*)\}|(.|$))", re.DOTALL)


class SpfSyntaxError(Exception):
    """The record, or a macro in it, breaks the grammar: the result is permerror."""


@dataclass(frozen=True)
class Mechanism:
    """One directive: qualifier result, mechanism name, argument and CIDR lengths."""

    result: str
    name: str
    arg: str = ""  # domain-spec (may hold macros), empty for the current domain
    network: Network | None = None  # ip4 / ip6
    cidr4: int = 32
    cidr6: int = 128


@dataclass(frozen=True)
class Record:
    mechanisms: tuple[Mechanism, ...]
    redirect: str  # "" when absent


def select_record(txts: list[str]) -> str | None:
    """The one TXT string starting "v=spf1" (section 4.5); None when none; error when several."""
    found = [t for t in txts if t[:6].lower() == "v=spf1" and (len(t) == 6 or t[6] == " ")]
    if len(found) > 1:
        raise SpfSyntaxError("several SPF records")
    return found[0] if found else None


def parse_record(text: str) -> Record:
    """Parse every term up front: one syntax error anywhere makes the record permerror."""
    mechanisms: list[Mechanism] = []
    modifiers: dict[str, str] = {}
    for term in text.split()[1:]:
        modifier = _MODIFIER.match(term)
        if modifier:
            name = modifier.group(1).lower()
            if name in modifiers and name in ("redirect", "exp"):
                raise SpfSyntaxError(f"{name}= given twice")  # section 6
            modifiers[name] = modifier.group(2)
        else:
            mechanisms.append(_parse_directive(term))
    redirect = modifiers.get("redirect", "")
    if "redirect" in modifiers and not redirect:
        raise SpfSyntaxError("empty redirect=")
    for spec in [redirect, *(m.arg for m in mechanisms)]:
        expand(spec, _PROBE)  # a bad macro anywhere is a syntax error before evaluation
    return Record(tuple(mechanisms), redirect)


def _parse_directive(term: str) -> Mechanism:
    match = _DIRECTIVE.match(term)
    if not match or match.group(2).lower() not in MECHANISMS:
        raise SpfSyntaxError("unknown mechanism")
    result = QUALIFIERS[match.group(1) or "+"]
    name, rest = match.group(2).lower(), match.group(3)
    if name == "all":
        if rest:
            raise SpfSyntaxError("all takes no argument")
        return Mechanism(result, name)
    if name in ("ip4", "ip6"):
        return Mechanism(result, name, network=_parse_network(name, rest))
    if name in ("include", "exists"):
        if not rest.startswith(":") or len(rest) < 2:
            raise SpfSyntaxError(f"{name} needs a domain")
        return Mechanism(result, name, arg=rest[1:])
    if name == "ptr":
        if rest and (not rest.startswith(":") or len(rest) < 2):
            raise SpfSyntaxError("bad ptr argument")
        return Mechanism(result, name, arg=rest[1:])
    return _parse_a_or_mx(result, name, rest)


def _parse_a_or_mx(result: str, name: str, rest: str) -> Mechanism:
    """`a` / `mx` with optional `:domain-spec` and dual-cidr-length (section 5.3, 5.4)."""
    match = _DUAL_CIDR.match(rest)
    if not match:
        raise SpfSyntaxError(f"bad {name} argument")
    spec, cidr4, cidr6 = match.group(1), match.group(2), match.group(3)
    if spec and (not spec.startswith(":") or len(spec) < 2):
        raise SpfSyntaxError(f"bad {name} argument")
    four = int(cidr4) if cidr4 else 32
    six = int(cidr6) if cidr6 else 128
    if four > 32 or six > 128:
        raise SpfSyntaxError("CIDR length out of range")
    return Mechanism(result, name, arg=spec[1:], cidr4=four, cidr6=six)


def _parse_network(name: str, rest: str) -> Network:
    """`ip4:` / `ip6:` network with an optional CIDR length (section 5.6)."""
    if not rest.startswith(":"):
        raise SpfSyntaxError(f"{name} needs an address")
    address, _slash, length = rest[1:].partition("/")
    try:
        ip = ipaddress.ip_address(address)
        if (ip.version == 4) != (name == "ip4") or (
            _slash and not (length.isascii() and length.isdigit())
        ):
            raise ValueError(name)
        prefix = int(length) if _slash else ip.max_prefixlen
        return ipaddress.ip_network(f"{ip}/{prefix}", strict=False)
    except ValueError:
        raise SpfSyntaxError(f"bad {name} network") from None


@dataclass(frozen=True)
class MacroContext:
    """What macros may name (section 7.2); `p` is always "unknown": we make no PTR look-ups."""

    sender: str  # local-part@domain, "postmaster@<helo>" for a null reverse-path
    domain: str  # the <domain> of the current check_host()
    ip: Address
    helo: str


def expand(spec: str, ctx: MacroContext) -> str:
    """Expand a domain-spec (section 7.3), keeping the rightmost labels within 253 characters."""
    out: list[str] = []
    pos = 0
    for match in _MACRO.finditer(spec):
        out.append(spec[pos : match.start()])
        out.append(_expand_one(match, ctx))
        pos = match.end()
    out.append(spec[pos:])
    text = "".join(out).rstrip(".")
    labels = text.split(".")
    while len(text) > 253 and len(labels) > 1:
        labels = labels[1:]
        text = ".".join(labels)
    return text


def _expand_one(match: re.Match[str], ctx: MacroContext) -> str:
    single = match.group(5)
    if single is not None:
        if single not in ("%", "_", "-"):
            raise SpfSyntaxError("bad macro")
        return {"%": "%", "_": " ", "-": "%20"}[single]
    letter, digits, reverse, delimiters = match.groups()[:4]
    if letter.lower() in "crt":
        raise SpfSyntaxError("c, r and t macros are for exp= only")  # section 7.2
    parts = _macro_value(letter.lower(), ctx)
    for delimiter in delimiters or ".":
        parts = parts.replace(delimiter, ".")
    labels = parts.split(".")
    if reverse:
        labels.reverse()
    if digits:
        if int(digits) == 0:
            raise SpfSyntaxError("macro keeps zero labels")
        labels = labels[-int(digits) :]
    value = ".".join(labels)
    return urllib.parse.quote(value, safe="") if letter.isupper() else value


def _macro_value(letter: str, ctx: MacroContext) -> str:
    local, _at, sender_domain = ctx.sender.rpartition("@")
    if letter == "i":
        if ctx.ip.version == 4:
            return str(ctx.ip)
        return ".".join(ctx.ip.exploded.replace(":", ""))
    return {
        "s": ctx.sender,
        "l": local,
        "o": sender_domain,
        "d": ctx.domain,
        "p": "unknown",
        "v": "in-addr" if ctx.ip.version == 4 else "ip6",
        "h": ctx.helo,
    }[letter]


_PROBE = MacroContext("x@example.invalid", "example.invalid", ipaddress.ip_address("::1"), "")
