"""The one table that turns core errors into POP3 -ERR replies with RFC 2449 response codes."""

from securemail.core.errors import (
    AuthenticationFailed,
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    QuotaExceeded,
    SecuremailError,
    TemporaryFailure,
)
from securemail.wire import pop3

AUTH_FAILED = "authentication failed"  # every login failure says exactly this

# (error, RFC 2449/3206 response code or None, fixed text or None for the error's own text)
_TABLE: tuple[tuple[type[SecuremailError], str | None, str | None], ...] = (
    (AuthenticationFailed, pop3.AUTH, AUTH_FAILED),
    (TemporaryFailure, pop3.SYS_TEMP, None),
    (NotFound, None, None),
    (PermissionDenied, pop3.SYS_PERM, None),
    (QuotaExceeded, pop3.SYS_PERM, None),
    (InvalidInput, None, None),
    (Conflict, None, None),
)


class CommandFailed(Exception):
    """A command that cannot be done as asked; the session answers -ERR with this text."""

    def __init__(self, text: str, code: str | None = None) -> None:
        super().__init__(text)
        self.code = code


def error_reply(exc: SecuremailError) -> bytes:
    for kind, code, text in _TABLE:
        if isinstance(exc, kind):
            return pop3.err(text or str(exc), code)
    return pop3.err("temporary failure, try again later", pop3.SYS_TEMP)
