"""RFC 9457 problem details for everything under /api/: service errors, invalid requests,
unknown routes and methods all answer `application/problem+json` with type, title, status
and detail. Other paths keep the handlers that were installed before ours."""

from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

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

MEDIA_TYPE = "application/problem+json"
API_PREFIX = "/api/"
MAX_REPORTED_ERRORS = 20
MAX_MESSAGE = 300

# kind of service error -> (status, type slug, title)
KINDS: dict[type[SecuremailError], tuple[int, str, str]] = {
    NotFound: (404, "not-found", "Not found"),
    PermissionDenied: (403, "forbidden", "Forbidden"),
    Conflict: (409, "conflict", "Conflict"),
    InvalidInput: (400, "invalid-input", "Invalid input"),
    AuthenticationFailed: (401, "unauthenticated", "Authentication required"),
    QuotaExceeded: (413, "too-large", "Limit exceeded"),
    RateLimited: (429, "rate-limited", "Too many requests"),  # before TemporaryFailure
    TemporaryFailure: (503, "unavailable", "Temporarily unavailable"),
}


class FieldProblem(BaseModel):
    """One refused part of the request: where it is and what is wrong with it."""

    location: str
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = Field(description="URI naming the kind of problem")
    title: str
    status: int = Field(ge=100, le=599)
    detail: str
    instance: str | None = None
    errors: list[FieldProblem] | None = None


def problem_type(slug: str) -> str:
    return f"urn:securemail:problem:{slug}"


def problem_response(
    request: Request,
    status: int,
    slug: str,
    title: str,
    detail: str,
    *,
    errors: list[FieldProblem] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = Problem(
        type=problem_type(slug),
        title=title,
        status=status,
        detail=detail[:MAX_MESSAGE] or title,
        instance=request.url.path[:MAX_MESSAGE],
        errors=errors,
    )
    return JSONResponse(
        body.model_dump(exclude_none=True), status, headers=headers, media_type=MEDIA_TYPE
    )


def _service_error(request: Request, exc: Exception) -> Response:
    status, slug, title = next(
        (v for kind, v in KINDS.items() if isinstance(exc, kind)), KINDS[InvalidInput]
    )
    headers = {}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="securemail"'
    if status == 503:
        headers["Retry-After"] = "1"
    return problem_response(request, status, slug, title, str(exc), headers=headers)


def _location(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc)[:MAX_MESSAGE]


def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [
        FieldProblem(
            location=_location(tuple(e.get("loc", ()))),
            message=str(e.get("msg", "invalid"))[:MAX_MESSAGE],
        )
        for e in list(exc.errors())[:MAX_REPORTED_ERRORS]
    ]
    first = errors[0] if errors else FieldProblem(location="request", message="invalid")
    detail = f"{first.location}: {first.message}"
    return problem_response(request, 400, "invalid-input", "Invalid input", detail, errors=errors)


def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    try:
        title = HTTPStatus(exc.status_code).phrase
    except ValueError:
        title = "Error"
    slug = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
    detail = exc.detail if isinstance(exc.detail, str) else title
    if exc.status_code == 404:
        detail = "no such resource"
    headers = dict(exc.headers or {})
    return problem_response(request, exc.status_code, slug, title, detail, headers=headers)


def _server_error(request: Request, exc: Exception) -> Response:
    return problem_response(request, 500, "internal", "Internal error", "internal error")


async def _plain_500(request: Request, exc: Exception) -> Response:
    return PlainTextResponse("Internal Server Error", status_code=500)


Handler = Callable[[Request, Exception], Response | Awaitable[Response]]


def _for_api(mine: Callable[[Request, Exception], Response], previous: Handler) -> Handler:
    async def handler(request: Request, exc: Exception) -> Response:
        if request.url.path.startswith(API_PREFIX):
            return mine(request, exc)
        answer = previous(request, exc)
        return await answer if isinstance(answer, Awaitable) else answer

    return handler


def install(app: FastAPI) -> None:
    """Answer /api/ errors with problem details; other paths keep the earlier handlers."""
    ours: list[tuple[type[Exception], Callable[[Request, Exception], Response]]] = [
        (SecuremailError, _service_error),
        (RequestValidationError, _validation_error),
        (StarletteHTTPException, _http_error),
        (Exception, _server_error),
    ]
    for kind, mine in ours:
        previous = app.exception_handlers.get(kind)
        if previous is None:
            previous = _plain_500 if kind is Exception else _async(mine)
        app.add_exception_handler(kind, _for_api(mine, previous))


def _async(mine: Callable[[Request, Exception], Response]) -> Handler:
    async def handler(request: Request, exc: Exception) -> Response:
        return mine(request, exc)

    return handler


def _ref(name: str) -> dict[str, Any]:
    return {"schema": {"$ref": f"#/components/schemas/{name}"}}


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "description": description}
    for status, description in (
        (400, "The request is malformed; nothing was changed"),
        (401, "No valid token or session"),
        (403, "Refused: a right or the token's scope is missing"),
        (404, "No such resource, or one you may not see"),
        (409, "Clashes with the current state"),
        (413, "A size or count limit would be exceeded"),
        (429, "A rate limit was reached (messages per hour): try again later"),
        (503, "The store is busy: try again"),
    )
}
