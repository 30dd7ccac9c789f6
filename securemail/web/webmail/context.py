"""What every webmail page shares: the viewer behind the cookie, CSRF, templates, errors."""

import hmac
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from securemail.core.context import AccessContext
from securemail.core.errors import AuthenticationFailed, PermissionDenied
from securemail.services.registry import Services
from securemail.services.sessions import WebSession

SESSION_COOKIE = "sm_session"
LOGIN_CSRF_COOKIE = "sm_login"
DUTY_PAGES = {"password": "/settings/password", "second-factor": "/settings/security"}
TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


class LoginRequired(Exception):
    """The request has no usable session: send the browser to `location`."""

    def __init__(self, location: str) -> None:
        self.location = location


@dataclass(frozen=True)
class Viewer:
    """The logged-in user of one request, with the session it came with."""

    ctx: AccessContext
    session: WebSession
    token: str


def make_templates() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["urlpart"] = lambda value: quote(str(value), safe="")
    return env


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def render(request: Request, name: str, status_code: int = 200, **values: Any) -> HTMLResponse:
    env: Environment = request.app.state.templates
    html = env.get_template(name).render(request=request, **values)
    return HTMLResponse(html, status_code=status_code)


def remote_of(request: Request) -> str:
    return request.client.host if request.client else ""


async def viewer(request: Request) -> Viewer:
    """The active session behind the cookie, else LoginRequired (login or second factor)."""
    token = request.cookies.get(SESSION_COOKIE, "")
    services = services_of(request)
    try:
        ctx, session = await services.sessions.resolve(token)
    except AuthenticationFailed:
        raise LoginRequired("/login") from None
    if ctx is None:
        raise LoginRequired("/login/second-factor")
    duty_page = DUTY_PAGES.get(session.duty)
    if duty_page and not request.url.path.startswith((duty_page, "/logout", "/static/")):
        raise LoginRequired(duty_page)  # a forced password change or second-factor enrolment
    return Viewer(ctx=ctx, session=session, token=token)


async def check_csrf(request: Request, who: Viewer) -> dict[str, Any]:
    """The submitted form, once its CSRF token matches the session's; PermissionDenied if not.
    Scripted requests may send the token in an X-CSRF-Token header instead."""
    form = await request.form(max_files=50, max_fields=500)
    sent = str(form.get("csrf") or request.headers.get("x-csrf-token", ""))
    if not hmac.compare_digest(sent.encode(), who.session.csrf_token.encode()):
        raise PermissionDenied("the form has expired: reload the page and try again")
    return dict(form.multi_items()) | {"_form": form}


def secure(request: Request) -> bool:
    return request.url.scheme == "https" or services_of(request).deps.settings.http.secure_cookies


def set_session_cookie(response: Response, request: Request, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE, token, httponly=True, secure=secure(request), samesite="strict", path="/"
    )


def login_csrf(request: Request) -> str:
    """The double-submit token of the login forms (no session exists yet)."""
    return request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)


def redirect(location: str) -> RedirectResponse:
    return RedirectResponse(location, status_code=303)
