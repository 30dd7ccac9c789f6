"""Reading and verifying the audit log, scoped to what the caller may see.

The service administrator sees every entry; an organisation's administrator the entries of
their organisation; a member holding Manage those of the group mailboxes they manage."""

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from securemail.core.addresses import parse_address
from securemail.core.audit import ChainReport, verify_chain
from securemail.core.context import AccessContext
from securemail.core.errors import InvalidInput, NotFound, PermissionDenied
from securemail.core.model import AuditEntry
from securemail.core.rights import Right, Role, may_manage_grants
from securemail.services.base import Deps, rights_on
from securemail.store.repos import audit as audit_repo
from securemail.store.repos import groups as groups_repo
from securemail.store.repos import mailboxes as mailbox_repo

MAX_FILTER = 254  # characters of an actor or action filter


@dataclass(frozen=True, slots=True)
class AuditPage:
    """One page of entries, newest first; `next_cursor` fetches the older ones (None: no more)."""

    entries: list[AuditEntry]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class Scope:
    """Where the caller may look: None means no restriction on that column."""

    org_id: int | None
    mailboxes: tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class ChainStatus:
    """Whether the chain verifies, and its head. `report` is the full report, given to the
    service administrator only (it names entries of every organisation)."""

    ok: bool
    head_id: int
    head_hash: str
    report: ChainReport | None


def _cursor(cursor: str | None) -> int | None:
    if cursor is None or cursor == "":
        return None
    if not (cursor.isascii() and cursor.isdigit()) or len(cursor) > 18:
        raise InvalidInput("the page cursor is not valid: start from the first page")
    return int(cursor)


def _filter_text(text: str | None, what: str) -> str | None:
    clean = (text or "").strip()
    if len(clean) > MAX_FILTER or any(ord(c) < 32 for c in clean):
        raise InvalidInput(f"the {what} filter is too long or contains control characters")
    return clean or None


def _utc(at: datetime | None) -> datetime | None:
    if at is None:
        return None
    return at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)


class AuditService:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    async def verify(self, ctx: AccessContext) -> ChainReport:
        """Walk the whole chain; also checks that nothing after the recorded head was cut off.
        An organisation's administrator learns whether it verifies, not where it breaks."""
        if ctx.role is Role.USER:
            raise PermissionDenied("only administrators may verify the audit log")
        report = await self._verify()
        if ctx.role is Role.SERVICE_ADMIN or report.ok:
            return report
        return ChainReport(False, report.checked, None, "ask the service administrator")

    async def _verify(self) -> ChainReport:
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

    async def chain_status(self, ctx: AccessContext) -> ChainStatus:
        """Does the chain verify (with its head): for administrators; the full report only for
        the service administrator."""
        if ctx.role is Role.USER:
            raise PermissionDenied("only administrators may verify the audit log")
        async with self.deps.db.read() as conn:
            head_id, head_hash = await audit_repo.head(conn)
        report = await self._verify()
        full = report if ctx.role is Role.SERVICE_ADMIN else None
        return ChainStatus(report.ok, head_id, head_hash, full)

    async def query(
        self,
        ctx: AccessContext,
        *,
        actor: str | None = None,
        action: str | None = None,
        mailbox: str | None = None,
        since: datetime | None = None,
        before: datetime | None = None,
        cursor: str | None = None,
        limit: int = 100,
    ) -> AuditPage:
        """Entries in the caller's scope matching every filter given, newest first."""
        limit = max(1, min(limit, self.deps.settings.limits.max_page_size))
        below_id = _cursor(cursor)
        actor, action = _filter_text(actor, "actor"), _filter_text(action, "action")
        async with self.deps.db.read() as conn:
            scope = await self._scope(conn, ctx, mailbox)
            entries = await audit_repo.query_entries(
                conn, org_id=scope.org_id, mailboxes=scope.mailboxes, actor=actor,
                action=action, since=_utc(since), before=_utc(before), below_id=below_id,
                limit=limit + 1,
            )  # fmt: skip
        more = len(entries) > limit
        entries = entries[:limit]
        return AuditPage(entries, str(entries[-1].id) if more else None)

    async def _scope(self, conn: AsyncConnection, ctx: AccessContext, mailbox: str | None) -> Scope:
        """Administrators filter by any mailbox within their scope (a deleted group's entries
        stay visible); a Manage holder only by a group they manage now."""
        key = parse_address(mailbox).key if mailbox and mailbox.strip() else None
        only = (key,) if key else None
        if ctx.role is Role.SERVICE_ADMIN:
            return Scope(None, only)
        if ctx.role is Role.ORG_ADMIN and ctx.org_id is not None:
            return Scope(ctx.org_id, only)
        if key is not None:
            found = await mailbox_repo.find_mailbox_by_address(conn, key)
            if found is None:
                raise NotFound("no such mailbox")
            rights = await rights_on(conn, ctx, found)
            if not may_manage_grants(ctx.principal, mailbox_repo.facts(found), rights):
                if Right.READ in rights:
                    raise PermissionDenied("you need the manage right to see this audit")
                raise NotFound("no such mailbox")
            return Scope(found.org_id, (key,))
        managed = []
        for mailbox_id in await groups_repo.managed_group_ids(conn, ctx.user_id):
            group = await groups_repo.find_group(conn, mailbox_id)
            if group and Right.MANAGE in await rights_on(conn, ctx, group):
                managed.append(group.address)
        if not managed:
            raise PermissionDenied("only administrators may read the audit log")
        return Scope(ctx.org_id, tuple(managed))
