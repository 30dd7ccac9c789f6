"""The one table that turns core errors into SMTP replies (RFC 5321 4.2, RFC 3463 codes)."""

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
from securemail.wire.smtp.replies import Reply, reply

_TABLE: tuple[tuple[type[SecuremailError], int, str], ...] = (
    (PermissionDenied, 550, "5.7.1"),
    (AuthenticationFailed, 535, "5.7.8"),
    (NotFound, 550, "5.1.1"),
    (QuotaExceeded, 552, "5.3.4"),
    (RateLimited, 451, "4.7.1"),  # as Postfix policy rate limits answer: try again later
    (TemporaryFailure, 451, "4.3.0"),
    (InvalidInput, 554, "5.6.0"),
    (Conflict, 554, "5.6.0"),
)


def error_reply(exc: SecuremailError) -> Reply:
    for kind, code, enhanced in _TABLE:
        if isinstance(exc, kind):
            return reply(code, enhanced, str(exc))
    return reply(451, "4.3.0", "temporary failure, try again later")
