"""Webmail compose: write, reply, reply all and forward, keep drafts, and send through the
submission service (so webmail obeys exactly the checks SMTP submission does)."""

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from securemail.core.errors import (
    InvalidInput,
    NotFound,
    PermissionDenied,
    QuotaExceeded,
    RateLimited,
)
from securemail.core.model import Flag, SpecialUse
from securemail.mail import headers
from securemail.mail.compose import (
    Draft,
    Upload,
    build_message,
    envelope_recipients,
    parse_recipients,
)
from securemail.mail.parse import parse_fields
from securemail.mail.seed import forward_seed, reply_seed
from securemail.services.registry import Services
from securemail.web.webmail import sidebar
from securemail.web.webmail.context import Viewer, check_csrf, redirect, render, services_of, viewer

router = APIRouter(include_in_schema=False)
Who = Annotated[Viewer, Depends(viewer)]
SUGGESTIONS = 10  # addresses offered per completion request
MAX_FIELD = 64 * 1024  # characters of one one-line form field (recipients, subject, ids)
AUTOSAVE_SECONDS = 30


@dataclass(frozen=True)
class Carried:
    """An attachment of another message (forwarded, or of the draft being continued)."""

    index: int
    filename: str
    size: int


@dataclass(frozen=True)
class Sheet:
    """What the compose form holds: shown by GET, read back from a POST."""

    mailbox_id: int | None  # the mailbox whose Drafts keep this message; None: no drafts
    from_addr: str
    to: str = ""
    cc: str = ""
    bcc: str = ""
    subject: str = ""
    body: str = ""
    in_reply_to: str = ""
    references: str = ""
    reply_of: int | None = None
    forward_of: int | None = None
    draft_of: int | None = None
    carried: tuple[Carried, ...] = ()
    kept: frozenset[int] = field(default_factory=frozenset)


# --- who may send as what, and where drafts go --------------------------------------------


def _own(entries: list[sidebar.MailboxEntry], who: Viewer) -> sidebar.MailboxEntry | None:
    return next(
        (e for e in entries if not e.is_group and e.mailbox.address == who.ctx.address), None
    )


def _senders(entries: list[sidebar.MailboxEntry], who: Viewer) -> list[tuple[str, str]]:
    """(address, label) the From selector offers: one's own address, then every group
    mailbox with Mail. The submission service refuses anything else anyway."""
    own = _own(entries, who)
    name = own.mailbox.display_name if own else ""
    out = [(who.ctx.address, f"{name} <{who.ctx.address}>" if name else who.ctx.address)]
    for entry in entries:
        if entry.is_group and entry.can("mail"):
            mailbox = entry.mailbox
            out.append((mailbox.address, f"{mailbox.display_name} <{mailbox.address}>"))
    return out


def _default_from(here: sidebar.MailboxEntry, who: Viewer) -> str:
    return here.mailbox.address if here.is_group and here.can("mail") else who.ctx.address


def _drafts_home(
    entries: list[sidebar.MailboxEntry], here: sidebar.MailboxEntry, who: Viewer
) -> int | None:
    """The Drafts of the mailbox worked in when the viewer may file there (Write or Mail),
    else their own mailbox's."""
    if here.can("write") or here.can("mail"):
        return here.mailbox.id
    own = _own(entries, who)
    return own.mailbox.id if own else None


def _carried(uploads: Sequence[Upload]) -> tuple[Carried, ...]:
    return tuple(Carried(i, u.filename, len(u.data)) for i, u in enumerate(uploads))


# --- the page -------------------------------------------------------------------------------


async def _page(
    request: Request,
    who: Viewer,
    entries: list[sidebar.MailboxEntry],
    here: sidebar.MailboxEntry,
    sheet: Sheet,
    *,
    heading: str = "New message",
    status_code: int = 200,
    error: str = "",
    notice: str = "",
) -> Response:
    drafts = sidebar.current(entries, sheet.mailbox_id) if sheet.mailbox_id else None
    return render(
        request,
        "compose.html",
        status_code=status_code,
        who=who,
        entries=entries,
        here=here,
        sheet=sheet,
        senders=_senders(entries, who),
        drafts=drafts,
        heading=heading,
        error=error,
        notice=notice,
        max_upload=services_of(request).deps.settings.http.max_upload_bytes,
        autosave=AUTOSAVE_SECONDS,
    )


@router.get("/compose")
async def compose_page(
    request: Request,
    who: Who,
    mailbox: int | None = None,
    reply: int | None = None,
    reply_all: Annotated[bool, Query(alias="all")] = False,
    forward: int | None = None,
    draft: int | None = None,
    saved: bool = False,
) -> Response:
    """A new message, or one seeded from a message the viewer may read (NotFound if not)."""
    services = services_of(request)
    entries = await sidebar.mailboxes(services, who)
    source = reply or forward or draft
    if source is not None:
        summary = await services.messages.get_summary(who.ctx, source)
        mailbox = (await services.mailboxes.get_folder(who.ctx, summary.folder_id)).mailbox_id
    here = sidebar.current(entries, mailbox) if mailbox is not None else _own(entries, who)
    if here is None:
        raise NotFound("no such mailbox")
    sheet = Sheet(mailbox_id=_drafts_home(entries, here, who), from_addr=_default_from(here, who))
    heading = "New message"
    if reply is not None:
        raw = await services.messages.read_raw(who.ctx, reply, "reply")
        seed = reply_seed(raw, me={here.mailbox.address, who.ctx.address}, reply_all=reply_all)
        sheet = replace(
            sheet,
            to=", ".join(seed.to),
            cc=", ".join(seed.cc),
            subject=seed.subject,
            body=seed.body,
            in_reply_to=seed.in_reply_to,
            references=seed.references,
            reply_of=reply,
        )
        heading = "Reply to all" if reply_all else "Reply"
    elif forward is not None:
        raw = await services.messages.read_raw(who.ctx, forward, "forward")
        subject, body, attachments = forward_seed(raw)
        sheet = _with_carried(replace(sheet, subject=subject, body=body), forward, attachments)
        heading = "Forward"
    elif draft is not None:
        raw = await services.messages.read_raw(who.ctx, draft, "draft")
        sheet = _from_draft(sheet, raw, draft, entries, who, here)
        heading = "Draft"
    notice = "Draft saved." if saved else ""
    return await _page(request, who, entries, here, sheet, heading=heading, notice=notice)


def _with_carried(sheet: Sheet, source: int, attachments: Sequence[Upload]) -> Sheet:
    carried = _carried(attachments)
    return replace(
        sheet, forward_of=source, carried=carried, kept=frozenset(c.index for c in carried)
    )


def _from_draft(
    sheet: Sheet,
    raw: bytes,
    draft_id: int,
    entries: list[sidebar.MailboxEntry],
    who: Viewer,
    here: sidebar.MailboxEntry,
) -> Sheet:
    """Continue a draft: its fields, its attachments carried, and replaced when saved again
    if it lives in the Drafts the viewer saves into."""
    fields = parse_fields(raw)
    try:
        sender = (headers.header_addresses(raw, "From") or [""])[0].lower()
        bcc = ", ".join(headers.header_addresses(raw, "Bcc"))
    except InvalidInput:
        sender, bcc = "", ""
    offered = {address for address, _label in _senders(entries, who)}
    sheet = replace(
        sheet,
        from_addr=sender if sender in offered else sheet.from_addr,
        to=fields.to_addrs,
        cc=fields.cc_addrs,
        bcc=bcc,
        subject=fields.subject,
        body=fields.text.replace("\r\n", "\n"),
        in_reply_to=fields.in_reply_to,
        references=fields.references,
        draft_of=draft_id if sheet.mailbox_id == here.mailbox.id else None,
    )
    return _with_carried(sheet, draft_id, forward_seed(raw)[2])


@router.get("/compose/suggest")
async def suggest(request: Request, who: Who, q: str = "") -> JSONResponse:
    """Address completion from the viewer's own organisation's directory."""
    found = await services_of(request).directory.suggest(who.ctx, q, limit=SUGGESTIONS)
    return JSONResponse([{"address": a, "name": n} for a, n in found])


# --- reading the form back ------------------------------------------------------------------


def _text(form: FormData, name: str, limit: int = MAX_FIELD) -> str:
    value = form.get(name)
    text = value if isinstance(value, str) else ""
    if len(text) > limit:
        raise InvalidInput(f"the {name} field is too long")
    return text


def _id(form: FormData, name: str) -> int | None:
    text = _text(form, name, 20).strip()
    if not text:
        return None
    if not (text.isascii() and text.isdigit()):
        raise InvalidInput(f"bad {name}")
    return int(text)


def _sheet(form: FormData) -> Sheet:
    keep = [v for v in form.getlist("keep") if isinstance(v, str)]
    if not all((v.isascii() and v.isdigit()) and len(v) < 6 for v in keep):
        raise InvalidInput("bad attachment selection")
    return Sheet(
        mailbox_id=_id(form, "mailbox"),
        from_addr=_text(form, "from", 254).strip(),
        to=_text(form, "to"),
        cc=_text(form, "cc"),
        bcc=_text(form, "bcc"),
        subject=_text(form, "subject"),
        body=_text(form, "body", 16 * 1024 * 1024).replace("\r\n", "\n"),
        in_reply_to=_text(form, "in_reply_to"),
        references=_text(form, "references"),
        reply_of=_id(form, "reply_of"),
        forward_of=_id(form, "forward_of"),
        draft_of=_id(form, "draft_of"),
        kept=frozenset(int(v) for v in keep),
    )


async def _attachments(
    services: Services, who: Viewer, sheet: Sheet, form: FormData, limit: int
) -> list[Upload]:
    """The kept attachments of `forward_of`, then the uploads: QuotaExceeded past `limit`
    bytes in all (settings.http.max_upload_bytes)."""
    out: list[Upload] = []
    if sheet.forward_of is not None and sheet.kept:
        raw = await services.messages.read_raw(who.ctx, sheet.forward_of, "attachment")
        out = [u for i, u in enumerate(forward_seed(raw)[2]) if i in sheet.kept]
    used = sum(len(u.data) for u in out)
    refusal = QuotaExceeded(f"attachments may not exceed {limit // 1024} KB in all")
    if used > limit:
        raise refusal
    for item in form.getlist("files"):
        if not isinstance(item, UploadFile) or (not item.filename and not item.size):
            continue
        data = await item.read(limit - used + 1)
        used += len(data)
        if used > limit:
            raise refusal
        kind = item.content_type or "application/octet-stream"
        out.append(Upload(item.filename or "attachment", kind, data))
    return out


def _draft(sheet: Sheet, name: str, attachments: Sequence[Upload], limit: int) -> Draft:
    def recipients(text: str) -> tuple[str, ...]:
        return parse_recipients(text, limit=limit)

    return Draft(
        from_addr=sheet.from_addr,
        from_name=name,
        to=recipients(sheet.to),
        cc=recipients(sheet.cc),
        bcc=recipients(sheet.bcc),
        subject=sheet.subject,
        body=sheet.body,
        in_reply_to=sheet.in_reply_to,
        references=sheet.references,
        attachments=tuple(attachments),
    )


# --- send and save --------------------------------------------------------------------------


@router.post("/compose")
async def compose_post(request: Request, who: Who) -> Response:
    """Send (action=send) or keep as a draft (action=save). The sender is checked first,
    by the submission service: a From: the viewer may not use is refused before anything
    is read, stored or sent."""
    form = (await check_csrf(request, who))["_form"]
    assert isinstance(form, FormData)
    services = services_of(request)
    wants_json = "application/json" in request.headers.get("accept", "")
    sheet = _sheet(form)
    action = _text(form, "action", 10)
    sender = await services.submission.require_sender(who.ctx, sheet.from_addr)
    try:
        if action not in ("send", "save"):
            raise InvalidInput("nothing was sent yet: choose Send or Save draft")
        settings = services.deps.settings
        attachments = await _attachments(services, who, sheet, form, settings.http.max_upload_bytes)
        draft = _draft(sheet, sender.display_name, attachments, settings.smtp.max_recipients)
        if action == "send":
            return await _send(request, who, sheet, draft, wants_json)
        return await _save(request, who, sheet, draft, wants_json)
    except (InvalidInput, QuotaExceeded, RateLimited) as exc:
        if wants_json:
            raise
        status = REFUSAL_STATUS.get(type(exc), 400)
        entries = await sidebar.mailboxes(services, who)
        here = sidebar.current(entries, sheet.mailbox_id or 0) or _own(entries, who)
        if here is None:
            raise
        kept = replace(sheet, carried=(), kept=frozenset())
        return await _page(request, who, entries, here, kept, status_code=status, error=str(exc))


REFUSAL_STATUS: dict[type[Exception], int] = {QuotaExceeded: 413, RateLimited: 429}


def _hostname(address: str) -> str:
    return address.rpartition("@")[2]


async def _send(
    request: Request, who: Viewer, sheet: Sheet, draft: Draft, wants_json: bool
) -> Response:
    services = services_of(request)
    raw = build_message(draft, hostname=_hostname(draft.from_addr))
    result = await services.submission.submit(
        who.ctx, draft.from_addr, envelope_recipients(draft), raw
    )
    if sheet.reply_of is not None:
        await _mark_answered(services, who, sheet.reply_of)
    if sheet.draft_of is not None:
        # Already gone, or never the viewer's to remove: either way the message is sent.
        with contextlib.suppress(NotFound, PermissionDenied):
            await services.drafts.discard(who.ctx, sheet.draft_of)
    if wants_json:
        return JSONResponse({"sent": result.sent_copy_id})
    entries = await sidebar.mailboxes(services, who)
    home = next((e for e in entries if e.mailbox.address == result.sender_mailbox), None)
    if home is None:
        return redirect("/")
    return redirect(f"/mail/{home.mailbox.id}/{home.special(SpecialUse.SENT).id}")


async def _mark_answered(services: Services, who: Viewer, message_id: int) -> None:
    """\\Answered on the original where the viewer may set flags (Write); else left alone."""
    try:
        summary = await services.messages.get_summary(who.ctx, message_id)
        if Flag.ANSWERED not in summary.flags:
            flags = summary.flags | Flag.ANSWERED
            await services.messages.set_flags(who.ctx, message_id, flags, summary.keywords)
    except (NotFound, PermissionDenied):
        pass


async def _save(
    request: Request, who: Viewer, sheet: Sheet, draft: Draft, wants_json: bool
) -> Response:
    if sheet.mailbox_id is None:
        raise InvalidInput("there is no mailbox to keep this draft in")
    raw = build_message(draft, hostname=_hostname(draft.from_addr), draft_flag=True)
    if draft.bcc:  # kept in the draft so it is not lost; submission drops Bcc when sent
        raw = headers.add_field(raw, "Bcc", ", ".join(draft.bcc))
    services = services_of(request)
    new_id = await services.drafts.save(who.ctx, sheet.mailbox_id, raw, replaces=sheet.draft_of)
    if wants_json:
        carried = _carried(draft.attachments)
        return JSONResponse(
            {
                "draft": new_id,
                "attachments": [
                    {"index": c.index, "filename": c.filename, "size": c.size} for c in carried
                ],
            }
        )
    return redirect(f"/compose?draft={new_id}&saved=1")
