"""The one table that turns core errors into IMAP NO replies with response codes (RFC 5530)."""

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


class Bad(Exception):
    """The command is malformed or not valid now: tagged BAD."""


class No(Exception):
    """The command failed: tagged NO with an optional response code."""

    def __init__(self, text: str, code: str = "") -> None:
        super().__init__(text)
        self.code = code


_TABLE: tuple[tuple[type[SecuremailError], str], ...] = (
    (NotFound, "NONEXISTENT"),
    (PermissionDenied, "NOPERM"),
    (AuthenticationFailed, "AUTHENTICATIONFAILED"),
    (QuotaExceeded, "OVERQUOTA"),
    (TemporaryFailure, "UNAVAILABLE"),
    (Conflict, "ALREADYEXISTS"),
    (InvalidInput, "CANNOT"),
)


def error_code(exc: SecuremailError) -> str:
    """The RFC 5530 response code for a core error."""
    for kind, code in _TABLE:
        if isinstance(exc, kind):
            return code
    return "UNAVAILABLE"
