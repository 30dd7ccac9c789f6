"""Reading mail: the mailbox switcher, message lists, a message, its body and attachments."""

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from securemail.core.context import AccessContext
from securemail.core.errors import NotFound
from securemail.core.model import Folder, MessageSummary, SpecialUse
from securemail.mail.render import attachment
from securemail.mail.render import render as render_mail
from securemail.mail.threads import group_threads
from securemail.web.security import body_csp
from securemail.web.webmail import sidebar
from securemail.web.webmail.context import Viewer, redirect, render, services_of, viewer

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
SORTS = ("date", "from", "subject", "size")
INLINE_IMAGES = ("image/png", "image/jpeg", "image/gif", "image/webp")
Who = Annotated[Viewer, Depends(viewer)]


async def _place(
    request: Request, who: Viewer, mailbox_id: int, folder_id: int
) -> tuple[list[sidebar.MailboxEntry], sidebar.MailboxEntry, Folder]:
    """The switcher, the current mailbox and folder; NotFound unless the viewer may read it."""
    entries = await sidebar.mailboxes(services_of(request), who)
    here = sidebar.current(entries, mailbox_id)
    if here is None:
        raise NotFound("no such mailbox")
    folder = next((f for f in here.folders if f.id == folder_id), None)
    if folder is None:
        raise NotFound("no such folder")
    return entries, here, folder


@router.get("/")
async def home(request: Request, who: Who) -> Response:
    entries = await sidebar.mailboxes(services_of(request), who)
    if not entries:
        return render(request, "empty.html", who=who, entries=[])
    first = entries[0]
    return redirect(f"/mail/{first.mailbox.id}/{first.inbox.id}")


@router.get("/mail/{mailbox_id:int}")
async def mailbox_home(request: Request, who: Who, mailbox_id: int) -> Response:
    entries = await sidebar.mailboxes(services_of(request), who)
    here = sidebar.current(entries, mailbox_id)
    if here is None:
        raise NotFound("no such mailbox")
    return redirect(f"/mail/{mailbox_id}/{here.inbox.id}")


@router.get("/mail/{mailbox_id:int}/{folder_id:int}")
async def folder_page(
    request: Request,
    who: Who,
    mailbox_id: int,
    folder_id: int,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    sort: str = "date",
    order: str = "desc",
    threads: bool = False,
) -> Response:
    entries, here, folder = await _place(request, who, mailbox_id, folder_id)
    sort = sort if sort in SORTS else "date"
    descending = order != "asc"
    messages = await services_of(request).messages.list_messages(
        who.ctx,
        folder.id,
        offset=(page - 1) * PAGE_SIZE,
        limit=PAGE_SIZE,
        sort=sort,
        descending=descending,
    )
    groups = _threads(messages) if threads else [[m] for m in messages]
    return render(
        request,
        "folder.html",
        who=who,
        entries=entries,
        here=here,
        folder=folder,
        groups=groups,
        page=page,
        pages=max(1, -(-folder.total // PAGE_SIZE)),
        sort=sort,
        order="desc" if descending else "asc",
        threads=threads,
        show_to=folder.special_use in (SpecialUse.SENT, SpecialUse.DRAFTS),
        move_targets=sidebar.move_targets(entries, here),
        copy_targets=sidebar.copy_targets(entries),
    )


def _threads(messages: list[MessageSummary]) -> list[list[MessageSummary]]:
    by_id = {m.id: m for m in messages}
    keys = [(m.id, m.message_id, m.in_reply_to, m.references) for m in messages]
    return [[by_id[i] for i in thread] for thread in group_threads(keys)]


async def _message_in(
    request: Request, ctx: AccessContext, mailbox_id: int, folder_id: int, message_id: int
) -> MessageSummary:
    """The message, if it is where the URL says; NotFound otherwise or if hidden."""
    summary = await services_of(request).messages.get_summary(ctx, message_id)
    folder = await services_of(request).mailboxes.get_folder(ctx, summary.folder_id)
    if summary.folder_id != folder_id or folder.mailbox_id != mailbox_id:
        raise NotFound("no such message")
    return summary


@router.get("/mail/{mailbox_id:int}/{folder_id:int}/{message_id:int}")
async def message_page(
    request: Request,
    who: Who,
    mailbox_id: int,
    folder_id: int,
    message_id: int,
    remote: bool = False,
) -> Response:
    await _message_in(request, who.ctx, mailbox_id, folder_id, message_id)
    entries, here, folder = await _place(request, who, mailbox_id, folder_id)
    opened = await services_of(request).messages.open_message(who.ctx, message_id)
    base = f"/mail/{mailbox_id}/{folder_id}/{message_id}"
    shown = render_mail(
        opened.raw, allow_remote=remote, cid_url=lambda i: f"{base}/part/{i}?inline=1"
    )
    return render(
        request,
        "message.html",
        who=who,
        entries=entries,
        here=here,
        folder=folder,
        message=opened,
        shown=shown,
        remote=remote,
        base=base,
        move_targets=sidebar.move_targets(entries, here),
        copy_targets=sidebar.copy_targets(entries),
    )


@router.get("/mail/{mailbox_id:int}/{folder_id:int}/{message_id:int}/body")
async def message_body(
    request: Request,
    who: Who,
    mailbox_id: int,
    folder_id: int,
    message_id: int,
    remote: bool = False,
) -> Response:
    """The sanitised HTML body alone, for the sandboxed iframe, under its own strict CSP."""
    await _message_in(request, who.ctx, mailbox_id, folder_id, message_id)
    raw = await services_of(request).messages.read_raw(who.ctx, message_id, "body")
    base = f"/mail/{mailbox_id}/{folder_id}/{message_id}"
    sessions = services_of(request).sessions

    def cid_url(index: int) -> str:
        token = sessions.sign_part(who.ctx, message_id, index)
        return f"{base}/part/{index}?inline=1&u={who.ctx.user_id}&t={token}"

    shown = render_mail(raw, allow_remote=remote, cid_url=cid_url)
    env = request.app.state.templates
    html = env.get_template("body.html").render(shown=shown)
    response = HTMLResponse(html)
    response.headers["Content-Security-Policy"] = body_csp(remote)
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response


@router.get("/mail/{mailbox_id:int}/{folder_id:int}/{message_id:int}/part/{index:int}")
async def message_part(
    request: Request,
    mailbox_id: int,
    folder_id: int,
    message_id: int,
    index: int,
    inline: bool = False,
    u: int = 0,
    t: str = "",
) -> Response:
    """One attachment with its declared type, as a download (`inline` only for images the
    body references by cid), never sniffed, and sandboxed should a browser render it. The
    body's sandboxed frame sends no cookie: its image links carry a signed token instead."""
    if t:
        ctx = await services_of(request).sessions.context_for_part(u, t, message_id, index)
    else:
        ctx = (await viewer(request)).ctx
    await _message_in(request, ctx, mailbox_id, folder_id, message_id)
    raw = await services_of(request).messages.read_raw(ctx, message_id, "attachment")
    info, data = attachment(raw, index)
    kind = "inline" if inline and info.content_type in INLINE_IMAGES else "attachment"
    response = Response(data, media_type=info.content_type)
    ascii_name = info.filename.encode("ascii", "replace").decode().replace('"', "_")
    response.headers["Content-Disposition"] = (
        f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(info.filename, safe='')}"
    )
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; frame-ancestors 'none'; sandbox"
    )
    return response
