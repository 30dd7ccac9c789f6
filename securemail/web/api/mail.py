"""/api/v1: the caller, their mailboxes (personal and group, with rights), folders, message
lists by cursor, and search. Every decision is the services'; this module only translates."""

from datetime import UTC, date, datetime, time
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from securemail.core.errors import InvalidInput, NotFound
from securemail.core.search import SearchQuery
from securemail.web.api import cursor
from securemail.web.api.auth import Auth, services_of
from securemail.web.api.models import (
    LINE,
    MAX_ID,
    FolderName,
    FolderOut,
    MailboxOut,
    Me,
    MessageOut,
    MessagePage,
    SearchResult,
)

router = APIRouter(tags=["mail"])

MAX_LIMIT = 500
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]
QueryText = Annotated[str, Query(max_length=500, pattern=LINE)]
OFFSET = "o"


@router.get("/me", response_model=Me)
async def me(request: Request, who: Auth) -> Me:
    """Who the token or session belongs to."""
    try:
        personal = await services_of(request).mailboxes.get_personal_mailbox(who.ctx)
        personal_id: int | None = personal.id
    except NotFound:
        personal_id = None
    return Me(
        id=who.ctx.user_id,
        address=who.ctx.address,
        role=who.ctx.role.value,
        org_id=who.ctx.org_id,
        via="token" if who.via == "token" else "session",
        scope="write" if who.scope == "write" else "read",
        personal_mailbox_id=personal_id,
    )


@router.get("/mailboxes", response_model=list[MailboxOut])
async def list_mailboxes(request: Request, who: Auth) -> list[MailboxOut]:
    """The personal mailbox and every group mailbox the caller may read, with their rights."""
    found = await services_of(request).mailboxes.list_mailboxes(who.ctx)
    return [MailboxOut.of(m) for m in found]


@router.get("/mailboxes/{mailbox_id}", response_model=MailboxOut)
async def get_mailbox(request: Request, who: Auth, mailbox_id: PathId) -> MailboxOut:
    return MailboxOut.of(await services_of(request).mailboxes.get_mailbox(who.ctx, mailbox_id))


@router.get("/mailboxes/{mailbox_id}/folders", response_model=list[FolderOut])
async def list_folders(request: Request, who: Auth, mailbox_id: PathId) -> list[FolderOut]:
    folders = await services_of(request).mailboxes.list_folders(who.ctx, mailbox_id)
    return [FolderOut.of(f) for f in folders]


@router.post("/mailboxes/{mailbox_id}/folders", response_model=FolderOut, status_code=201)
async def create_folder(
    request: Request, who: Auth, mailbox_id: PathId, body: FolderName
) -> FolderOut:
    """Create a folder (`Cases/2026` nests); needs Write on the mailbox."""
    services = services_of(request)
    return FolderOut.of(await services.mailboxes.create_folder(who.ctx, mailbox_id, body.name))


@router.get("/folders/{folder_id}", response_model=FolderOut)
async def get_folder(request: Request, who: Auth, folder_id: PathId) -> FolderOut:
    return FolderOut.of(
        await services_of(request).mailboxes.get_folder(who.ctx, folder_id, counts=True)
    )


@router.patch("/folders/{folder_id}", response_model=FolderOut)
async def rename_folder(
    request: Request, who: Auth, folder_id: PathId, body: FolderName
) -> FolderOut:
    """Rename a folder with its subfolders; the standard folders keep their names."""
    services = services_of(request)
    return FolderOut.of(await services.mailboxes.rename_folder(who.ctx, folder_id, body.name))


@router.delete("/folders/{folder_id}", status_code=204)
async def delete_folder(request: Request, who: Auth, folder_id: PathId) -> None:
    """Delete an empty folder without subfolders: deleting a folder never destroys mail."""
    await services_of(request).mailboxes.delete_folder(who.ctx, folder_id)


@router.get("/folders/{folder_id}/messages", response_model=MessagePage)
async def list_messages(
    request: Request,
    who: Auth,
    folder_id: PathId,
    cursor_: cursor.Param = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
) -> MessagePage:
    """Newest first, `limit` at a time; follow `next_cursor` until it is null."""
    services = services_of(request)
    offset = cursor.decode(cursor_, OFFSET) or 0
    page_max = services.deps.settings.limits.max_page_size
    if limit > page_max:
        raise InvalidInput(f"limit must be 1..{page_max}")
    ask = min(limit + 1, page_max)
    found = await services.messages.list_messages(who.ctx, folder_id, offset=offset, limit=ask)
    items = found[:limit]
    more = len(found) > limit if ask > limit else len(found) == limit
    following = offset + len(items)
    next_cursor = None
    if more and following <= cursor.MAX_POSITION:
        next_cursor = cursor.encode(OFFSET, following)
    return MessagePage(items=[MessageOut.of(s) for s in items], next_cursor=next_cursor)


def _day(value: date | None) -> datetime | None:
    return None if value is None else datetime.combine(value, time.min, tzinfo=UTC)


@router.get("/mailboxes/{mailbox_id}/search", response_model=SearchResult)
async def search(
    request: Request,
    who: Auth,
    mailbox_id: PathId,
    text: QueryText = "",
    from_: Annotated[str, Query(alias="from", max_length=500, pattern=LINE)] = "",
    to: QueryText = "",
    subject: QueryText = "",
    since: Annotated[date | None, Query(description="received on or after this day")] = None,
    before: Annotated[date | None, Query(description="received before this day")] = None,
    unread: bool | None = None,
    attachments: bool | None = None,
    folder_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> SearchResult:
    """Messages of one mailbox (or one of its folders) matching every criterion given."""
    services = services_of(request)
    query = SearchQuery(
        text=text,
        from_addr=from_,
        to_addr=to,
        subject=subject,
        since=_day(since),
        before=_day(before),
        unseen=unread,
        has_attachments=attachments,
    )
    found = await services.messages.search(who.ctx, mailbox_id, query, folder_id)
    truncated = len(found) >= services.deps.settings.limits.max_page_size
    return SearchResult(items=[MessageOut.of(s) for s in found], truncated=truncated)
