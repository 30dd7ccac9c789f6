"""HTTP hardening for every response: CSP, framing, sniffing, caching, request size."""

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

# Scripts and styles only from our own origin: no inline script, no eval, no remote code.
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; frame-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def body_csp(allow_remote: bool) -> str:
    """The policy of a message body shown in the sandboxed iframe: no script at all, styles
    inline only, images from us (or from anywhere once the reader chose to load them)."""
    images = "'self' https: http:" if allow_remote else "'self'"
    return (
        f"default-src 'none'; style-src 'unsafe-inline'; img-src {images}; "
        "font-src 'none'; form-action 'none'; base-uri 'none'; frame-ancestors 'self'; "
        "sandbox allow-popups allow-popups-to-escape-sandbox"
    )


Handler = Callable[[Request], Awaitable[Response]]


def security_headers(max_request_bytes: int) -> Callable[[Request, Handler], Awaitable[Response]]:
    """Middleware: refuse oversized bodies, then add the headers every response carries."""

    async def middleware(request: Request, call_next: Handler) -> Response:
        length = request.headers.get("content-length", "")
        if (length.isascii() and length.isdigit()) and int(length) > max_request_bytes:
            response: Response = PlainTextResponse("request too large", status_code=413)
        else:  # the refusal above carries the same headers as every other answer
            response = await call_next(request)
        headers = response.headers
        headers.setdefault("Content-Security-Policy", PAGE_CSP)
        headers.setdefault("X-Frame-Options", "DENY")
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Referrer-Policy"] = "no-referrer"
        headers["Cross-Origin-Opener-Policy"] = "same-origin"
        headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=(), payment=()"
        # Our own scripts and styles may be cached (revalidated by ETag); pages and mail never.
        static = request.url.path.startswith("/static/")
        headers.setdefault("Cache-Control", "public, max-age=3600" if static else "no-store")
        return response

    return middleware
