"""Webmail sessions: password then second factor, idle expiry, listing and ending sessions."""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from securemail.core.context import AccessContext
from securemail.core.errors import AuthenticationFailed, NotFound
from securemail.security import links, totp
from securemail.security.app_passwords import app_password_hash
from securemail.security.secrets import generate_password
from securemail.services.auth import FAILED, AuthService
from securemail.services.base import Deps, audit
from securemail.services.org_policy import limits_for
from securemail.store.repos import credentials as cred_repo
from securemail.store.repos import directory as dir_repo
from securemail.store.repos import web_sessions as session_repo
from securemail.store.repos.common import as_utc

CHANNEL = "web"
ACTIVE = "active"
SECOND_FACTOR = "second-factor"
TOUCH_EVERY = timedelta(seconds=30)  # last_seen_at is written at most this often
RECOVERY_CODES = 10


@dataclass(frozen=True, slots=True)
class WebSession:
    id: int
    user_id: int
    stage: str
    csrf_token: str
    created_at: datetime
    last_seen_at: datetime
    remote: str
    user_agent: str
    duty: str = ""  # what the user must do before reading mail: "password", "second-factor"


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _session(row: Any, duty: str = "") -> WebSession:
    return WebSession(
        id=row.id,
        user_id=row.user_id,
        stage=row.stage,
        csrf_token=row.csrf_token,
        created_at=as_utc(row.created_at) or datetime.now(UTC),
        last_seen_at=as_utc(row.last_seen_at) or datetime.now(UTC),
        remote=row.remote,
        user_agent=row.user_agent,
        duty=duty,
    )


class SessionService:
    def __init__(self, deps: Deps, auth: AuthService) -> None:
        self.deps = deps
        self.auth = auth

    @property
    def idle(self) -> timedelta:
        return timedelta(minutes=self.deps.settings.http.session_idle_minutes)

    async def login(
        self, address: str, password: str, *, remote: str, user_agent: str
    ) -> tuple[str, WebSession]:
        """A new session for good credentials: active, or waiting for the second factor."""
        ctx = await self.auth.authenticate(address, password, channel=CHANNEL, remote=remote)
        token = secrets.token_urlsafe(32)
        async with self.deps.db.write() as conn:
            enrolled = await cred_repo.totp_secret(conn, ctx.user_id) is not None
            stage = SECOND_FACTOR if enrolled else ACTIVE
            session_id = await session_repo.insert_session(
                conn,
                token_hash=_token_hash(token),
                user_id=ctx.user_id,
                stage=stage,
                csrf_token=secrets.token_urlsafe(24),
                remote=remote,
                user_agent=user_agent,
            )
            await audit(conn, ctx, "session.start", target=ctx.address, detail=f"id={session_id}")
            row = await session_repo.find_session(conn, _token_hash(token))
        return token, _session(row)

    async def second_factor(self, token: str, code: str, *, remote: str) -> WebSession:
        """Promote a waiting session with a TOTP or an unused recovery code. A wrong code ends
        the session and counts as a failed login: the password must be entered again."""
        async with self.deps.db.write() as conn:
            row = await session_repo.find_session(conn, _token_hash(token))
            if row is None or row.stage != SECOND_FACTOR:
                raise AuthenticationFailed(FAILED)
            secret = await cred_repo.totp_secret(conn, row.user_id)
            step = totp.matching_step(secret, code) if secret is not None else None
            ok = step is not None and await session_repo.use_totp_step(conn, row.user_id, step)
            how = "totp"
            if not ok:
                code_hash = app_password_hash(self.deps.app_password_key, code.strip())
                ok = await session_repo.use_recovery_code(conn, row.user_id, code_hash)
                how = "recovery-code"
            user = await dir_repo.find_user(conn, row.user_id)
            address = user.address if user is not None else ""
            if ok and user is not None:
                await session_repo.set_stage(conn, row.id, ACTIVE)
                ctx = AccessContext(user.id, user.org_id, user.role, user.address, CHANNEL, remote)
                await audit(
                    conn, ctx, "session.second_factor", target=address, detail=f"with={how}"
                )
            else:
                ok = False
                await session_repo.delete_session(conn, row.id, row.user_id)
        if not ok:
            await self.auth.record_failure(address, CHANNEL, remote, "second factor")
            raise AuthenticationFailed(FAILED)
        return _session(row)

    async def resolve(self, token: str) -> tuple[AccessContext | None, WebSession]:
        """The session behind a cookie, with a context once it is active (None while it waits
        for the second factor). Idle, ended or disabled: AuthenticationFailed."""
        now = datetime.now(UTC)
        async with self.deps.db.read() as conn:
            row = await session_repo.find_session(conn, _token_hash(token)) if token else None
            found = await dir_repo.user_and_duties(conn, row.user_id) if row is not None else None
            if row is None or found is None:
                raise AuthenticationFailed("not logged in")
            user, must_change, enrolled = found
            limits = await limits_for(conn, self.deps.settings, user.org_id)
        duty = "password" if must_change else ""
        if not duty and not enrolled and limits.require_second_factor:
            duty = "second-factor"
        session = _session(row, duty)
        idle = timedelta(minutes=limits.session_idle_minutes)
        if user.disabled or now - session.last_seen_at > idle:
            async with self.deps.db.write() as conn:
                await session_repo.delete_session(conn, session.id, session.user_id)
            raise AuthenticationFailed("your session has ended: log in again")
        if now - session.last_seen_at > TOUCH_EVERY:
            async with self.deps.db.write() as conn:
                await session_repo.touch_session(conn, session.id, now)
        if session.stage != ACTIVE:
            return None, session
        ctx = AccessContext(user.id, user.org_id, user.role, user.address, CHANNEL, session.remote)
        return ctx, session

    async def list_sessions(self, ctx: AccessContext) -> list[WebSession]:
        async with self.deps.db.read() as conn:
            rows = await session_repo.list_sessions(conn, ctx.user_id)
        cutoff = datetime.now(UTC) - self.idle
        return [s for s in map(_session, rows) if s.last_seen_at >= cutoff]

    async def end_session(self, ctx: AccessContext, session_id: int) -> None:
        """End one of the caller's own sessions (another device, or this one)."""
        async with self.deps.db.write() as conn:
            if not await session_repo.delete_session(conn, session_id, ctx.user_id):
                raise NotFound("no such session")
            await audit(conn, ctx, "session.end", target=ctx.address, detail=f"id={session_id}")

    async def logout(self, token: str) -> None:
        async with self.deps.db.write() as conn:
            row = await session_repo.find_session(conn, _token_hash(token))
            if row is not None:
                await session_repo.delete_session(conn, row.id, row.user_id)

    async def new_recovery_codes(self, ctx: AccessContext) -> list[str]:
        """Ten fresh one-time recovery codes, shown once; earlier codes stop working."""
        codes = [generate_password(groups=2, group_length=5) for _ in range(RECOVERY_CODES)]
        hashes = [app_password_hash(self.deps.app_password_key, c) for c in codes]
        async with self.deps.db.write() as conn:
            await session_repo.replace_recovery_codes(conn, ctx.user_id, hashes)
            await audit(conn, ctx, "recovery_codes.create", target=ctx.address)
        return codes

    async def recovery_codes_left(self, ctx: AccessContext) -> int:
        async with self.deps.db.read() as conn:
            return await session_repo.unused_recovery_codes(conn, ctx.user_id)

    def sign_part(self, ctx: AccessContext, message_id: int, part: int) -> str:
        """A short-lived token letting this user fetch one inline part without a cookie."""
        return links.sign_part(self.deps.app_password_key, ctx.user_id, message_id, part)

    async def context_for_part(
        self, user_id: int, token: str, message_id: int, part: int
    ) -> AccessContext:
        """The user behind a signed inline-part link; the services still check their rights."""
        key = self.deps.app_password_key
        if not links.verify_part(key, token, user_id, message_id, part):
            raise AuthenticationFailed("this link has expired")
        try:
            return await self.auth.context_for(user_id, channel=CHANNEL)
        except NotFound:
            raise AuthenticationFailed("this link has expired") from None
