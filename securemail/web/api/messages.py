"""/api/v1 messages: open (rendered, sanitised), raw download, flags, move, copy, delete, and
send through the same submission checks as every other channel."""

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from securemail.core.errors import InvalidInput
from securemail.core.model import Flag
from securemail.mail.compose import Draft, build_message, envelope_recipients
from securemail.mail.render import render
from securemail.web.api.auth import Auth, services_of
from securemail.web.api.models import (
    FLAG_NAMES,
    MAX_ID,
    AttachmentOut,
    HeaderOut,
    IdList,
    MessageDetail,
    MessageOut,
    MessagePatch,
    SendRequest,
    SendResult,
    Transfer,
)

router = APIRouter(tags=["messages"])

PathId = Annotated[int, Path(ge=1, le=MAX_ID)]
RAW_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The message as stored (RFC 5322)",
        "content": {"message/rfc822": {"schema": {"type": "string", "format": "binary"}}},
    }
}


@router.get("/messages/{message_id}", response_model=MessageDetail)
async def get_message(request: Request, who: Auth, message_id: PathId) -> MessageDetail:
    """A message with its headers, text body and sanitised HTML body; it stays unread
    (PATCH `seen` to mark it). Opening a group mailbox's message is audited."""
    services = services_of(request)
    opened = await services.messages.open_message(who.ctx, message_id, mark_seen=False)
    shown = await asyncio.to_thread(render, opened.raw)
    return MessageDetail(
        message=MessageOut.of(opened.summary),
        headers=[HeaderOut(name=n, value=v) for n, v in shown.headers],
        text=shown.text,
        html=shown.html,
        remote_blocked=shown.remote_blocked,
        attachments=[AttachmentOut.of(a) for a in shown.attachments],
        read_by=list(opened.read_by),
    )


@router.get("/messages/{message_id}/raw", response_class=Response, responses=RAW_RESPONSE)
async def get_raw(request: Request, who: Auth, message_id: PathId) -> Response:
    """The stored message, to download (message/rfc822)."""
    raw = await services_of(request).messages.read_raw(who.ctx, message_id, part="raw")
    disposition = f'attachment; filename="message-{message_id}.eml"'
    return Response(raw, media_type="message/rfc822", headers={"Content-Disposition": disposition})


@router.patch("/messages/{message_id}", response_model=MessageOut)
async def patch_message(
    request: Request, who: Auth, message_id: PathId, body: MessagePatch
) -> MessageOut:
    """Your own read state (`seen`, Read is enough); the shared flags and keywords (Write;
    `deleted` needs Delete)."""
    messages = services_of(request).messages
    summary = await messages.get_summary(who.ctx, message_id)
    flags = summary.flags
    if body.flags is not None:
        flags = Flag.NONE
        for name in body.flags:
            flags |= FLAG_NAMES[name]
    if body.flagged is not None:
        flags = flags | Flag.FLAGGED if body.flagged else flags & ~Flag.FLAGGED
    keywords = tuple(body.keywords) if body.keywords is not None else summary.keywords
    if flags != summary.flags or set(keywords) != set(summary.keywords):
        await messages.set_flags(who.ctx, message_id, flags, keywords)
    if body.seen is not None and body.seen != summary.seen:
        await messages.set_seen(who.ctx, message_id, body.seen)
    return MessageOut.of(await messages.get_summary(who.ctx, message_id))


@router.post("/messages/move", response_model=IdList)
async def move(request: Request, who: Auth, body: Transfer) -> IdList:
    """Move into a folder: Write there; Delete where they leave another mailbox; Delete as
    well to move into a Trash."""
    await services_of(request).messages.move(who.ctx, body.ids, body.folder_id)
    return IdList(ids=list(dict.fromkeys(body.ids)))


@router.post("/messages/copy", response_model=IdList, status_code=201)
async def copy(request: Request, who: Auth, body: Transfer) -> IdList:
    """Copy into a folder (Read on the source, Write on the target); returns the new ids."""
    new_ids = await services_of(request).messages.copy(who.ctx, body.ids, body.folder_id)
    return IdList(ids=new_ids)


@router.delete("/messages/{message_id}", status_code=204)
async def delete_message(request: Request, who: Auth, message_id: PathId) -> None:
    """Move to the mailbox's Trash; from the Trash, remove for good. Needs Delete."""
    await services_of(request).messages.delete(who.ctx, [message_id])


@router.post("/send", response_model=SendResult, status_code=202)
async def send(request: Request, who: Auth, body: SendRequest) -> SendResult:
    """Send a text message as yourself or as a group mailbox you hold Mail on; the copy is
    kept in that mailbox's Sent. Local recipients get it at once, others are queued."""
    services = services_of(request)
    sender = await services.submission.require_sender(who.ctx, body.from_addr)
    draft = Draft(
        from_addr=body.from_addr,
        from_name=sender.display_name if body.from_name is None else body.from_name,
        to=tuple(body.to),
        cc=tuple(body.cc),
        bcc=tuple(body.bcc),
        subject=body.subject,
        body=body.body,
        in_reply_to=body.in_reply_to,
        references=body.references,
    )
    recipients = envelope_recipients(draft)
    limit = services.deps.settings.smtp.max_recipients
    if len(recipients) > limit:
        raise InvalidInput(f"too many recipients: at most {limit}")
    hostname = services.deps.settings.server.hostname
    raw = await asyncio.to_thread(build_message, draft, hostname=hostname)
    result = await services.submission.submit(who.ctx, body.from_addr, recipients, raw)
    return SendResult(
        sent_copy_id=result.sent_copy_id,
        sender=result.sender_mailbox,
        local=list(result.local),
        queued=list(result.queued),
    )
