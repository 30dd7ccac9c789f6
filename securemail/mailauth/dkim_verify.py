"""DKIM verification (RFC 6376 section 6) with dkimpy: keys pre-fetched through net.dns.

dkimpy is synchronous and would do its own DNS. Instead: (1) in a worker thread, dkimpy parses
each DKIM-Signature field; (2) on the event loop, every selector's key record is fetched through
the async Resolver, concurrently; (3) in a worker thread, dkimpy verifies each signature with a
DNS function that only reads what was fetched. No thread ever waits on the loop.
"""

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import dkim

from securemail.mailauth import lookup
from securemail.mailauth.orgdomain import org_domain
from securemail.net.dns import Resolver

log = logging.getLogger(__name__)

MAX_SIGNATURES = 8  # RFC 6376 section 6.1: verifiers may limit the signatures they check
DEFAULT_TIMEOUT = 20.0

# RFC 8601 section 2.7.1 words, best first: the summary is the best single outcome.
_RANK = ("pass", "temperror", "fail", "permerror", "neutral", "none")


@dataclass(frozen=True)
class DkimOutcome:
    result: str
    domain: str  # d= ("" when the signature could not be read)
    reason: str = ""


@dataclass(frozen=True)
class DkimReport:
    """The summary result and header.d, and every d= that passed (for DMARC)."""

    result: str
    domain: str
    reason: str
    passing: tuple[str, ...]


@dataclass(frozen=True)
class _Pending:
    index: int
    domain: str
    selector: str

    @property
    def key_name(self) -> str:
        return f"{self.selector}._domainkey.{self.domain}"  # RFC 6376 section 3.6.2.1


async def check_dkim(
    raw: bytes,
    signatures: int,
    resolver: Resolver,
    *,
    prefer: str = "",
    timeout: float = DEFAULT_TIMEOUT,
) -> DkimReport:
    """Verify up to MAX_SIGNATURES signatures; never raises. `prefer`: the From domain."""
    if signatures == 0:
        return DkimReport("none", "", "", ())
    try:
        async with asyncio.timeout(timeout):
            outcomes = await _verify_message(raw, resolver)
    except TimeoutError:
        outcomes = [DkimOutcome("temperror", "", "timeout")]
    except Exception:
        log.exception("DKIM verification failed")
        outcomes = [DkimOutcome("temperror", "", "internal error")]
    return summarise(outcomes, prefer)


async def _verify_message(raw: bytes, resolver: Resolver) -> list[DkimOutcome]:
    verifier, read = await asyncio.to_thread(_read_signatures, raw)
    if verifier is None:
        return [DkimOutcome("permerror", "", "unreadable header")]
    pending = [p for p in read if isinstance(p, _Pending)]
    keys = await _fetch_keys(resolver, {p.key_name for p in pending})
    checked = await asyncio.to_thread(_verify_all, verifier, pending, keys)
    return [o for o in read if isinstance(o, DkimOutcome)] + checked


def _read_signatures(raw: bytes) -> tuple[dkim.DKIM | None, list[_Pending | DkimOutcome]]:
    """Parse the message and each signature's tags (RFC 6376 section 3.5)."""
    try:
        verifier = dkim.DKIM(raw)
    except Exception:  # dkimpy refuses header lines it cannot read
        return None, []
    count = sum(1 for name, _value in verifier.headers if name.lower() == b"dkim-signature")
    read: list[_Pending | DkimOutcome] = []
    for index in range(min(count, MAX_SIGNATURES)):
        read.append(_read_one(verifier, index))
    return verifier, read


def _read_one(verifier: dkim.DKIM, index: int) -> "_Pending | DkimOutcome":
    try:
        tags = verifier.verify_headerprep(index)[0]
        domain = lookup.normalise(tags[b"d"].decode("ascii"))
        selector = tags[b"s"].decode("ascii").lower()
    except Exception:  # missing or malformed tags, non-ASCII d= or s=
        return DkimOutcome("permerror", "", "bad signature syntax")
    pending = _Pending(index, domain, selector)
    if not lookup.host_name(domain) or not lookup.lookup_name(pending.key_name):
        return DkimOutcome("permerror", "", "bad d= or s=")
    return pending


async def _fetch_keys(resolver: Resolver, names: set[str]) -> dict[str, list[str] | None]:
    """Each key name's TXT strings; None when the look-up failed temporarily."""

    async def one(name: str) -> list[str] | None:
        try:
            return await lookup.ask(resolver.txt(name), f"TXT {name}")
        except lookup.LookupFailed:
            return None

    ordered = sorted(names)
    answers = await asyncio.gather(*(one(name) for name in ordered))
    return dict(zip(ordered, answers, strict=True))


def _verify_all(
    verifier: dkim.DKIM, pending: list[_Pending], keys: dict[str, list[str] | None]
) -> list[DkimOutcome]:
    return [_verify_one(verifier, p, keys[p.key_name]) for p in pending]


def _verify_one(verifier: dkim.DKIM, sig: _Pending, txts: list[str] | None) -> DkimOutcome:
    """RFC 6376 section 6.1.2 (key) and 6.1.3 (hashes) for one signature."""
    if txts is None:
        return DkimOutcome("temperror", sig.domain, "key lookup failed")
    if not txts:
        return DkimOutcome("permerror", sig.domain, "no key")
    record = next((t for t in txts if "p=" in t), txts[0]).encode("utf-8", "replace")
    try:
        dkim.evaluate_pk(sig.key_name.encode("ascii"), record)
    except Exception:  # revoked (empty p=), unparsable, unknown k=
        return DkimOutcome("permerror", sig.domain, "bad key")

    def dnsfunc(_name: bytes, timeout: float = 5) -> bytes:
        return record  # only the pre-fetched key: dkimpy makes no DNS query of its own

    try:
        valid = verifier.verify(sig.index, dnsfunc=dnsfunc)
    except dkim.ValidationError:  # body hash mismatch, expired, ...
        return DkimOutcome("fail", sig.domain, "body or tags do not verify")
    except Exception:  # key too small, bad canonicalization, ...
        return DkimOutcome("permerror", sig.domain, "cannot verify")
    if valid:
        return DkimOutcome("pass", sig.domain)
    return DkimOutcome("fail", sig.domain, "bad signature")


def summarise(outcomes: Sequence[DkimOutcome], prefer: str = "") -> DkimReport:
    """Pass if any passed, naming a passing d= aligned with `prefer` when there is one."""
    passing = tuple(o.domain for o in outcomes if o.result == "pass")
    if passing:
        preferred = prefer and org_domain(prefer)
        domain = next((d for d in passing if org_domain(d) == preferred), passing[0])
        return DkimReport("pass", domain, "", passing)
    if not outcomes:
        return DkimReport("none", "", "", ())
    best = min(outcomes, key=lambda o: _RANK.index(o.result))
    return DkimReport(best.result, best.domain, best.reason, ())
