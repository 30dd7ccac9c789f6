"""Managing a mailbox's folders: list them, create, rename and delete (WRITE on the mailbox)."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from securemail.core.errors import Conflict, InvalidInput, NotFound, QuotaExceeded
from securemail.core.model import FOLDER_SEPARATOR, Folder
from securemail.web.webmail import sidebar
from securemail.web.webmail.context import (
    Viewer,
    check_csrf,
    redirect,
    render,
    services_of,
    viewer,
)

router = APIRouter(include_in_schema=False)
Who = Annotated[Viewer, Depends(viewer)]
DONE = {"created": "Folder created.", "renamed": "Folder renamed.", "deleted": "Folder deleted."}
# A refused change re-renders the page with the service's message, under this status.
REFUSED: dict[type[Exception], int] = {InvalidInput: 400, Conflict: 409, QuotaExceeded: 413}


async def _here(
    request: Request, who: Viewer, mailbox_id: int
) -> tuple[list[sidebar.MailboxEntry], sidebar.MailboxEntry]:
    entries = await sidebar.mailboxes(services_of(request), who)
    here = sidebar.current(entries, mailbox_id)
    if here is None:
        raise NotFound("no such mailbox")
    return entries, here


def _rows(here: sidebar.MailboxEntry) -> list[dict[str, Any]]:
    """Each folder with what the page may offer: standard folders are never renamed or
    deleted; a folder is deleted only when empty and without subfolders (as the service says)."""
    names = [f.name for f in here.folders]
    rows = []
    for f in here.folders:
        has_children = any(n.startswith(f.name + FOLDER_SEPARATOR) for n in names)
        rows.append(
            {
                "folder": f,
                "standard": f.special_use is not None,
                "deletable": f.special_use is None and f.total == 0 and not has_children,
                "has_children": has_children,
            }
        )
    return rows


def _page(
    request: Request,
    who: Viewer,
    entries: list[sidebar.MailboxEntry],
    here: sidebar.MailboxEntry,
    *,
    error: str = "",
    notice: str = "",
    status: int = 200,
    form: dict[str, Any] | None = None,
) -> Response:
    return render(
        request,
        "folders.html",
        status_code=status,
        who=who,
        entries=entries,
        here=here,
        rows=_rows(here),
        can_change=here.can("write"),
        separator=FOLDER_SEPARATOR,
        error=error,
        notice=notice,
        sent=form or {},
    )


@router.get("/mail/{mailbox_id:int}/folders")
async def folders_page(request: Request, who: Who, mailbox_id: int, done: str = "") -> Response:
    entries, here = await _here(request, who, mailbox_id)
    return _page(request, who, entries, here, notice=DONE.get(done, ""))


def _folder_here(here: sidebar.MailboxEntry, form: dict[str, Any]) -> Folder:
    """The folder named by the form, which must belong to the mailbox of the URL."""
    value = str(form.get("folder_id", ""))
    folder = next(
        (f for f in here.folders if (value.isascii() and value.isdigit()) and f.id == int(value)),
        None,
    )
    if folder is None:
        raise NotFound("no such folder")
    return folder


@router.post("/mail/{mailbox_id:int}/folders")
async def change_folders(request: Request, who: Who, mailbox_id: int) -> Response:
    """Create, rename or delete one folder; a refusal re-renders the page and changes nothing."""
    form = await check_csrf(request, who)
    entries, here = await _here(request, who, mailbox_id)
    action = str(form.get("action", ""))
    name = str(form.get("name", ""))
    mailboxes = services_of(request).mailboxes
    try:
        if action == "create":
            await mailboxes.create_folder(who.ctx, mailbox_id, name)
            done = "created"
        elif action == "rename":
            await mailboxes.rename_folder(who.ctx, _folder_here(here, form).id, name)
            done = "renamed"
        elif action == "delete":
            await mailboxes.delete_folder(who.ctx, _folder_here(here, form).id)
            done = "deleted"
        else:
            raise InvalidInput("unknown action")
    except (InvalidInput, Conflict, QuotaExceeded) as exc:
        status = next(code for kind, code in REFUSED.items() if isinstance(exc, kind))
        return _page(request, who, entries, here, error=str(exc), status=status, form=form)
    return redirect(f"/mail/{mailbox_id}/folders?done={done}")
