"""Webmail settings: personal API tokens for /api/v1 (created, shown once, revoked)."""

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from securemail.core.errors import InvalidInput
from securemail.web.webmail.context import check_csrf, redirect, services_of
from securemail.web.webmail.settings_common import Who, form_int, page

router = APIRouter(include_in_schema=False)
TEMPLATE = "settings_tokens.html"


async def _page(request: Request, who: Who, *, status: int = 200, **values: object) -> Response:
    tokens = await services_of(request).api_tokens.list(who.ctx)
    return await page(request, who, TEMPLATE, status=status, tokens=tokens, **values)


@router.get("/settings/api-tokens")
async def tokens_page(request: Request, who: Who) -> Response:
    return await _page(request, who)


@router.post("/settings/api-tokens")
async def create_token(request: Request, who: Who) -> Response:
    form = await check_csrf(request, who)
    label = str(form.get("label", ""))
    scope = str(form.get("scope", "read"))
    days = form_int(form, "days")
    try:
        if days is None:
            raise InvalidInput("give the number of days the token stays valid")
        secret = await services_of(request).api_tokens.create(who.ctx, label, scope, days)
    except InvalidInput as refused:
        return await _page(request, who, status=400, error=str(refused))
    return await _page(request, who, created=secret, created_label=label)


@router.post("/settings/api-tokens/revoke")
async def revoke_token(request: Request, who: Who) -> Response:
    form = await check_csrf(request, who)
    token_id = form_int(form, "id")
    if token_id is None:
        raise InvalidInput("no such token")
    await services_of(request).api_tokens.revoke(who.ctx, token_id)
    return redirect("/settings/api-tokens")
