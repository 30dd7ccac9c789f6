"""The admin console: organisations, users, group mailboxes and grants, policy, audit."""

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from securemail.web.admin import audit, groups, orgs, policy, users
from securemail.web.admin.context import Admin, page

home = APIRouter(include_in_schema=False)


@home.get("/admin")
async def overview(request: Request, admin: Admin) -> Response:
    return page(request, "admin_home.html", admin)


ROUTERS: tuple[APIRouter, ...] = (
    home,
    users.router,
    groups.router,
    policy.router,
    audit.router,
    orgs.router,
)
