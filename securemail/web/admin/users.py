"""Admin console: users (list, create, import from CSV, disable, reset, administrators,
sessions). Every decision is the services'; these pages only show and submit."""

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from securemail.core.errors import Conflict, InvalidInput, NotFound
from securemail.services.accounts import (
    MAX_IMPORT_BYTES,
    MAX_IMPORT_ROWS,
    AddressRefused,
    AddressTaken,
    NameRefused,
    PasswordRefused,
)
from securemail.web.admin.context import Admin, Console, page
from securemail.web.webmail.context import check_csrf, redirect, services_of

router = APIRouter(include_in_schema=False)

UPLOAD_SLACK = 64 * 1024  # multipart framing around the file
FIELDS: tuple[tuple[type[Exception], str], ...] = (
    (AddressRefused, "address"),
    (AddressTaken, "address"),
    (NameRefused, "display_name"),
    (PasswordRefused, "password"),
)
DONE = {
    "disabled": "The account was disabled: the user's sessions end at their next request.",
    "enabled": "The account was enabled.",
    "second-factor": "The second factor was reset: the user enrols a new one.",
    "admin": "The user is now an administrator of the organisation.",
    "user": "The user is no longer an administrator.",
    "ended": "The session was ended.",
    "ended-all": "Every session of the user was ended.",
}


def _field(exc: Exception) -> str:
    return next((name for kind, name in FIELDS if isinstance(exc, kind)), "form")


def org_param(request: Request) -> int | None:
    """The organisation picked with ?org=<id> (the service administrator's choice)."""
    value = request.query_params.get("org", "").strip()
    return int(value) if (value.isascii() and value.isdigit()) and len(value) < 19 else None


def _org_query(org_id: int | None) -> str:
    return f"?org={org_id}" if org_id is not None else ""


async def _users_page(
    request: Request,
    admin: Console,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    sent: dict[str, Any] | None = None,
) -> Response:
    services = services_of(request)
    org_id = org_param(request)
    accounts = await services.accounts.list_accounts(admin.who.ctx, org_id)
    orgs = await services.directory.list_orgs(admin.who.ctx) if admin.is_service_admin else []
    return page(
        request, "admin_users.html", admin, status_code=status, accounts=accounts, orgs=orgs,
        org_id=org_id, org_query=_org_query(org_id), errors=errors or {}, sent=sent or {},
    )  # fmt: skip


@router.get("/admin/users")
async def users_page(request: Request, admin: Admin) -> Response:
    return await _users_page(request, admin)


@router.post("/admin/users")
async def create_user(request: Request, admin: Admin) -> Response:
    """Create one user; a generated one-time password is shown once, on the next page."""
    form = await check_csrf(request, admin.who)
    sent = {k: str(form.get(k, "")) for k in ("address", "display_name", "admin")}
    try:
        user, generated = await services_of(request).accounts.create_user(
            admin.who.ctx,
            sent["address"],
            display_name=sent["display_name"],
            admin=sent["admin"] == "1",
            password=str(form.get("password") or "") or None,
        )
    except (InvalidInput, Conflict) as exc:
        errors = {_field(exc): str(exc)}
        return await _users_page(request, admin, status=400, errors=errors, sent=sent)
    notice = f"{user.address} was created."
    return await _user_page(request, admin, user.address, notice=notice, secret=generated)


# --- import ----------------------------------------------------------------------------------


def _import_page(
    request: Request, admin: Console, *, status: int = 200, error: str = "", report: Any = None
) -> Response:
    org_id = org_param(request)
    return page(
        request, "admin_import.html", admin, status_code=status, upload_error=error, report=report,
        org_query=_org_query(org_id), max_rows=MAX_IMPORT_ROWS,
        max_kib=MAX_IMPORT_BYTES // 1024,
    )  # fmt: skip


@router.get("/admin/users/import")
async def import_page(request: Request, admin: Admin) -> Response:
    await services_of(request).accounts.list_accounts(admin.who.ctx, org_param(request))
    return _import_page(request, admin)


@router.post("/admin/users/import")
async def import_users(request: Request, admin: Admin) -> Response:
    """Create the users of an uploaded CSV file and show what became of every row. Who may
    import is asked first: a caller who may not is refused before the upload is looked at."""
    services_of(request).accounts.require_importer(admin.who.ctx, org_param(request))
    length = request.headers.get("content-length", "")
    if (length.isascii() and length.isdigit()) and int(length) > MAX_IMPORT_BYTES + UPLOAD_SLACK:
        error = f"The file is larger than {MAX_IMPORT_BYTES // 1024} KiB: split it."
        return _import_page(request, admin, status=413, error=error)
    form = await check_csrf(request, admin.who)
    upload = form["_form"].get("file")
    if not isinstance(upload, UploadFile):
        return _import_page(request, admin, status=400, error="Choose a CSV file to upload.")
    data = await upload.read(MAX_IMPORT_BYTES + 1)
    if len(data) > MAX_IMPORT_BYTES:
        error = f"The file is larger than {MAX_IMPORT_BYTES // 1024} KiB: split it."
        return _import_page(request, admin, status=413, error=error)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return _import_page(request, admin, status=400, error="The file must be UTF-8 text.")
    try:
        report = await services_of(request).accounts.import_users(
            admin.who.ctx, text, org_param(request)
        )
    except InvalidInput as exc:
        return _import_page(request, admin, status=400, error=str(exc))
    return _import_page(request, admin, report=report)


# --- one user --------------------------------------------------------------------------------


async def _user_page(
    request: Request,
    admin: Console,
    address: str,
    *,
    status: int = 200,
    notice: str = "",
    error: str = "",
    secret: str | None = None,
) -> Response:
    account, sessions = await services_of(request).accounts.get_account(admin.who.ctx, address)
    return page(
        request, "admin_user.html", admin, status_code=status, account=account,
        sessions=sessions, notice=notice, error=error, secret=secret,
    )  # fmt: skip


@router.get("/admin/users/{address:path}")
async def user_page(request: Request, admin: Admin, address: str, done: str = "") -> Response:
    return await _user_page(request, admin, address, notice=DONE.get(done, ""))


def _session_id(form: dict[str, Any]) -> int:
    value = str(form.get("id", "")).strip()
    if not (value.isascii() and value.isdigit()) or len(value) > 18:
        raise NotFound("no such session")
    return int(value)


@router.post("/admin/users/{address:path}")
async def user_action(request: Request, admin: Admin, address: str) -> Response:
    """One change to one user, named by the button pressed (`action`)."""
    form = await check_csrf(request, admin.who)
    services = services_of(request)
    ctx = admin.who.ctx
    action = str(form.get("action", ""))
    try:
        if action in ("disable", "enable"):
            await services.directory.set_user_disabled(ctx, address, action == "disable")
            done = f"{action}d"
        elif action == "password":
            secret = await services.directory.reset_password(ctx, address)
            notice = "The password was reset: the user must change it at the next login."
            return await _user_page(request, admin, address, notice=notice, secret=secret)
        elif action == "second-factor":
            await services.credentials.reset_second_factor(ctx, address)
            done = "second-factor"
        elif action in ("make-admin", "remove-admin"):
            await services.accounts.set_admin(ctx, address, action == "make-admin")
            done = "admin" if action == "make-admin" else "user"
        elif action in ("end-session", "end-all"):
            one = _session_id(form) if action == "end-session" else None
            await services.accounts.end_sessions(ctx, address, one)
            done = "ended" if one is not None else "ended-all"
        else:
            raise InvalidInput("unknown action")
    except (InvalidInput, Conflict) as exc:
        return await _user_page(request, admin, address, status=400, error=str(exc))
    return redirect(f"/admin/users/{quote(address, safe='@')}?done={done}")
