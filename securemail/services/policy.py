"""Outbound policy per organisation: recipient domains that get mail only over verified TLS,
and the DKIM key of each mail domain. Administrators only; every change is audited."""

import re

from sqlalchemy.ext.asyncio import AsyncConnection

from securemail.core.addresses import normalise_domain
from securemail.core.context import AccessContext
from securemail.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from securemail.core.model import Organisation
from securemail.core.rights import Role, may_administer_org
from securemail.services.base import Deps, audit
from securemail.store.repos import directory as dir_repo
from securemail.store.repos import policy as policy_repo
from securemail.store.repos.policy import DkimKey

# RFC 6376 section 3.1: selector = sub-domain *( "." sub-domain ).
_SELECTOR = re.compile(
    r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$"
)
_BASE64 = re.compile(r"^[A-Za-z0-9+/]+={0,2}$")
MAX_SELECTOR = 63
MAX_KEY_TEXT = 16 * 1024


def _require_admin_role(ctx: AccessContext) -> None:
    if ctx.role is Role.USER:
        raise PermissionDenied("only administrators may change outbound mail policy")


def check_selector(selector: str) -> str:
    clean = selector.strip().lower()
    if len(clean) > MAX_SELECTOR or not _SELECTOR.match(clean):
        raise InvalidInput(f"invalid DKIM selector {selector!r}")
    return clean


def _check_key_text(private_key_pem: str, public_key_b64: str) -> None:
    if not private_key_pem.startswith("-----BEGIN") or len(private_key_pem) > MAX_KEY_TEXT:
        raise InvalidInput("the DKIM private key must be PEM text")
    if len(public_key_b64) > MAX_KEY_TEXT or not _BASE64.match(public_key_b64):
        raise InvalidInput("the DKIM public key must be base64 text")


class PolicyService:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    async def _org(self, conn: AsyncConnection, ctx: AccessContext, name: str) -> Organisation:
        """The organisation by name; ones you may not administer do not exist for you."""
        org = await dir_repo.find_org_by_name(conn, name.strip())
        if org is None or not may_administer_org(ctx.principal, org.id):
            raise NotFound(f"no organisation named {name.strip()!r}")
        return org

    async def add_tls_required(self, ctx: AccessContext, org_name: str, domain: str) -> list[str]:
        """Mail from `org_name` to `domain` leaves only over TLS with a verified certificate."""
        _require_admin_role(ctx)
        domain = normalise_domain(domain)
        async with self.deps.db.write() as conn:
            org = await self._org(conn, ctx, org_name)
            if not await policy_repo.add_tls_required(conn, org.id, domain):
                raise Conflict(f"{domain} already requires TLS for {org.name}")
            await audit(conn, ctx, "policy.tls_required.add", target=domain, org_id=org.id)
            return await policy_repo.list_tls_required(conn, org.id)

    async def remove_tls_required(
        self, ctx: AccessContext, org_name: str, domain: str
    ) -> list[str]:
        _require_admin_role(ctx)
        domain = normalise_domain(domain)
        async with self.deps.db.write() as conn:
            org = await self._org(conn, ctx, org_name)
            if not await policy_repo.remove_tls_required(conn, org.id, domain):
                raise NotFound(f"{domain} is not on the TLS-required list of {org.name}")
            await audit(conn, ctx, "policy.tls_required.remove", target=domain, org_id=org.id)
            return await policy_repo.list_tls_required(conn, org.id)

    async def list_tls_required(self, ctx: AccessContext, org_name: str) -> list[str]:
        _require_admin_role(ctx)
        async with self.deps.db.read() as conn:
            org = await self._org(conn, ctx, org_name)
            return await policy_repo.list_tls_required(conn, org.id)

    async def install_dkim_key(
        self,
        ctx: AccessContext,
        domain: str,
        *,
        selector: str,
        private_key_pem: str,
        public_key_b64: str,
    ) -> DkimKey:
        """Make this key the one that signs mail from `domain` (a rotation keeps the old row,
        inactive, so its DNS record can be retired once mail signed with it is delivered)."""
        _require_admin_role(ctx)
        domain = normalise_domain(domain)
        selector = check_selector(selector)
        _check_key_text(private_key_pem, public_key_b64)
        async with self.deps.db.write() as conn:
            org_id = await dir_repo.find_domain_org(conn, domain)
            if org_id is None or not may_administer_org(ctx.principal, org_id):
                raise NotFound(f"no mail domain {domain}")
            if await policy_repo.find_dkim_key(conn, domain, selector) is not None:
                raise Conflict(f"{domain} already has a DKIM key with selector {selector}")
            await policy_repo.install_dkim_key(
                conn,
                org_id=org_id,
                domain=domain,
                selector=selector,
                private_key=private_key_pem,
                public_key=public_key_b64,
            )
            await audit(
                conn, ctx, "dkim.key.install", target=domain, detail=selector, org_id=org_id
            )
            found = await policy_repo.find_dkim_key(conn, domain, selector)
        assert found is not None
        return found

    async def list_dkim_keys(
        self, ctx: AccessContext, org_name: str | None = None
    ) -> list[DkimKey]:
        """Service admin: every key (or one organisation's); org admin: their organisation's."""
        _require_admin_role(ctx)
        async with self.deps.db.read() as conn:
            if org_name:
                return await policy_repo.list_dkim_keys(
                    conn, (await self._org(conn, ctx, org_name)).id
                )
            if ctx.role is Role.SERVICE_ADMIN:
                return await policy_repo.list_dkim_keys(conn, None)
            if ctx.org_id is None:
                raise PermissionDenied("only administrators may list DKIM keys")
            return await policy_repo.list_dkim_keys(conn, ctx.org_id)
