"""Settings: app passwords, the per-protocol passwords mail clients log in with."""

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from securemail.core.errors import InvalidInput, NotFound
from securemail.services.credentials import MAX_LABEL
from securemail.web.webmail.context import Viewer, check_csrf, redirect, services_of
from securemail.web.webmail.settings_common import Who, form_int, page

router = APIRouter(include_in_schema=False)
PROTOCOL_NAMES = {"imap": "IMAP", "pop3": "POP3", "smtp": "SMTP submission"}
DONE = {"revoked": "The app password was revoked: clients using it can no longer log in."}


async def _page(
    request: Request,
    who: Viewer,
    *,
    created: str = "",
    created_label: str = "",
    notice: str = "",
    error: str = "",
    status: int = 200,
    sent: dict[str, Any] | None = None,
) -> Response:
    services = services_of(request)
    passwords = await services.credentials.list_app_passwords(who.ctx, who.ctx.address)
    enrolled = await services.credentials.has_second_factor(who.ctx)
    return await page(
        request, who, "settings_app_passwords.html", status=status,
        passwords=passwords, enrolled=enrolled, protocols=PROTOCOL_NAMES,
        created=created, created_label=created_label, notice=notice, error=error,
        sent=sent or {"protocols": list(PROTOCOL_NAMES)},
    )  # fmt: skip


@router.get("/settings/app-passwords")
async def app_passwords_page(request: Request, who: Who, done: str = "") -> Response:
    return await _page(request, who, notice=DONE.get(done, ""))


@router.post("/settings/app-passwords")
async def create_app_password(request: Request, who: Who) -> Response:
    """A new app password for the ticked protocols, shown on this page once and never again."""
    form = await check_csrf(request, who)
    chosen = [p for p in form["_form"].getlist("protocols") if p in PROTOCOL_NAMES]
    label = str(form.get("label", ""))
    sent = {"label": label, "protocols": chosen}
    try:
        if not chosen:
            raise InvalidInput("tick at least one protocol the client may use")
        secret = await services_of(request).credentials.create_app_password(
            who.ctx, who.ctx.address, label, ",".join(chosen)
        )
    except InvalidInput as exc:
        return await _page(request, who, error=str(exc), status=400, sent=sent)
    shown_label = " ".join(label.split())[:MAX_LABEL] or "mail client"
    return await _page(request, who, created=secret, created_label=shown_label)


@router.post("/settings/app-passwords/revoke")
async def revoke_app_password(request: Request, who: Who) -> Response:
    form = await check_csrf(request, who)
    password_id = form_int(form, "id")
    if password_id is None:
        raise NotFound("no such app password")
    await services_of(request).credentials.revoke_app_password(
        who.ctx, who.ctx.address, password_id
    )
    return redirect("/settings/app-passwords?done=revoked")
