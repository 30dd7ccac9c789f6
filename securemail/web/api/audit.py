"""/api/v1/audit: browse the audit log newest first, by cursor, and verify its hash chain."""

from datetime import UTC, date, datetime, time
from typing import Annotated

from fastapi import APIRouter, Query, Request

from securemail.web.api import cursor
from securemail.web.api.auth import Auth, services_of
from securemail.web.api.models import LINE
from securemail.web.api.models_admin import AuditOut, AuditPage, AuditVerification

router = APIRouter(tags=["audit"])

Filter = Annotated[str | None, Query(max_length=254, pattern=LINE)]
Day = Annotated[date | None, Query(description="a day (UTC)")]


def _day(value: date | None) -> datetime | None:
    return None if value is None else datetime.combine(value, time.min, tzinfo=UTC)


@router.get("/audit", response_model=AuditPage)
async def list_audit(
    request: Request,
    who: Auth,
    cursor_: cursor.Param = None,
    actor: Filter = None,
    action: Filter = None,
    mailbox: Filter = None,
    since: Day = None,
    before: Day = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AuditPage:
    """Service administrator: everything; organisation administrator: their organisation;
    Manage holder: the group mailboxes they manage. Filters match exactly; `since` and
    `before` are days (UTC)."""
    page = await services_of(request).audit.query(
        who.ctx,
        actor=actor,
        action=action,
        mailbox=mailbox,
        since=_day(since),
        before=_day(before),
        cursor=cursor_,
        limit=limit,
    )
    return AuditPage(items=[AuditOut.of(e) for e in page.entries], next_cursor=page.next_cursor)


@router.get("/audit/verify", response_model=AuditVerification)
async def verify(request: Request, who: Auth) -> AuditVerification:
    """Walk the whole hash chain and say whether it is intact (where it breaks: for the
    service administrator)."""
    report = await services_of(request).audit.verify(who.ctx)
    return AuditVerification(
        ok=report.ok, checked=report.checked, first_bad_id=report.first_bad_id, reason=report.reason
    )
