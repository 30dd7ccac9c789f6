"""Changing mail from a list or a message: move, copy, delete, read state, flags, Trash."""

from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from securemail.core.errors import InvalidInput, NotFound
from securemail.core.model import Flag
from securemail.web.webmail.context import Viewer, check_csrf, redirect, services_of, viewer

router = APIRouter(include_in_schema=False)
Who = Annotated[Viewer, Depends(viewer)]
MAX_SELECTION = 500


def _ids(form: dict[str, object]) -> list[int]:
    values = form["_form"].getlist("ids")  # type: ignore[attr-defined]
    if not values:
        raise InvalidInput("select at least one message")
    if len(values) > MAX_SELECTION:
        raise InvalidInput(f"select at most {MAX_SELECTION} messages")
    try:
        return [int(v) for v in values]
    except ValueError:
        raise InvalidInput("bad message selection") from None


def _folder(form: dict[str, object], field: str) -> int:
    value = str(form.get(field, ""))
    if not (value.isascii() and value.isdigit()):
        raise InvalidInput("choose a folder first")
    return int(value)


def _back(form: dict[str, object], default: str) -> str:
    back = str(form.get("back", ""))
    return back if back.startswith("/mail/") and "//" not in back else default


@router.post("/mail/{mailbox_id:int}/{folder_id:int}/actions")
async def act(request: Request, who: Who, mailbox_id: int, folder_id: int) -> Response:
    """One action on the selected messages; the services refuse what the rights do not allow."""
    form = await check_csrf(request, who)
    ids = _ids(form)
    action = str(form.get("action", ""))
    services = services_of(request)
    folder = await services.mailboxes.get_folder(who.ctx, folder_id)
    if folder.mailbox_id != mailbox_id:
        raise NotFound("no such folder")
    for message_id in ids:  # the selection must be what the page showed: this folder's mail
        if (await services.messages.get_summary(who.ctx, message_id)).folder_id != folder_id:
            raise NotFound("no such message")
    messages = services.messages
    if action == "move":
        await messages.move(who.ctx, ids, _folder(form, "move_to"))
    elif action == "copy":
        await messages.copy(who.ctx, ids, _folder(form, "copy_to"))
    elif action == "delete":
        await messages.delete(who.ctx, ids)
    elif action in ("read", "unread"):
        for message_id in ids:
            await messages.set_seen(who.ctx, message_id, action == "read")
    elif action in ("flag", "unflag"):
        for message_id in ids:
            summary = await messages.get_summary(who.ctx, message_id)
            flags = (
                summary.flags | Flag.FLAGGED if action == "flag" else summary.flags & ~Flag.FLAGGED
            )
            await messages.set_flags(who.ctx, message_id, flags, summary.keywords)
    else:
        raise InvalidInput("unknown action")
    return redirect(_back(form, f"/mail/{mailbox_id}/{folder_id}"))


@router.post("/mail/{mailbox_id:int}/empty-trash")
async def empty_trash(request: Request, who: Who, mailbox_id: int) -> Response:
    await check_csrf(request, who)
    await services_of(request).messages.empty_trash(who.ctx, mailbox_id)
    return redirect(f"/mail/{mailbox_id}")
