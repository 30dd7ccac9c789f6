"""Protocol-neutral errors that services raise and every channel maps to its own replies."""


class SecuremailError(Exception):
    """Base of every error a service may raise on purpose; its message is safe to show."""


class NotFound(SecuremailError):
    """The thing does not exist, or the caller may not know that it exists."""


class PermissionDenied(SecuremailError):
    """The caller can see the thing but may not do this to it."""


class Conflict(SecuremailError):
    """The request clashes with the current state (duplicate address, folder not empty...)."""


class InvalidInput(SecuremailError):
    """The request is malformed; nothing was changed."""


class AuthenticationFailed(SecuremailError):
    """Credentials were wrong, or the account is locked or disabled (never says which)."""


class QuotaExceeded(SecuremailError):
    """A size or count limit would be exceeded."""


class TemporaryFailure(SecuremailError):
    """Try again later: the store is busy or an outside service did not answer."""


class RateLimited(TemporaryFailure):
    """Too much of something in too little time (messages per hour...): try again later."""
