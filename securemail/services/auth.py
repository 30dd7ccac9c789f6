"""Authentication: argon2id verification off the event loop, lockout, audit of every attempt."""

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from securemail.core.addresses import parse_address
from securemail.core.context import AccessContext
from securemail.core.errors import AuthenticationFailed, InvalidInput, NotFound
from securemail.core.model import Mailbox
from securemail.core.rights import MailboxKind, Right, Role
from securemail.security.app_passwords import PROTOCOLS, app_password_hash
from securemail.services.base import Deps, audit, rights_on
from securemail.store.repos import credentials as cred_repo
from securemail.store.repos import directory as dir_repo
from securemail.store.repos import mailboxes as mailbox_repo
from securemail.store.repos.common import as_utc

FAILED = "authentication failed"  # the one message for every failure: no user enumeration
GROUP_LOGIN_SEPARATOR = "#"  # user@org#group@org opens the group mailbox as the account


class AuthService:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    async def authenticate(
        self,
        address: str,
        password: str,
        *,
        channel: str,
        remote: str = "",
        opens: str | None = None,
    ) -> AccessContext:
        """An AccessContext for good credentials; AuthenticationFailed for anything else.

        Unknown address, wrong password, locked or disabled account all fail the same way
        and cost the same argon2 verification. Mail clients (channel imap, pop3 or smtp) may
        use an app password for that protocol; a user with a second factor must. With
        `opens` (a group mailbox address), a mailbox the user may not read counts as a wrong
        password, in the reply, the lockout counter and the audit log alike.
        """
        try:
            key = parse_address(address).key
        except InvalidInput:
            key = ""
        mail_client = channel in PROTOCOLS
        secret_hash = app_password_hash(self.deps.app_password_key, password)
        async with self.deps.db.read() as conn:
            row = await dir_repo.login_row(conn, key) if key else None
            app = await cred_repo.find_app_password(conn, secret_hash) if mail_client else None
        locked_until = as_utc(row.locked_until) if row is not None else None
        locked = locked_until is not None and locked_until > datetime.now(UTC)
        usable = row is not None and not row.disabled and not locked
        app_ok = row is not None and _app_password_fits(app, row.id, channel)
        ok = app_ok
        if not app_ok:
            stored = row.password_hash if row is not None else None
            ok = await asyncio.to_thread(self.deps.hasher.verify, stored, password)
            if row is not None and row.totp_secret and mail_client:
                ok = False  # with a second factor, mail clients log in with app passwords only
        if ok and usable and opens is not None and row is not None:
            ok = await self._may_open(row.id, opens)
        if not usable or not ok:
            await self._record_failure(key, channel, remote, counted=row is not None and not locked)
            raise AuthenticationFailed(FAILED)
        assert row is not None
        app_id = app.id if app_ok and app is not None else None
        return await self._record_success(row.id, channel, remote, app_id)

    async def _may_open(self, user_id: int, group_address: str) -> bool:
        """True when the user may read the group mailbox at `group_address`."""
        async with self.deps.db.read() as conn:
            user = await dir_repo.find_user(conn, user_id)
            if user is None:
                return False
            ctx = AccessContext(user.id, user.org_id, user.role, user.address)
            mailbox = await self._readable_group(conn, ctx, group_address)
            return mailbox is not None and Right.READ in await rights_on(conn, ctx, mailbox)

    async def record_failure(self, address: str, channel: str, remote: str, why: str) -> None:
        """A failed login after the password (a wrong second factor): lockout and audit."""
        try:
            key = parse_address(address).key
        except InvalidInput:
            key = ""
        await self._record_failure(key, channel, remote, counted=bool(key), why=why)

    async def _record_failure(
        self, key: str, channel: str, remote: str, *, counted: bool, why: str = ""
    ) -> None:
        settings = self.deps.settings.auth
        probe = AccessContext(0, None, Role.USER, key or "-", channel, remote)
        async with self.deps.db.write() as conn:
            user = await dir_repo.find_user_by_address(conn, key) if key else None
            detail = "unknown or locked"
            if user is not None and counted:
                failures = await dir_repo.count_failed_login(conn, user.id)
                detail = f"failures={failures}"
                if failures >= settings.max_failed_logins:
                    until = datetime.now(UTC) + timedelta(seconds=settings.lockout_seconds)
                    detail = "locked"
                    await dir_repo.record_login(
                        conn, user.id, success=False, failed_logins=0, locked_until=until
                    )
            org_id = user.org_id if user is not None else None
            detail = f"{detail} ({why})" if why else detail
            await audit(
                conn, probe, "login.failed", target=key or "-", detail=detail, org_id=org_id
            )

    async def _record_success(
        self, user_id: int, channel: str, remote: str, app_password_id: int | None = None
    ) -> AccessContext:
        async with self.deps.db.write() as conn:
            if app_password_id is not None:
                await cred_repo.touch_app_password(conn, app_password_id)
            user = await dir_repo.find_user(conn, user_id)
            if user is None:
                raise AuthenticationFailed(FAILED)
            await dir_repo.record_login(
                conn, user_id, success=True, failed_logins=0, locked_until=None
            )
            ctx = AccessContext(user.id, user.org_id, user.role, user.address, channel, remote)
            how = "app-password" if app_password_id is not None else "password"
            await audit(conn, ctx, "login", target=user.address, detail=f"with={how}")
        return ctx

    async def authenticate_mail_client(
        self, login: str, password: str, *, channel: str, remote: str = ""
    ) -> tuple[AccessContext, Mailbox]:
        """Log a mail client in with the user's own password; returns the mailbox it opens.

        `login` is the user's address (their personal mailbox) or `user#group` such as
        `alice@polres.co.uk#GM.ZeroTolerance@polres.co.uk` (the group mailbox as the account,
        for clients that ignore IMAP namespaces and for POP3). A group mailbox the user may
        not read fails exactly like a wrong password: nothing tells that it exists.
        """
        user_part, sep, group_part = login.partition(GROUP_LOGIN_SEPARATOR)
        opens = group_part if sep else None
        ctx = await self.authenticate(
            user_part, password, channel=channel, remote=remote, opens=opens
        )
        async with self.deps.db.read() as conn:
            if not sep:
                mailbox = await mailbox_repo.find_personal_mailbox(conn, ctx.user_id)
            else:
                mailbox = await self._readable_group(conn, ctx, group_part)
            if mailbox is None:
                raise AuthenticationFailed(FAILED)
            rights = await rights_on(conn, ctx, mailbox)
        if Right.READ not in rights:
            raise AuthenticationFailed(FAILED)
        return ctx, dataclasses.replace(mailbox, rights=rights)

    async def _readable_group(
        self, conn: AsyncConnection, ctx: AccessContext, address: str
    ) -> Mailbox | None:
        try:
            key = parse_address(address).key
        except InvalidInput:
            return None
        mailbox = await mailbox_repo.find_mailbox_by_address(conn, key)
        if mailbox is None or mailbox.kind is not MailboxKind.GROUP:
            return None
        return mailbox

    async def context_for(self, user_id: int, *, channel: str, remote: str = "") -> AccessContext:
        """Rebuild a context for a live session (web cookie): fails once the user is disabled."""
        async with self.deps.db.read() as conn:
            user = await dir_repo.find_user(conn, user_id)
        if user is None or user.disabled:
            raise NotFound("no such user")
        return AccessContext(user.id, user.org_id, user.role, user.address, channel, remote)


def _app_password_fits(app: Any | None, user_id: int, channel: str) -> bool:
    """The app password belongs to this user and is allowed for this protocol."""
    return app is not None and app.user_id == user_id and channel in app.protocols.split(",")
