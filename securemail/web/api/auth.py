"""Who calls the API: a personal token (`Authorization: Bearer smt_...`) or the webmail
session cookie, which must also carry `X-CSRF-Token` on anything but a read."""

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from securemail.core.context import AccessContext
from securemail.core.errors import AuthenticationFailed, PermissionDenied
from securemail.services.api_tokens import require_scope
from securemail.services.registry import Services
from securemail.web.webmail.context import SESSION_COOKIE, remote_of

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "x-csrf-token"

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    description="A personal API token (smt_...), created in webmail",
)
cookie = APIKeyCookie(
    name=SESSION_COOKIE,
    auto_error=False,
    scheme_name="session",
    description="The webmail session; writes also need the X-CSRF-Token header",
)


@dataclass(frozen=True)
class Caller:
    """The authenticated caller of one request."""

    ctx: AccessContext
    scope: str  # "read" or "write"
    via: str  # "token" or "session"


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def _from_session(request: Request, services: Services, token: str) -> Caller:
    ctx, session = await services.sessions.resolve(token)
    if ctx is None:
        raise AuthenticationFailed("finish logging in (second factor) in webmail first")
    if session.duty:
        raise PermissionDenied("finish the account set-up in webmail first")
    if request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), session.csrf_token.encode()):
            raise PermissionDenied("missing or wrong X-CSRF-Token header")
    return Caller(ctx=ctx, scope="write", via="session")


async def caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
    session_token: Annotated[str | None, Security(cookie)],
) -> Caller:
    """The caller behind the request; a read-only token is refused on any write."""
    services = services_of(request)
    if credentials is not None:
        ctx, scope = await services.api_tokens.authenticate(
            credentials.credentials, remote=remote_of(request)
        )
        found = Caller(ctx=ctx, scope=scope, via="token")
    elif request.headers.get("authorization"):
        raise AuthenticationFailed("use Authorization: Bearer <token>")
    elif session_token:
        found = await _from_session(request, services, session_token)
    else:
        raise AuthenticationFailed("authentication required: a bearer token or a session")
    require_scope(found.scope, writes=request.method not in SAFE_METHODS)
    return found


Auth = Annotated[Caller, Depends(caller)]
