"""Admin console: group mailboxes, their members and rights (grants through the sharing
service), rename, disable and delete. Every decision is the services'; refusals of a form are
shown next to the form that caused them."""

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from securemail.core.errors import Conflict, InvalidInput, PermissionDenied
from securemail.core.rights import RIGHT_NAMES, Right, format_rights
from securemail.web.admin.context import Admin, Console, page
from securemail.web.webmail.context import check_csrf, redirect, services_of

router = APIRouter(include_in_schema=False)
NEW_ROW = "__new__"  # the key of the "add member" row in the row errors
DONE = {
    "created": "The group mailbox was created. Add its members below.",
    "saved": "The rights were saved.",
    "renamed": "The display name was changed.",
    "disabled": "The group mailbox is disabled: it receives no mail and nobody can open it.",
    "enabled": "The group mailbox is enabled again.",
    "deleted": "The group mailbox was deleted.",
}
STATUS = {InvalidInput: 400, Conflict: 409, PermissionDenied: 403}


def _url(address: str) -> str:
    return "/admin/groups/" + quote(address, safe="")


def _status(exc: Exception) -> int:
    return next((code for kind, code in STATUS.items() if isinstance(exc, kind)), 400)


async def _list_page(
    request: Request,
    admin: Console,
    *,
    notice: str = "",
    error: str = "",
    status: int = 200,
    sent: dict[str, Any] | None = None,
) -> Response:
    rows = await services_of(request).groups.list_groups(admin.who.ctx)
    return page(
        request, "admin_groups.html", admin, status_code=status,
        rows=rows, notice=notice, create_error=error, sent=sent or {},
    )  # fmt: skip


@router.get("/admin/groups")
async def list_groups(request: Request, admin: Admin, done: str = "") -> Response:
    return await _list_page(request, admin, notice=DONE.get(done, ""))


@router.post("/admin/groups")
async def create_group(request: Request, admin: Admin) -> Response:
    """A new group mailbox (administrators only: the directory service decides)."""
    form = await check_csrf(request, admin.who)
    address = str(form.get("address", "")).strip()
    name = str(form.get("display_name", ""))
    try:
        group = await services_of(request).directory.create_group(
            admin.who.ctx, address, name or None
        )
    except (InvalidInput, Conflict) as exc:
        sent = {"address": address, "display_name": name}
        return await _list_page(request, admin, error=str(exc), status=400, sent=sent)
    return redirect(_url(group.address) + "?done=created")


async def _group_page(
    request: Request,
    admin: Console,
    address: str,
    *,
    notice: str = "",
    error: str = "",
    row_errors: dict[str, str] | None = None,
    status: int = 200,
    sent: dict[str, Any] | None = None,
) -> Response:
    detail = await services_of(request).groups.get_group(admin.who.ctx, address)
    members = {g.user_address for g in detail.members}
    return page(
        request, "admin_group.html", admin, status_code=status,
        group=detail, rights=list(RIGHT_NAMES.items()), new_row=NEW_ROW,
        member_rows=[(g, _names(g.rights)) for g in detail.members],
        others=[u for u in detail.candidates if u.address not in members],
        own=format_rights(detail.own_rights), notice=notice, error=error,
        row_errors=row_errors or {}, sent=sent or {},
    )  # fmt: skip


@router.get("/admin/groups/{address}")
async def show_group(request: Request, admin: Admin, address: str, done: str = "") -> Response:
    return await _group_page(request, admin, address, notice=DONE.get(done, ""))


def _names(rights: Right) -> list[str]:
    return [name for name, flag in RIGHT_NAMES.items() if flag in rights]


def _wanted(form: dict[str, Any]) -> Right:
    chosen = set(form["_form"].getlist("rights"))
    wanted = Right.NONE
    for name, flag in RIGHT_NAMES.items():
        if name in chosen:
            wanted |= flag
    if wanted and Right.READ not in wanted:
        raise InvalidInput("every right needs read: tick Read as well")
    return wanted


@router.post("/admin/groups/{address}/members")
async def save_member(request: Request, admin: Admin, address: str) -> Response:
    """Save one row of the members table: grant what was ticked and not held, then revoke
    what is held and not ticked (a refused grant changes nothing). No box ticked: the member
    loses the mailbox."""
    form = await check_csrf(request, admin.who)
    services = services_of(request)
    user = str(form.get("user", "")).strip()
    row = str(form.get("row", "")) or user
    detail = await services.groups.get_group(admin.who.ctx, address)
    held = next((g.rights for g in detail.members if g.user_address == user), Right.NONE)
    try:
        if not user:
            raise InvalidInput("choose a user")
        wanted = _wanted(form)
        if row == NEW_ROW and not wanted:
            raise InvalidInput("tick at least Read to add a member")
        if wanted & ~held:  # only what is added: a Manage holder may keep rights they lack
            await services.sharing.grant(
                admin.who.ctx, detail.mailbox.address, user, wanted & ~held
            )
        if held & ~wanted:
            await services.sharing.revoke(
                admin.who.ctx, detail.mailbox.address, user, held & ~wanted
            )
    except (InvalidInput, Conflict, PermissionDenied) as exc:
        sent = {"row": row, "user": user, "rights": form["_form"].getlist("rights")}
        return await _group_page(
            request, admin, address, row_errors={row: str(exc)}, status=_status(exc), sent=sent
        )
    return redirect(_url(detail.mailbox.address) + "?done=saved")


@router.post("/admin/groups/{address}/rename")
async def rename_group(request: Request, admin: Admin, address: str) -> Response:
    form = await check_csrf(request, admin.who)
    name = str(form.get("display_name", ""))
    try:
        group = await services_of(request).groups.rename(admin.who.ctx, address, name)
    except (InvalidInput, Conflict) as exc:
        return await _group_page(
            request, admin, address, row_errors={"rename": str(exc)}, status=400,
            sent={"display_name": name},
        )  # fmt: skip
    return redirect(_url(group.address) + "?done=renamed")


@router.post("/admin/groups/{address}/disable")
async def disable_group(request: Request, admin: Admin, address: str) -> Response:
    form = await check_csrf(request, admin.who)
    disabled = str(form.get("disabled", "")) != "0"
    group = await services_of(request).groups.set_disabled(admin.who.ctx, address, disabled)
    return redirect(_url(group.address) + ("?done=disabled" if disabled else "?done=enabled"))


@router.post("/admin/groups/{address}/delete")
async def delete_group(request: Request, admin: Admin, address: str) -> Response:
    """Delete an empty group mailbox; the form's confirmation box must be ticked."""
    form = await check_csrf(request, admin.who)
    confirmed = str(form.get("confirm", "")) == "yes"
    try:
        await services_of(request).groups.delete(admin.who.ctx, address, confirmed=confirmed)
    except (InvalidInput, Conflict) as exc:
        return await _group_page(
            request, admin, address, row_errors={"delete": str(exc)}, status=_status(exc)
        )
    return redirect("/admin/groups?done=deleted")
