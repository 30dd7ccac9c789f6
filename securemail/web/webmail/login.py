"""Logging in (password, then TOTP or a recovery code) and out."""

import hmac

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from securemail.core.errors import AuthenticationFailed
from securemail.web.webmail.context import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    login_csrf,
    redirect,
    remote_of,
    render,
    secure,
    services_of,
    set_session_cookie,
)

router = APIRouter(include_in_schema=False)
FAILED_MESSAGE = "Wrong address, password or code, or the account is locked."


def _login_page(request: Request, template: str, error: str = "", status: int = 200) -> Response:
    token = login_csrf(request)
    response = render(request, template, status_code=status, csrf=token, error=error)
    response.set_cookie(
        LOGIN_CSRF_COOKIE, token, httponly=True, secure=secure(request), samesite="strict"
    )
    return response


async def _login_form(request: Request) -> dict[str, str] | None:
    """The posted fields, or None when the double-submitted token does not match."""
    form = await request.form(max_files=0, max_fields=10)
    fields = {k: str(v) for k, v in form.items()}
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    sent = fields.get("csrf", "")
    if not cookie or not hmac.compare_digest(cookie.encode(), sent.encode()):
        return None
    return fields


@router.get("/login")
async def login_page(request: Request) -> Response:
    return _login_page(request, "login.html")


@router.post("/login")
async def login(request: Request) -> Response:
    fields = await _login_form(request)
    if fields is None:
        return _login_page(request, "login.html", "The form expired: please try again.", 400)
    services = services_of(request)
    try:
        token, session = await services.sessions.login(
            fields.get("address", ""),
            fields.get("password", ""),
            remote=remote_of(request),
            user_agent=request.headers.get("user-agent", ""),
        )
    except AuthenticationFailed:
        return _login_page(request, "login.html", FAILED_MESSAGE, 401)
    target = "/" if session.stage == "active" else "/login/second-factor"
    response = redirect(target)
    set_session_cookie(response, request, token)
    return response


@router.get("/login/second-factor")
async def second_factor_page(request: Request) -> Response:
    if not request.cookies.get(SESSION_COOKIE):
        return redirect("/login")
    return _login_page(request, "second_factor.html")


@router.post("/login/second-factor")
async def second_factor(request: Request) -> Response:
    fields = await _login_form(request)
    if fields is None:
        return _login_page(request, "second_factor.html", "The form expired.", 400)
    services = services_of(request)
    token = request.cookies.get(SESSION_COOKIE, "")
    try:
        await services.sessions.second_factor(
            token, fields.get("code", ""), remote=remote_of(request)
        )
    except AuthenticationFailed:
        response = _login_page(request, "login.html", FAILED_MESSAGE, 401)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response
    return redirect("/")


@router.post("/logout")
async def logout(request: Request) -> Response:
    fields = await request.form(max_files=0, max_fields=10)
    token = request.cookies.get(SESSION_COOKIE, "")
    services = services_of(request)
    try:
        _ctx, session = await services.sessions.resolve(token)
    except AuthenticationFailed:
        return redirect("/login")
    if not hmac.compare_digest(str(fields.get("csrf", "")).encode(), session.csrf_token.encode()):
        return redirect("/")  # a cross-site form cannot log anybody out
    await services.sessions.logout(token)
    response = redirect("/login")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
