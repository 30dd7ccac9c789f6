"""Second factors (TOTP), app passwords for mail clients, and changing one's own password."""

import asyncio
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from securemail.core.addresses import parse_address
from securemail.core.context import AccessContext
from securemail.core.errors import InvalidInput, NotFound, PermissionDenied
from securemail.core.model import User
from securemail.core.rights import Role, may_administer_org
from securemail.security import totp
from securemail.security.app_passwords import PROTOCOLS, app_password_hash, generate_app_password
from securemail.services.base import Deps, audit
from securemail.services.directory import check_password
from securemail.services.org_policy import limits_for
from securemail.store.repos import credentials as cred_repo
from securemail.store.repos import directory as dir_repo
from securemail.store.repos import web_sessions as session_repo

MAX_LABEL = 100


@dataclass(frozen=True)
class AppPassword:
    id: int
    label: str
    protocols: tuple[str, ...]
    created_at: datetime
    last_used_at: datetime | None


def _protocols(text: str) -> str:
    words = sorted({w.strip().lower() for w in text.split(",") if w.strip()})
    if not words or any(w not in PROTOCOLS for w in words):
        raise InvalidInput(f"protocols must be a comma list of {','.join(PROTOCOLS)}")
    return ",".join(words)


class CredentialService:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    async def _target(self, conn: AsyncConnection, ctx: AccessContext, address: str) -> User:
        """The user whose credentials change: oneself, or a user one administers."""
        key = parse_address(address).key
        user = await dir_repo.find_user_by_address(conn, key)
        if user is None:
            raise NotFound(f"no user {key}")
        if user.id == ctx.user_id:
            return user
        if user.org_id is not None and may_administer_org(ctx.principal, user.org_id):
            return user
        raise NotFound(f"no user {key}")

    async def create_app_password(
        self, ctx: AccessContext, address: str, label: str, protocols: str = "imap,pop3,smtp"
    ) -> str:
        """A new app password, shown once; only its keyed hash is stored. Only the user makes
        their own: an administrator who could would hold a way into the user's mail."""
        clean_label = " ".join(label.split())[:MAX_LABEL] or "mail client"
        allowed = _protocols(protocols)
        secret = generate_app_password()
        digest = app_password_hash(self.deps.app_password_key, secret)
        async with self.deps.db.write() as conn:
            user = await self._target(conn, ctx, address)
            if user.id != ctx.user_id and ctx.role is not Role.SERVICE_ADMIN:
                raise PermissionDenied("only the user may create their own app passwords")
            await cred_repo.insert_app_password(conn, user.id, clean_label, allowed, digest)
            await audit(
                conn, ctx, "app_password.create", target=user.address,
                detail=f"label={clean_label!r} protocols={allowed}", org_id=user.org_id,
            )  # fmt: skip
        return secret

    async def list_app_passwords(self, ctx: AccessContext, address: str) -> list[AppPassword]:
        async with self.deps.db.read() as conn:
            user = await self._target(conn, ctx, address)
            rows = await cred_repo.list_app_passwords(conn, user.id)
        return [AppPassword(i, lab, tuple(p.split(",")), c, u) for i, lab, p, c, u in rows]

    async def revoke_app_password(self, ctx: AccessContext, address: str, password_id: int) -> None:
        async with self.deps.db.write() as conn:
            user = await self._target(conn, ctx, address)
            if not await cred_repo.delete_app_password(conn, user.id, password_id):
                raise NotFound("no such app password")
            await audit(
                conn, ctx, "app_password.revoke", target=user.address,
                detail=f"id={password_id}", org_id=user.org_id,
            )  # fmt: skip

    def begin_totp(self, ctx: AccessContext) -> tuple[str, str]:
        """A fresh secret and its otpauth:// URI; nothing is stored until confirm_totp."""
        secret = totp.new_secret()
        return secret, totp.provisioning_uri(secret, ctx.address)

    async def confirm_totp(self, ctx: AccessContext, secret: str, code: str) -> None:
        """Enrol the second factor once the user proves their app shows the right code."""
        step = totp.matching_step(secret, code)
        if step is None:
            raise InvalidInput("the code does not match: check the time on your device")
        async with self.deps.db.write() as conn:
            await cred_repo.set_totp_secret(conn, ctx.user_id, secret)
            await session_repo.reset_totp_step(conn, ctx.user_id, step)  # no replay at login
            await audit(conn, ctx, "totp.enrol", target=ctx.address)

    async def reset_second_factor(self, ctx: AccessContext, address: str) -> None:
        async with self.deps.db.write() as conn:
            user = await self._target(conn, ctx, address)
            if user.id == ctx.user_id and not may_administer_org(ctx.principal, user.org_id or 0):
                raise PermissionDenied("ask an administrator to reset your second factor")
            await cred_repo.set_totp_secret(conn, user.id, None)
            await audit(conn, ctx, "totp.reset", target=user.address, org_id=user.org_id)

    async def has_second_factor(self, ctx: AccessContext) -> bool:
        async with self.deps.db.read() as conn:
            return await cred_repo.totp_secret(conn, ctx.user_id) is not None

    async def change_own_password(self, ctx: AccessContext, old: str, new: str) -> None:
        """Replace the caller's password once the old one is proven. A wrong old password is
        InvalidInput and changes nothing: it is not a login, so it counts no failure."""
        async with self.deps.db.read() as conn:
            stored = await cred_repo.password_hash(conn, ctx.user_id)
            limits = await limits_for(conn, self.deps.settings, ctx.org_id)
        _check_new_password(old, new, limits.min_password_length)
        if not await asyncio.to_thread(self.deps.hasher.verify, stored, old):
            raise InvalidInput("the current password is wrong: nothing was changed")
        new_hash = await asyncio.to_thread(self.deps.hasher.hash, new)
        async with self.deps.db.write() as conn:
            if await cred_repo.password_hash(conn, ctx.user_id) != stored:
                raise InvalidInput("the password changed meanwhile: please try again")
            await cred_repo.set_password_hash(conn, ctx.user_id, new_hash)
            await audit(conn, ctx, "password.change", target=ctx.address)


def _check_new_password(old: str, new: str, minimum: int) -> None:
    """The organisation's password rules, and not the old one again."""
    check_password(new, minimum)
    if new == old:
        raise InvalidInput("the new password must differ from the current one")
