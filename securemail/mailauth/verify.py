"""Check SPF, DKIM and DMARC of one received message and say so in Authentication-Results."""

import asyncio
import logging
from dataclasses import dataclass

from securemail.mailauth import dmarc, orgdomain
from securemail.mailauth.dkim_verify import DkimReport, check_dkim
from securemail.mailauth.lookup import LookupFailed
from securemail.mailauth.message import FromDomain, field_name, from_domain, split_header
from securemail.mailauth.results import ResInfo, format_field, require_authserv_id, stamp
from securemail.mailauth.spf import SpfResult, check_spf
from securemail.net.dns import Resolver

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 20.0  # seconds for each of SPF, DKIM and DMARC, which run concurrently
INLINE_HEADER_BYTES = 64 * 1024  # larger messages have their header split in a worker thread


@dataclass(frozen=True)
class AuthCheck:
    """RFC 8601 result words per method, the DMARC policy ("" without a record), the From
    domain ("" when unreadable) and the complete folded header field (no trailing CRLF)."""

    spf: str
    dkim: str
    dmarc: str
    dmarc_policy: str
    from_domain: str
    header: str
    authserv_id: str

    @property
    def failed(self) -> bool:
        """DMARC fail, a From field DMARC cannot judge (permerror), or no DMARC and SPF fail."""
        if self.dmarc in ("fail", "permerror"):
            return True
        return self.dmarc == "none" and self.spf == "fail"

    @property
    def temporary(self) -> bool:
        """The verdict may change on a retry: DMARC, or SPF without DMARC, hit a DNS error."""
        return self.dmarc == "temperror" or (self.dmarc == "none" and self.spf == "temperror")

    def stamped(self, raw: bytes) -> bytes:
        """`raw` with forged fields claiming our authserv-id removed and `header` on top."""
        return stamp(raw, self.header, self.authserv_id)


async def check_message(
    raw: bytes,
    *,
    client_ip: str,
    helo: str,
    mail_from: str,
    resolver: Resolver,
    authserv_id: str,
    timeout: float = DEFAULT_TIMEOUT,
) -> AuthCheck:
    """Authenticate a message received from `client_ip`; never raises on hostile input.

    `mail_from` is the MAIL FROM path ("" or "<>" for a null reverse-path). All DNS goes
    through `resolver`; dkimpy's CPU work runs in worker threads.
    """
    require_authserv_id(authserv_id)
    if not orgdomain.loaded():
        await asyncio.to_thread(orgdomain.load)
    if len(raw) > INLINE_HEADER_BYTES:  # a hostile header block can take 0.1 s to split
        block = await asyncio.to_thread(split_header, raw)
    else:
        block = split_header(raw)
    sender = from_domain(block)
    signatures = sum(1 for f in block.fields if field_name(f) == "dkim-signature")
    spf, dkim, found = await asyncio.gather(
        check_spf(resolver, client_ip=client_ip, mail_from=mail_from, helo=helo, timeout=timeout),
        check_dkim(raw, signatures, resolver, prefer=sender.domain, timeout=timeout),
        _discover(resolver, sender, timeout),
    )
    result = _evaluate(found, sender, spf, dkim)
    header = format_field(authserv_id, _resinfos(spf, dkim, result, sender))
    return AuthCheck(
        spf=spf.result,
        dkim=dkim.result,
        dmarc=result.result,
        dmarc_policy=result.policy,
        from_domain=sender.domain,
        header=header,
        authserv_id=authserv_id,
    )


async def _discover(
    resolver: Resolver, sender: FromDomain, timeout: float
) -> dmarc.Discovered | dmarc.DmarcResult:
    """The DMARC record for the From domain, or the final result when there can be none."""
    if not sender.domain:
        return dmarc.DmarcResult("permerror", "", sender.problem)
    try:
        async with asyncio.timeout(timeout):
            return await dmarc.discover(resolver, sender.domain)
    except (LookupFailed, TimeoutError):
        return dmarc.DmarcResult("temperror", "", "DNS failure")
    except Exception:
        log.exception("DMARC discovery for %r failed", sender.domain)
        return dmarc.DmarcResult("temperror", "", "internal error")


def _evaluate(
    found: dmarc.Discovered | dmarc.DmarcResult,
    sender: FromDomain,
    spf: SpfResult,
    dkim: DkimReport,
) -> dmarc.DmarcResult:
    if isinstance(found, dmarc.DmarcResult):
        return found
    return dmarc.evaluate(
        found,
        sender.domain,
        spf_result=spf.result,
        spf_domain=spf.domain,
        dkim_passing=dkim.passing,
    )


def _resinfos(
    spf: SpfResult, dkim: DkimReport, result: dmarc.DmarcResult, sender: FromDomain
) -> list[ResInfo]:
    """RFC 8601 section 2.7: smtp.mailfrom or smtp.helo, header.d, header.from."""
    spf_property = "smtp.mailfrom" if spf.identity == "mailfrom" else "smtp.helo"
    policy = f"p={result.policy}" if result.policy else result.reason
    return [
        ResInfo("spf", spf.result, spf.reason, ((spf_property, spf.domain),)),
        ResInfo("dkim", dkim.result, dkim.reason, (("header.d", dkim.domain),)),
        ResInfo("dmarc", result.result, policy, (("header.from", sender.domain),)),
    ]
