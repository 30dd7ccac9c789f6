"""DMARC (RFC 7489): policy discovery (section 6.6.3), record tags (6.3) and alignment (3.1).

Hand-written: authheaders' DMARC is synchronous with its own DNS, and re-reads the Public
Suffix List on every organizational-domain look-up (about 46 ms of CPU each, measured here).
`pct` is not applied: a failing message is reported with the full published policy.
"""

from dataclasses import dataclass

from securemail.mailauth import lookup
from securemail.mailauth.orgdomain import aligned, org_domain
from securemail.net.dns import Resolver

POLICIES = ("none", "quarantine", "reject")


@dataclass(frozen=True)
class DmarcRecord:
    policy: str  # p=
    subdomain_policy: str  # sp=, defaulting to p=
    adkim: str  # "r" or "s"
    aspf: str


@dataclass(frozen=True)
class Discovered:
    """The record that applies to a From domain (None: no DMARC) and the policy it sets."""

    record: DmarcRecord | None
    policy: str  # "" when there is no record


@dataclass(frozen=True)
class DmarcResult:
    result: str  # pass, fail, none, temperror, permerror
    policy: str
    reason: str = ""


def parse_record(text: str) -> DmarcRecord | None:
    """Tags of one record (section 6.3); None when it is not a usable DMARC record."""
    tags: dict[str, str] = {}
    for part in text.split(";"):
        name, equals, value = part.partition("=")
        if equals:  # a stray part without "=" is ignored, like an unknown tag
            tags.setdefault(name.strip().lower(), value.strip())
    first = text.split(";", 1)[0].replace(" ", "").replace("\t", "")
    if first != "v=DMARC1":  # section 6.3: v= first, and exactly this value
        return None
    policy = tags.get("p", "").lower()
    if policy not in POLICIES:
        # section 6.6.3 step 6: no valid p=, but reports requested: act as if p=none.
        if not tags.get("rua"):
            return None
        policy = "none"
    sub = tags.get("sp", "").lower()
    return DmarcRecord(
        policy=policy,
        subdomain_policy=sub if sub in POLICIES else policy,
        adkim="s" if tags.get("adkim", "").lower() == "s" else "r",
        aspf="s" if tags.get("aspf", "").lower() == "s" else "r",
    )


async def discover(resolver: Resolver, from_domain: str) -> Discovered:
    """Section 6.6.3: the From domain's record, else its organizational domain's.

    Raises LookupFailed on a temporary DNS error.
    """
    record = await _record_at(resolver, from_domain)
    if record is not None:
        return Discovered(record, record.policy)
    org = org_domain(from_domain)
    if org == from_domain:
        return Discovered(None, "")
    record = await _record_at(resolver, org)
    if record is None:
        return Discovered(None, "")
    return Discovered(record, record.subdomain_policy)


async def _record_at(resolver: Resolver, domain: str) -> DmarcRecord | None:
    name = f"_dmarc.{domain}"
    if not lookup.lookup_name(name):
        return None
    txts = await lookup.ask(resolver.txt(name), f"TXT {name}")
    records = [r for r in map(parse_record, txts) if r is not None]
    return records[0] if len(records) == 1 else None  # several records: none (step 5)


def evaluate(
    found: Discovered,
    from_domain: str,
    *,
    spf_result: str,
    spf_domain: str,
    dkim_passing: tuple[str, ...],
) -> DmarcResult:
    """Section 4.2: pass when an authenticated identifier aligns with the From domain."""
    record = found.record
    if record is None:
        return DmarcResult("none", "")
    if spf_result == "pass" and aligned(spf_domain, from_domain, record.aspf):
        return DmarcResult("pass", found.policy)
    if any(aligned(d, from_domain, record.adkim) for d in dkim_passing):
        return DmarcResult("pass", found.policy)
    return DmarcResult("fail", found.policy, "no aligned SPF or DKIM pass")
