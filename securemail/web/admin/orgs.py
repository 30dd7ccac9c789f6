"""Admin console: organisations, their mail domains and administrators (the service
administrator's page; for anybody else it does not exist)."""

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from securemail.core.errors import Conflict, InvalidInput
from securemail.web.admin.context import Admin, Console, page
from securemail.web.webmail.context import check_csrf, redirect, services_of

router = APIRouter(include_in_schema=False)

DONE = {
    "created": "The organisation was created.",
    "domain": "The domain was added.",
    "admin": "The administrator was appointed.",
}


async def _orgs_page(
    request: Request,
    admin: Console,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    sent: dict[str, Any] | None = None,
    notice: str = "",
) -> Response:
    orgs = await services_of(request).accounts.list_orgs(admin.who.ctx)
    return page(
        request, "admin_orgs.html", admin, status_code=status, orgs=orgs,
        errors=errors or {}, sent=sent or {}, notice=notice,
    )  # fmt: skip


@router.get("/admin/orgs")
async def orgs_page(request: Request, admin: Admin, done: str = "") -> Response:
    return await _orgs_page(request, admin, notice=DONE.get(done, ""))


@router.post("/admin/orgs")
async def create_org(request: Request, admin: Admin) -> Response:
    form = await check_csrf(request, admin.who)
    sent = {k: str(form.get(k, "")) for k in ("name", "domain")}
    try:
        await services_of(request).accounts.create_org(admin.who.ctx, sent["name"], sent["domain"])
    except (InvalidInput, Conflict) as exc:
        errors = {"create": str(exc)}
        return await _orgs_page(request, admin, status=400, errors=errors, sent=sent)
    return redirect("/admin/orgs?done=created")


@router.post("/admin/orgs/{org_id}")
async def change_org(request: Request, admin: Admin, org_id: int) -> Response:
    """Add a mail domain, or appoint an administrator, named by the button pressed."""
    form = await check_csrf(request, admin.who)
    accounts = services_of(request).accounts
    action = str(form.get("action", ""))
    value = str(form.get("value", ""))
    try:
        if action == "domain":
            await accounts.add_domain(admin.who.ctx, org_id, value)
        elif action == "admin":
            await accounts.appoint_admin(admin.who.ctx, org_id, value)
        else:
            raise InvalidInput("unknown action")
    except (InvalidInput, Conflict) as exc:
        errors = {f"{action}-{org_id}": str(exc)}
        sent = {f"{action}-{org_id}": value}
        return await _orgs_page(request, admin, status=400, errors=errors, sent=sent)
    return redirect(f"/admin/orgs?done={action}")
