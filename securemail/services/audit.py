"""Reading and verifying the audit log."""

from securemail.core.addresses import parse_address
from securemail.core.audit import ChainReport, verify_chain
from securemail.core.context import AccessContext
from securemail.core.errors import NotFound, PermissionDenied
from securemail.core.model import AuditEntry
from securemail.core.rights import Right, Role, may_manage_grants
from securemail.services.base import Deps, rights_on
from securemail.store.repos import audit as audit_repo
from securemail.store.repos import mailboxes as mailbox_repo


class AuditService:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    async def verify(self, ctx: AccessContext) -> ChainReport:
        """Walk the whole chain; also checks that nothing after the recorded head was cut off."""
        if ctx.role is Role.USER:
            raise PermissionDenied("only administrators may verify the audit log")
        async with self.deps.db.read() as conn:
            # The head first: entries appended while we read lie beyond it and are not judged
            # (on PostgreSQL each statement sees its own snapshot).
            head_id, head_hash = await audit_repo.head(conn)
            triples = [
                (audit_repo.chain_fields(e), e.prev_hash, e.hash)
                async for e in audit_repo.iterate(conn, up_to=head_id)
            ]
        report = verify_chain(triples)
        if not report.ok:
            return report
        last_id, last_hash = (triples[-1][0].id, triples[-1][2]) if triples else (0, "0" * 64)
        if last_id != head_id:
            reason = f"entries {last_id + 1} to {head_id} are missing (the log was cut short)"
            return ChainReport(False, report.checked, last_id + 1, reason)
        if last_hash != head_hash:
            return ChainReport(False, report.checked, last_id, "does not match the recorded head")
        return report

    async def head(self, ctx: AccessContext) -> tuple[int, str]:
        """The newest entry's id and hash: record it elsewhere to anchor the chain."""
        if ctx.role is Role.USER:
            raise PermissionDenied("only administrators may read the audit head")
        async with self.deps.db.read() as conn:
            return await audit_repo.head(conn)

    async def list_entries(
        self, ctx: AccessContext, *, mailbox: str | None = None, limit: int = 100
    ) -> list[AuditEntry]:
        """Service admin: everything; org admin: their organisation; MANAGE holder: one mailbox."""
        limit = max(1, min(limit, self.deps.settings.limits.max_page_size))
        async with self.deps.db.read() as conn:
            if mailbox is not None:
                key = parse_address(mailbox).key
                found = await mailbox_repo.find_mailbox_by_address(conn, key)
                if found is None:
                    raise NotFound("no such mailbox")
                rights = await rights_on(conn, ctx, found)
                if not may_manage_grants(ctx.principal, mailbox_repo.facts(found), rights):
                    if Right.READ in rights:
                        raise PermissionDenied("you need the manage right to see this audit")
                    raise NotFound("no such mailbox")
                return await audit_repo.list_entries(conn, org_id=None, mailbox=key, limit=limit)
            if ctx.role is Role.SERVICE_ADMIN:
                return await audit_repo.list_entries(conn, org_id=None, limit=limit)
            if ctx.role is Role.ORG_ADMIN and ctx.org_id is not None:
                return await audit_repo.list_entries(conn, org_id=ctx.org_id, limit=limit)
        raise PermissionDenied("only administrators may read the audit log")
