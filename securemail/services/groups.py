"""Group mailboxes in the admin console: list, rename, disable, delete when empty, members.

Administrators of the group's organisation (and the service administrator) do everything; a
member holding Manage sees that one group and its members, and grants through the sharing
service, but may not rename, disable or delete it. A group you may not manage does not exist
for you (NotFound), unless you can read it (PermissionDenied)."""

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from securemail.core.addresses import parse_address
from securemail.core.context import AccessContext
from securemail.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from securemail.core.events import GrantsChanged
from securemail.core.model import Grant, Mailbox, User
from securemail.core.rights import MailboxKind, Right, Role, may_administer_org
from securemail.services.base import Deps, audit_group, rights_on
from securemail.store.repos import groups as groups_repo
from securemail.store.repos import mailboxes as mailbox_repo

MAX_NAME = 200


@dataclass(frozen=True, slots=True)
class GroupRow:
    """One line of the console's list of group mailboxes."""

    mailbox: Mailbox
    members: int


@dataclass(frozen=True, slots=True)
class GroupDetail:
    """A group mailbox as its page shows it to the caller."""

    mailbox: Mailbox
    members: list[Grant]
    candidates: list[User]  # the enabled users of its organisation
    messages: int
    administer: bool  # may rename, disable and delete (an administrator of its organisation)
    own_rights: Right  # the caller's own rights on it (what a Manage holder may hand on)


def clean_display_name(text: str) -> str:
    """One line of at most MAX_NAME printable characters, not empty."""
    name = " ".join(text.split())
    if not name:
        raise InvalidInput("display name is empty")
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise InvalidInput("display name contains control characters")
    if len(name) > MAX_NAME:
        raise InvalidInput(f"display name longer than {MAX_NAME} characters")
    return name


async def require_group(
    conn: AsyncConnection, ctx: AccessContext, address: str, *, administer: bool
) -> tuple[Mailbox, bool]:
    """The group mailbox and whether the caller administers its organisation. Without
    `administer`, a Manage holder passes too. Unseen: NotFound; seen but not allowed:
    PermissionDenied."""
    key = parse_address(address).key
    mailbox = await mailbox_repo.find_mailbox_by_address(conn, key)
    if mailbox is None or mailbox.kind is not MailboxKind.GROUP:
        raise NotFound(f"no group mailbox {key}")
    if may_administer_org(ctx.principal, mailbox.org_id):
        return mailbox, True
    rights = await rights_on(conn, ctx, mailbox)
    if not administer and Right.MANAGE in rights:
        return mailbox, False
    if Right.READ in rights:
        if administer:
            raise PermissionDenied("only an administrator of the organisation may do this")
        raise PermissionDenied("you need the manage right to see who may use this mailbox")
    raise NotFound(f"no group mailbox {key}")


class GroupAdminService:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    async def list_groups(self, ctx: AccessContext) -> list[GroupRow]:
        """Administrators: every group of their organisation (the service administrator: all);
        anybody else: the groups on which they hold Manage."""
        async with self.deps.db.read() as conn:
            if ctx.role is Role.SERVICE_ADMIN:
                found = await mailbox_repo.list_group_mailboxes(conn, None)
            elif ctx.role is Role.ORG_ADMIN and ctx.org_id is not None:
                found = await mailbox_repo.list_group_mailboxes(conn, ctx.org_id)
            else:
                found = await self._managed(conn, ctx)
            counts = await groups_repo.member_counts(conn, [m.id for m in found])
        return [GroupRow(m, counts.get(m.id, 0)) for m in found]

    async def _managed(self, conn: AsyncConnection, ctx: AccessContext) -> list[Mailbox]:
        out = []
        for mailbox_id in await groups_repo.managed_group_ids(conn, ctx.user_id):
            mailbox = await groups_repo.find_group(conn, mailbox_id)
            if mailbox and Right.MANAGE in await rights_on(conn, ctx, mailbox):
                out.append(mailbox)
        return out

    async def get_group(self, ctx: AccessContext, address: str) -> GroupDetail:
        """The group with its members and their rights, for its administrators and managers."""
        async with self.deps.db.read() as conn:
            mailbox, administer = await require_group(conn, ctx, address, administer=False)
            return GroupDetail(
                mailbox=mailbox,
                members=await mailbox_repo.list_grants(conn, mailbox.id),
                candidates=await groups_repo.list_org_users(conn, mailbox.org_id),
                messages=await groups_repo.count_messages(conn, mailbox.id),
                administer=administer,
                own_rights=await rights_on(conn, ctx, mailbox),
            )

    async def rename(self, ctx: AccessContext, address: str, display_name: str) -> Mailbox:
        async with self.deps.db.write() as conn:
            mailbox, _ = await require_group(conn, ctx, address, administer=True)
            name = clean_display_name(display_name)
            if name == mailbox.display_name:
                return mailbox
            await groups_repo.set_display_name(conn, mailbox.id, name)
            await self._audit(
                conn, ctx, mailbox, "group.rename", name, f"was={mailbox.display_name!r}"
            )
        return Mailbox(
            mailbox.id, mailbox.org_id, mailbox.kind, mailbox.address, name, None, mailbox.disabled
        )

    async def set_disabled(self, ctx: AccessContext, address: str, disabled: bool) -> Mailbox:
        """A disabled group mailbox receives no mail and nobody can open it; grants are kept."""
        async with self.deps.db.write() as conn:
            mailbox, _ = await require_group(conn, ctx, address, administer=True)
            if mailbox.disabled == disabled:
                return mailbox
            await groups_repo.set_disabled(conn, mailbox.id, disabled)
            action = "group.disable" if disabled else "group.enable"
            await self._audit(conn, ctx, mailbox, action, mailbox.display_name)
            members = [g.user_id for g in await mailbox_repo.list_grants(conn, mailbox.id)]
        for user_id in members:
            self.deps.events.publish(GrantsChanged(mailbox.id, user_id))
        return Mailbox(
            mailbox.id, mailbox.org_id, mailbox.kind, mailbox.address,
            mailbox.display_name, None, disabled,
        )  # fmt: skip

    async def delete(self, ctx: AccessContext, address: str, *, confirmed: bool = True) -> None:
        """Delete an empty group mailbox with its folders, grants and subscriptions; Conflict
        while any folder holds a message. A form passes `confirmed` from its confirmation box."""
        async with self.deps.db.write() as conn:
            mailbox, _ = await require_group(conn, ctx, address, administer=True)
            if not confirmed:
                raise InvalidInput("tick the box to confirm the deletion")
            count = await groups_repo.count_messages(conn, mailbox.id)
            if count:
                noun = "message" if count == 1 else "messages"
                raise Conflict(f"the mailbox still holds {count} {noun}: export or empty it first")
            members = await groups_repo.delete_empty_group(conn, mailbox.id)
            await self._audit(conn, ctx, mailbox, "group.delete", mailbox.display_name)
        for user_id in members:
            self.deps.events.publish(GrantsChanged(mailbox.id, user_id))

    async def _audit(
        self,
        conn: AsyncConnection,
        ctx: AccessContext,
        mailbox: Mailbox,
        action: str,
        target: str,
        detail: str = "",
    ) -> None:
        await audit_group(conn, ctx, mailbox, action, target, detail)  # always a group here
