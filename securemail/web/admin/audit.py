"""Admin console: browse, filter and export the audit log, and whether its hash chain verifies.
What the caller may see is the audit service's decision (administrators: their organisation;
Manage holders: their group mailboxes)."""

import csv
import io
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from securemail.core.errors import InvalidInput
from securemail.core.model import AuditEntry
from securemail.services.audit import ChainStatus
from securemail.services.registry import Services
from securemail.web.admin.context import Admin, Console
from securemail.web.admin.context import page as console_page
from securemail.web.webmail.context import services_of

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
EXPORT_BATCH = 500
COLUMNS = (
    "id",
    "at",
    "actor",
    "org_id",
    "action",
    "mailbox",
    "target",
    "detail",
    "prev_hash",
    "hash",
)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # what spreadsheets read as a formula


@dataclass(frozen=True)
class Filters:
    """The filters of the page, as typed (for the form) and as the service takes them."""

    actor: str = ""
    action: str = ""
    mailbox: str = ""
    date_from: str = ""
    date_to: str = ""

    def query(self) -> str:
        """The filters as a query string, for paging and export links."""
        pairs = {
            "actor": self.actor,
            "action": self.action,
            "mailbox": self.mailbox,
            "from": self.date_from,
            "to": self.date_to,
        }
        return urlencode({k: v for k, v in pairs.items() if v})

    def arguments(self) -> dict[str, Any]:
        """Keyword arguments of AuditService.query; InvalidInput for a date that is not one."""
        return {
            "actor": self.actor or None,
            "action": self.action or None,
            "mailbox": self.mailbox or None,
            "since": _day(self.date_from, "from"),
            "before": _day(self.date_to, "to", next_day=True),
        }


def _day(text: str, what: str, next_day: bool = False) -> datetime | None:
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"the {what} date is not a date: use YYYY-MM-DD") from None
    if next_day:
        day = day + timedelta(days=1) if day < date.max else day
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _filters(request: Request) -> Filters:
    get = request.query_params.get
    return Filters(
        actor=get("actor", "").strip()[:254],
        action=get("action", "").strip()[:254],
        mailbox=get("mailbox", "").strip()[:254],
        date_from=get("from", "").strip()[:10],
        date_to=get("to", "").strip()[:10],
    )


async def _status(services: Services, admin: Console) -> ChainStatus | None:
    if not admin.is_admin:
        return None
    return await services.audit.chain_status(admin.who.ctx)


@router.get("/admin/audit")
async def audit_page(request: Request, admin: Admin, cursor: str = "") -> Response:
    services = services_of(request)
    filters = _filters(request)
    try:
        found = await services.audit.query(
            admin.who.ctx, cursor=cursor or None, limit=PAGE_SIZE, **filters.arguments()
        )
    except InvalidInput as exc:
        return console_page(
            request, "admin_audit.html", admin, status_code=400, filters=filters,
            audit_entries=[], next_cursor=None, chain=None, filter_error=str(exc),
        )  # fmt: skip
    chain = await _status(services, admin) if not cursor else None
    return console_page(
        request, "admin_audit.html", admin, filters=filters, audit_entries=found.entries,
        next_cursor=found.next_cursor, chain=chain, filter_error="",
    )  # fmt: skip


def safe_cell(value: object) -> str:
    """A CSV cell a spreadsheet shows as text: a leading = + - @ (or tab, CR) gets a quote."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def _row(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": entry.at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "actor": entry.actor,
        "org_id": entry.org_id,
        "action": entry.action,
        "mailbox": entry.mailbox,
        "target": entry.target,
        "detail": entry.detail,
        "prev_hash": entry.prev_hash,
        "hash": entry.hash,
    }


async def _all(services: Services, admin: Console, filters: Filters) -> AsyncIterator[AuditEntry]:
    cursor: str | None = None
    while True:
        found = await services.audit.query(
            admin.who.ctx, cursor=cursor, limit=EXPORT_BATCH, **filters.arguments()
        )
        for entry in found.entries:
            yield entry
        if found.next_cursor is None:
            return
        cursor = found.next_cursor


def _csv_line(values: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out).writerow(values)
    return out.getvalue()


async def _csv(first: list[AuditEntry], rest: AsyncIterator[AuditEntry]) -> AsyncIterator[str]:
    yield _csv_line(list(COLUMNS))
    for entry in first:
        yield _csv_line([safe_cell(v) for v in _row(entry).values()])
    async for entry in rest:
        yield _csv_line([safe_cell(v) for v in _row(entry).values()])


async def _json(first: list[AuditEntry], rest: AsyncIterator[AuditEntry]) -> AsyncIterator[str]:
    yield "["
    sep = ""
    for entry in first:
        yield sep + json.dumps(_row(entry))
        sep = ","
    async for entry in rest:
        yield sep + json.dumps(_row(entry))
        sep = ","
    yield "]\n"


Writer = Callable[[list[AuditEntry], AsyncIterator[AuditEntry]], AsyncIterator[str]]


async def _export(
    request: Request, admin: Console, kind: str, media: str, writer: Writer
) -> Response:
    """Every entry of the current filter, newest first, as a download. The first batch is
    read before answering, so a refusal is a status, not a cut-off file."""
    services = services_of(request)
    filters = _filters(request)
    entries = _all(services, admin, filters)
    first: list[AuditEntry] = []
    async for entry in entries:
        first.append(entry)
        if len(first) >= EXPORT_BATCH:
            break
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    headers = {
        "Content-Disposition": f'attachment; filename="audit-{stamp}.{kind}"',
        "Cache-Control": "no-store",
    }
    return StreamingResponse(writer(first, entries), media_type=media, headers=headers)


@router.get("/admin/audit.csv")
async def export_csv(request: Request, admin: Admin) -> Response:
    return await _export(request, admin, "csv", "text/csv; charset=utf-8", _csv)


@router.get("/admin/audit.json")
async def export_json(request: Request, admin: Admin) -> Response:
    return await _export(request, admin, "json", "application/json", _json)
