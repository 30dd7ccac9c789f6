"""Webmail settings: overview, sessions, mail-client settings and the password; the second
factor and app passwords live in settings_security and settings_app_passwords."""

from contextlib import suppress
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from securemail.core.errors import InvalidInput, NotFound
from securemail.services.auth import GROUP_LOGIN_SEPARATOR
from securemail.web.webmail import settings_app_passwords, settings_security, sidebar
from securemail.web.webmail.context import (
    SESSION_COOKIE,
    Viewer,
    check_csrf,
    redirect,
    services_of,
)
from securemail.web.webmail.settings_common import Who, form_int, page

router = APIRouter(include_in_schema=False)
router.include_router(settings_security.router)
router.include_router(settings_app_passwords.router)

SHARED_PREFIX = "Shared"  # the IMAP shared namespace the group mailboxes appear under
AUTOCONFIG = "/.well-known/autoconfig/mail/config-v1.1.xml"
DONE = {
    "ended": "The session was ended.",
    "password": "Your password was changed.",
    "password-others": "Your password was changed and your other sessions were ended.",
}


@router.get("/settings")
async def overview(request: Request, who: Who, done: str = "") -> Response:
    services = services_of(request)
    enrolled = await services.credentials.has_second_factor(who.ctx)
    return await page(request, who, "settings.html", enrolled=enrolled, notice=DONE.get(done, ""))


# --- sessions ---------------------------------------------------------------------------


BROWSERS = (("Edg/", "Edge"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"),
            ("Safari/", "Safari"), ("curl/", "curl"))  # fmt: skip
SYSTEMS = (("Android", "Android"), ("iPhone", "iPhone"), ("iPad", "iPad"),
           ("Windows", "Windows"), ("Mac OS X", "macOS"), ("Linux", "Linux"))  # fmt: skip


def browser_name(user_agent: str) -> str:
    """A short name for a User-Agent ("Firefox on Windows"), or "" when none is recognised."""
    browser = next((name for mark, name in BROWSERS if mark in user_agent), "")
    system = next((name for mark, name in SYSTEMS if mark in user_agent), "")
    return f"{browser} on {system}" if browser and system else browser or system


@router.get("/settings/sessions")
async def sessions_page(request: Request, who: Who, done: str = "") -> Response:
    sessions = await services_of(request).sessions.list_sessions(who.ctx)
    sessions.sort(key=lambda s: (s.id != who.session.id, -s.last_seen_at.timestamp()))
    rows = [(s, browser_name(s.user_agent)) for s in sessions]
    return await page(request, who, "settings_sessions.html", rows=rows, notice=DONE.get(done, ""))


@router.post("/settings/sessions/end")
async def end_session(request: Request, who: Who) -> Response:
    """End one of the user's sessions; ending this one logs this browser out."""
    form = await check_csrf(request, who)
    session_id = form_int(form, "id")
    if session_id is None:
        raise NotFound("no such session")
    await services_of(request).sessions.end_session(who.ctx, session_id)
    if session_id != who.session.id:
        return redirect("/settings/sessions?done=ended")
    response = redirect("/login")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# --- mail clients -----------------------------------------------------------------------


def _group_logins(who: Viewer, entries: list[sidebar.MailboxEntry]) -> list[dict[str, str]]:
    """For each readable group mailbox: the login that opens it as the account, and where
    IMAP shows it in the shared namespace."""
    return [
        {
            "name": e.mailbox.display_name,
            "address": e.mailbox.address,
            "login": f"{who.ctx.address}{GROUP_LOGIN_SEPARATOR}{e.mailbox.address}",
            "shared": f"{SHARED_PREFIX}/{e.mailbox.address}",
            "inbox": f"{SHARED_PREFIX}/{e.mailbox.address}/{e.inbox.name}",
        }
        for e in entries
        if e.is_group and e.can("read")
    ]


@router.get("/settings/clients")
async def clients_page(request: Request, who: Who) -> Response:
    services = services_of(request)
    settings = services.deps.settings
    entries = await sidebar.mailboxes(services, who)
    enrolled = await services.credentials.has_second_factor(who.ctx)
    return await page(
        request, who, "settings_clients.html",
        host=settings.server.hostname, imap=settings.imap, pop3=settings.pop3,
        smtp=settings.smtp, groups=_group_logins(who, entries), enrolled=enrolled,
        autoconfig=AUTOCONFIG, domain=who.ctx.address.rpartition("@")[2],
    )  # fmt: skip


# --- password ---------------------------------------------------------------------------


async def _password_page(
    request: Request, who: Viewer, *, error: str = "", status: int = 200, sent: Any = None
) -> Response:
    limits = await services_of(request).org_policy.limits(who.ctx.org_id)
    minimum = limits.min_password_length
    forced = who.session.duty == "password"
    return await page(
        request, who, "settings_password.html", status=status,
        error=error, minimum=minimum, forced=forced, sent=sent or {"others": "1"},
    )  # fmt: skip


@router.get("/settings/password")
async def password_page(request: Request, who: Who) -> Response:
    return await _password_page(request, who)


@router.post("/settings/password")
async def change_password(request: Request, who: Who) -> Response:
    """Change one's own password (the current one first); optionally end the other sessions."""
    form = await check_csrf(request, who)
    old, new = str(form.get("old", "")), str(form.get("new", ""))
    others = form.get("others") == "1"
    services = services_of(request)
    try:
        if new != str(form.get("repeat", "")):
            raise InvalidInput("the two new passwords differ: nothing was changed")
        await services.credentials.change_own_password(who.ctx, old, new)
    except InvalidInput as exc:
        sent = {"others": "1" if others else ""}
        return await _password_page(request, who, error=str(exc), status=400, sent=sent)
    if others:
        for session in await services.sessions.list_sessions(who.ctx):
            if session.id != who.session.id:
                with suppress(NotFound):  # it may have ended meanwhile
                    await services.sessions.end_session(who.ctx, session.id)
    return redirect("/settings?done=" + ("password-others" if others else "password"))
