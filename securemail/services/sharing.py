"""Grants on group mailboxes: who may read, write, mail, delete and manage."""

from sqlalchemy.ext.asyncio import AsyncConnection

from securemail.core.addresses import parse_address
from securemail.core.context import AccessContext
from securemail.core.errors import InvalidInput, NotFound, PermissionDenied
from securemail.core.events import GrantsChanged
from securemail.core.model import Grant, Mailbox, User
from securemail.core.rights import (
    ALL_RIGHTS,
    MailboxKind,
    Right,
    format_rights,
    may_administer_org,
    may_manage_grants,
)
from securemail.services.base import Deps, audit, rights_on
from securemail.store.repos import directory as dir_repo
from securemail.store.repos import mailboxes as mailbox_repo


class SharingService:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    async def _require_manageable(
        self, conn: AsyncConnection, ctx: AccessContext, group_address: str
    ) -> Mailbox:
        """The group mailbox if the caller may manage its grants; NotFound if they cannot see it."""
        key = parse_address(group_address).key
        mailbox = await mailbox_repo.find_mailbox_by_address(conn, key)
        if mailbox is None or mailbox.kind is not MailboxKind.GROUP:
            raise NotFound(f"no group mailbox {key}")
        rights = await rights_on(conn, ctx, mailbox)
        facts = mailbox_repo.facts(mailbox)
        if may_manage_grants(ctx.principal, facts, rights):
            return mailbox
        if Right.READ in rights:
            raise PermissionDenied("you need the manage right to change who may use this mailbox")
        raise NotFound(f"no group mailbox {key}")

    async def _limit_delegation(
        self, conn: AsyncConnection, ctx: AccessContext, mailbox: Mailbox, user: User, rights: Right
    ) -> None:
        """A member with Manage (not an administrator) hands on only rights they hold
        themselves, and never changes their own: a team lead cannot promote themselves."""
        if may_administer_org(ctx.principal, mailbox.org_id):
            return
        if user.id == ctx.user_id:
            raise PermissionDenied("ask an administrator to change your own rights")
        own = await rights_on(conn, ctx, mailbox)
        if rights & ~own:
            missing = format_rights(rights & ~own)
            raise PermissionDenied(f"you can only grant rights you hold yourself (not {missing})")

    async def _member(self, conn: AsyncConnection, mailbox: Mailbox, address: str) -> User:
        key = parse_address(address).key
        user = await dir_repo.find_user_by_address(conn, key)
        if user is None or user.org_id != mailbox.org_id:
            raise InvalidInput(f"no user {key} in the organisation of {mailbox.address}")
        return user

    async def grant(
        self, ctx: AccessContext, group_address: str, user_address: str, rights: Right
    ) -> Right:
        """Add `rights` to what the user holds; returns what they hold afterwards."""
        if not rights or rights & ~ALL_RIGHTS:
            raise InvalidInput("no rights given")
        async with self.deps.db.write() as conn:
            mailbox = await self._require_manageable(conn, ctx, group_address)
            user = await self._member(conn, mailbox, user_address)
            await self._limit_delegation(conn, ctx, mailbox, user, rights)
            held = await mailbox_repo.granted_rights(conn, mailbox.id, user.id)
            new = held | rights
            if Right.READ not in new:
                raise InvalidInput("every right needs read: grant read as well")
            await mailbox_repo.set_grant(conn, mailbox.id, user.id, new, ctx.address)
            await audit(
                conn,
                ctx,
                "grant",
                mailbox=mailbox.address,
                target=user.address,
                detail=f"added={format_rights(rights)} now={format_rights(new)}",
                org_id=mailbox.org_id,
            )
        self.deps.events.publish(GrantsChanged(mailbox.id, user.id))
        return new

    async def revoke(
        self,
        ctx: AccessContext,
        group_address: str,
        user_address: str,
        rights: Right | None = None,
    ) -> Right:
        """Remove `rights` (all when None); taking READ takes everything. Returns what is left."""
        async with self.deps.db.write() as conn:
            mailbox = await self._require_manageable(conn, ctx, group_address)
            user = await self._member(conn, mailbox, user_address)
            await self._limit_delegation(conn, ctx, mailbox, user, Right.NONE)
            held = await mailbox_repo.granted_rights(conn, mailbox.id, user.id)
            removed = ALL_RIGHTS if rights is None else rights
            left = held & ~removed
            if Right.READ not in left:
                left = Right.NONE
            await mailbox_repo.set_grant(conn, mailbox.id, user.id, left, ctx.address)
            await audit(
                conn,
                ctx,
                "revoke",
                mailbox=mailbox.address,
                target=user.address,
                detail=f"removed={format_rights(removed)} now={format_rights(left)}",
                org_id=mailbox.org_id,
            )
        self.deps.events.publish(GrantsChanged(mailbox.id, user.id))
        return left

    async def list_grants(self, ctx: AccessContext, group_address: str) -> list[Grant]:
        async with self.deps.db.read() as conn:
            mailbox = await self._require_manageable(conn, ctx, group_address)
            return await mailbox_repo.list_grants(conn, mailbox.id)
