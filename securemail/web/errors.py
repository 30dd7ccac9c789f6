"""Core errors to HTTP: each service error becomes a status and a page (or JSON for scripts)."""

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from securemail.core.errors import (
    AuthenticationFailed,
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    QuotaExceeded,
    RateLimited,
    SecuremailError,
    TemporaryFailure,
)
from securemail.web.webmail.context import LoginRequired, redirect, render

STATUS: dict[type[SecuremailError], int] = {
    NotFound: 404,
    PermissionDenied: 403,
    Conflict: 409,
    InvalidInput: 400,
    AuthenticationFailed: 401,
    QuotaExceeded: 413,
    RateLimited: 429,  # before TemporaryFailure, its base: the first match wins
    TemporaryFailure: 503,
}


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or "application/json" in request.headers.get(
        "accept", ""
    )


def install(app: FastAPI) -> None:
    async def login_required(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, LoginRequired)
        if _wants_json(request) or request.method != "GET":
            return JSONResponse({"error": "log in first"}, status_code=401)
        return redirect(exc.location)

    async def service_error(request: Request, exc: Exception) -> Response:
        status = next((code for kind, code in STATUS.items() if isinstance(exc, kind)), 400)
        message = str(exc) or "request refused"
        if _wants_json(request):
            return JSONResponse({"error": message}, status_code=status)
        return render(request, "error.html", status_code=status, status=status, message=message)

    app.add_exception_handler(LoginRequired, login_required)
    app.add_exception_handler(SecuremailError, service_error)
