"""Organisation policy set by its administrators, and the limits it puts on every channel."""

import dataclasses

from sqlalchemy.ext.asyncio import AsyncConnection

from securemail.config import Settings
from securemail.core.addresses import normalise_domain
from securemail.core.context import AccessContext
from securemail.core.errors import InvalidInput, NotFound, PermissionDenied
from securemail.core.model import OrgPolicy
from securemail.core.rights import may_administer_org
from securemail.services.base import Deps, audit
from securemail.store.repos import org_policy as policy_repo

MAX_ALLOWLIST = 500
IDLE_RANGE = (5, 24 * 60)  # minutes
PASSWORD_RANGE = (8, 128)


@dataclasses.dataclass(frozen=True, slots=True)
class Limits:
    """What applies to one organisation's users: its own policy within the server's limits."""

    recipient_allowlist: tuple[str, ...]
    max_message_bytes: int
    session_idle_minutes: int
    min_password_length: int
    require_second_factor: bool

    def allows_recipient_domain(self, domain: str) -> bool:
        """Closed community: only listed domains (and their subdomains), when a list is set."""
        if not self.recipient_allowlist:
            return True
        return any(domain == d or domain.endswith("." + d) for d in self.recipient_allowlist)


async def limits_for(conn: AsyncConnection, settings: Settings, org_id: int | None) -> Limits:
    policy = await policy_repo.get(conn, org_id)
    size = settings.limits.max_message_bytes
    if policy.max_message_bytes is not None:
        size = min(size, policy.max_message_bytes)  # an organisation may only lower it
    password = settings.auth.min_password_length
    if policy.min_password_length is not None:
        password = max(password, policy.min_password_length)  # and only raise this one
    return Limits(
        recipient_allowlist=policy.recipient_allowlist,
        max_message_bytes=size,
        session_idle_minutes=policy.session_idle_minutes or settings.http.session_idle_minutes,
        min_password_length=password,
        require_second_factor=policy.require_second_factor or settings.http.require_second_factor,
    )


def _in_range(value: int | None, bounds: tuple[int, int], what: str) -> int | None:
    if value is not None and not bounds[0] <= value <= bounds[1]:
        raise InvalidInput(f"{what} must be between {bounds[0]} and {bounds[1]}")
    return value


class OrgPolicyService:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def _require_admin(self, ctx: AccessContext, org_id: int) -> None:
        if not may_administer_org(ctx.principal, org_id):
            if ctx.org_id == org_id:
                raise PermissionDenied("only administrators change the organisation's policy")
            raise NotFound("no such organisation")

    async def get(self, ctx: AccessContext, org_id: int) -> OrgPolicy:
        self._require_admin(ctx, org_id)
        async with self.deps.db.read() as conn:
            return await policy_repo.get(conn, org_id)

    async def limits(self, org_id: int | None) -> Limits:
        """The limits in force for an organisation's users (no secrets in them)."""
        async with self.deps.db.read() as conn:
            return await limits_for(conn, self.deps.settings, org_id)

    async def set(self, ctx: AccessContext, policy: OrgPolicy) -> OrgPolicy:
        """Replace the organisation's policy after checking every field; audited."""
        self._require_admin(ctx, policy.org_id)
        domains = tuple(dict.fromkeys(normalise_domain(d) for d in policy.recipient_allowlist))
        if len(domains) > MAX_ALLOWLIST:
            raise InvalidInput(f"at most {MAX_ALLOWLIST} domains in the allow-list")
        size = policy.max_message_bytes
        if size is not None and not 1024 <= size <= self.deps.settings.limits.max_message_bytes:
            top = self.deps.settings.limits.max_message_bytes
            raise InvalidInput(f"maximum message size must be between 1024 and {top} bytes")
        clean = dataclasses.replace(
            policy,
            recipient_allowlist=domains,
            session_idle_minutes=_in_range(policy.session_idle_minutes, IDLE_RANGE, "idle time"),
            min_password_length=_in_range(
                policy.min_password_length, PASSWORD_RANGE, "minimum password length"
            ),
        )
        async with self.deps.db.write() as conn:
            await policy_repo.put(conn, clean)
            detail = (
                f"allow={','.join(domains) or '-'} size={size} idle={clean.session_idle_minutes}"
                f" password={clean.min_password_length} 2fa={clean.require_second_factor}"
            )
            await audit(conn, ctx, "policy.set", target=f"org={clean.org_id}", detail=detail,
                        org_id=clean.org_id)  # fmt: skip
        return clean
