"""Searching a mailbox: full text, sender, recipient, subject, dates, unread, attachments."""

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response

from securemail.core.errors import InvalidInput, NotFound
from securemail.core.search import SearchQuery
from securemail.web.webmail import sidebar
from securemail.web.webmail.context import Viewer, render, services_of, viewer

router = APIRouter(include_in_schema=False)
Who = Annotated[Viewer, Depends(viewer)]
MAX_FIELD = 200  # characters of one search field
RESULTS = 100  # the newest matches shown; the page says when there are more
TEXT_FIELDS = ("q", "from", "to", "subject", "since", "before", "folder")
CHECKBOXES = ("unread", "attachments")
ADVANCED = ("from", "to", "subject", "since", "before", "unread", "attachments", "folder")


@dataclass(frozen=True)
class Asked:
    """The search form as the user filled it in, and the query it means."""

    fields: dict[str, str]
    query: SearchQuery
    folder_id: int | None

    @property
    def empty(self) -> bool:
        return not any(self.fields.get(k) for k in (*TEXT_FIELDS, *CHECKBOXES))


def _day(params: dict[str, str], name: str, label: str) -> datetime | None:
    value = params.get(name, "")
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{label}: give a date as yyyy-mm-dd") from None
    if len(value) != 10:  # fromisoformat also takes 20261126 and 2026-W48-4
        raise InvalidInput(f"{label}: give a date as yyyy-mm-dd")
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _asked(params: QueryParams) -> Asked:
    """Read the form; InvalidInput for a bad date, folder or an over-long field."""
    fields = {k: params.get(k, "").strip() for k in TEXT_FIELDS}
    for name in CHECKBOXES:
        fields[name] = "1" if params.get(name, "") not in ("", "0") else ""
    if any(len(v) > MAX_FIELD for v in fields.values()):
        raise InvalidInput(f"a search field holds at most {MAX_FIELD} characters")
    since = _day(fields, "since", "From date")
    before = _day(fields, "before", "Before date")
    if since is not None and before is not None and since >= before:
        raise InvalidInput("the From date must be earlier than the Before date")
    folder = fields["folder"]
    if folder and not (folder.isascii() and folder.isdigit()):
        raise InvalidInput("bad folder")
    query = SearchQuery(
        text=fields["q"],
        from_addr=fields["from"],
        to_addr=fields["to"],
        subject=fields["subject"],
        since=since,
        before=before,
        unseen=True if fields["unread"] else None,
        has_attachments=True if fields["attachments"] else None,
    )
    return Asked(fields, query, int(folder) if folder else None)


def _form_values(params: QueryParams) -> dict[str, str]:
    """What to put back into the form, whatever was wrong with it."""
    return {k: params.get(k, "")[:MAX_FIELD] for k in (*TEXT_FIELDS, *CHECKBOXES)}


@router.get("/mail/{mailbox_id:int}/search")
async def search_page(request: Request, who: Who, mailbox_id: int) -> Response:
    """The search form and, once something was asked, the matches newest first (a bounded
    number), each linking to the message in its own folder."""
    services = services_of(request)
    entries = await sidebar.mailboxes(services, who)
    here = sidebar.current(entries, mailbox_id)
    if here is None:
        raise NotFound("no such mailbox")
    params = request.query_params
    values: dict[str, Any] = {
        "who": who,
        "entries": entries,
        "here": here,
        "fields": _form_values(params),
        "query_text": params.get("q", "")[:MAX_FIELD],
        "folder_names": {f.id: f.name for f in here.folders},
        "limit": min(RESULTS, services.deps.settings.limits.max_page_size),
    }
    values["advanced"] = params.get("advanced") == "1" or any(params.get(k) for k in ADVANCED)
    try:
        asked = _asked(params)
        if asked.folder_id is not None and asked.folder_id not in values["folder_names"]:
            raise InvalidInput("no such folder in this mailbox")
        found = None
        if not asked.empty:
            found = await services.messages.search(
                who.ctx, mailbox_id, asked.query, asked.folder_id, values["limit"]
            )
    except InvalidInput as exc:
        return render(request, "search.html", status_code=400, error=str(exc), found=None, **values)
    return render(request, "search.html", found=found, **values)
