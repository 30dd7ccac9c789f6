"""Personal API tokens: created by a user for themselves, shown once, stored as a keyed hash,
scoped read-only or read-write, expiring, revocable; every creation and revocation audited.

A token is a bearer secret with ~256 bits of entropy (`smt_` + token_urlsafe(32)), so, like an
app password, a keyed HMAC-SHA256 (key kept outside the database) is safe to store and cheap to
check on every API request.
"""

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from securemail.core.context import AccessContext
from securemail.core.errors import (
    AuthenticationFailed,
    InvalidInput,
    NotFound,
    PermissionDenied,
    QuotaExceeded,
)
from securemail.security.app_passwords import app_password_hash
from securemail.services.base import Deps, audit
from securemail.store.repos import api_tokens as token_repo
from securemail.store.repos import directory as dir_repo
from securemail.store.repos.common import as_utc

CHANNEL = "api"
PREFIX = "smt_"
SCOPES = ("read", "write")
MAX_DAYS = 365
MAX_LABEL = 100
MAX_TOKENS_PER_USER = 50
MAX_SECRET_LENGTH = 200  # anything longer is not one of ours: refused before hashing
TOUCH_EVERY = timedelta(minutes=1)  # last_used_at is written at most this often
FAILED = "invalid, expired or revoked API token"

Scope = Literal["read", "write"]


@dataclass(frozen=True, slots=True)
class ApiToken:
    """What the owner sees of a token: never the secret, which is shown once at creation."""

    id: int
    label: str
    scope: Scope
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None

    def expired(self, at: datetime | None = None) -> bool:
        return self.expires_at <= (at or datetime.now(UTC))


def _token(row: Any) -> ApiToken:
    now = datetime.now(UTC)
    scope: Scope = "write" if row.scope == "write" else "read"
    return ApiToken(
        id=int(row.id),
        label=str(row.label),
        scope=scope,
        created_at=as_utc(row.created_at) or now,
        expires_at=as_utc(row.expires_at) or now,
        last_used_at=as_utc(row.last_used_at),
    )


def _label(text: str) -> str:
    clean = " ".join(text.split())
    if any(ord(c) < 32 or ord(c) == 127 for c in clean):
        raise InvalidInput("label contains control characters")
    if len(clean) > MAX_LABEL:
        raise InvalidInput(f"label longer than {MAX_LABEL} characters")
    return clean or "API token"


def require_scope(scope: str, *, writes: bool) -> None:
    """A read-only token may read and nothing else, whatever rights its owner holds."""
    if writes and scope != "write":
        raise PermissionDenied("this API token is read-only")


class ApiTokenService:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def _hash(self, secret: str) -> str:
        return app_password_hash(self.deps.app_password_key, secret)

    async def issue(
        self, ctx: AccessContext, label: str, scope: str, days: int
    ) -> tuple[ApiToken, str]:
        """A new token for the caller and its secret (shown once: only its hash is kept).
        A token cannot mint tokens: that would let a leaked token outlive its expiry."""
        if ctx.channel == CHANNEL:
            raise PermissionDenied("API tokens are created in webmail, not with another token")
        if scope not in SCOPES:
            raise InvalidInput("scope must be read or write")
        if not 1 <= days <= MAX_DAYS:
            raise InvalidInput(f"a token lives 1 to {MAX_DAYS} days")
        clean = _label(label)
        secret = PREFIX + secrets.token_urlsafe(32)
        expires = datetime.now(UTC) + timedelta(days=days)
        async with self.deps.db.write() as conn:
            user = await dir_repo.find_user(conn, ctx.user_id)
            if user is None or user.disabled:
                raise PermissionDenied("only a user with an account may create API tokens")
            if await token_repo.count_tokens(conn, ctx.user_id) >= MAX_TOKENS_PER_USER:
                raise QuotaExceeded(f"at most {MAX_TOKENS_PER_USER} API tokens per user")
            token_id = await token_repo.insert_token(
                conn,
                user_id=ctx.user_id,
                label=clean,
                token_hash=self._hash(secret),
                scope=scope,
                expires_at=expires,
            )
            await audit(
                conn, ctx, "api_token.create", target=ctx.address,
                detail=f"id={token_id} label={clean!r} scope={scope} days={days}",
            )  # fmt: skip
            row = await token_repo.find_token(conn, token_id)
        return _token(row), secret

    async def create(self, ctx: AccessContext, label: str, scope: str, days: int) -> str:
        """The secret of a new token for the caller, shown once."""
        _token_info, secret = await self.issue(ctx, label, scope, days)
        return secret

    async def list(self, ctx: AccessContext) -> list[ApiToken]:
        """The caller's own tokens, expired ones included (so they can be cleaned up)."""
        async with self.deps.db.read() as conn:
            rows = await token_repo.list_tokens(conn, ctx.user_id)
        return [_token(r) for r in rows]

    async def revoke(self, ctx: AccessContext, token_id: int) -> None:
        """Revoke one of the caller's own tokens; another user's token does not exist here."""
        async with self.deps.db.write() as conn:
            if not await token_repo.delete_token(conn, ctx.user_id, token_id):
                raise NotFound("no such API token")
            await audit(conn, ctx, "api_token.revoke", target=ctx.address, detail=f"id={token_id}")

    async def authenticate(self, secret: str, *, remote: str = "") -> tuple[AccessContext, Scope]:
        """The caller behind a bearer token and its scope; unknown, expired, revoked or a
        disabled owner all fail alike."""
        if not secret.startswith(PREFIX) or len(secret) > MAX_SECRET_LENGTH:
            raise AuthenticationFailed(FAILED)
        now = datetime.now(UTC)
        async with self.deps.db.read() as conn:
            row = await token_repo.find_token_by_hash(conn, self._hash(secret))
            user = await dir_repo.find_user(conn, row.user_id) if row is not None else None
        if row is None or user is None or user.disabled:
            raise AuthenticationFailed(FAILED)
        token = _token(row)
        if token.expired(now):
            raise AuthenticationFailed(FAILED)
        if token.last_used_at is None or now - token.last_used_at >= TOUCH_EVERY:
            async with self.deps.db.write() as conn:
                await token_repo.touch_token(conn, token.id, now)
        ctx = AccessContext(user.id, user.org_id, user.role, user.address, CHANNEL, remote)
        return ctx, token.scope
