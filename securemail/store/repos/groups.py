"""Group mailboxes as the console manages them: member counts, emptiness, deletion, members."""

from collections.abc import Sequence

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from securemail.core.model import Mailbox, User
from securemail.core.rights import MailboxKind, Right, Role
from securemail.store.repos.mailboxes import find_mailbox
from securemail.store.schema import folders, grants, imap_subscriptions, mailboxes, messages, users


async def member_counts(conn: AsyncConnection, mailbox_ids: Sequence[int]) -> dict[int, int]:
    """How many users hold READ (hence any right) on each of the mailboxes."""
    if not mailbox_ids:
        return {}
    query = (
        select(grants.c.mailbox_id, func.count())
        .where(
            grants.c.mailbox_id.in_(list(mailbox_ids)),
            grants.c.rights.op("&")(Right.READ.value) != 0,
        )
        .group_by(grants.c.mailbox_id)
    )
    return {int(r[0]): int(r[1]) for r in await conn.execute(query)}


async def managed_group_ids(conn: AsyncConnection, user_id: int) -> list[int]:
    """Group mailboxes on which the user was granted MANAGE (the service checks READ too)."""
    query = (
        select(grants.c.mailbox_id)
        .join(mailboxes, mailboxes.c.id == grants.c.mailbox_id)
        .where(
            grants.c.user_id == user_id,
            mailboxes.c.kind == MailboxKind.GROUP.value,
            grants.c.rights.op("&")(Right.MANAGE.value) != 0,
        )
        .order_by(mailboxes.c.address)
    )
    return [int(r[0]) for r in await conn.execute(query)]


async def find_group(conn: AsyncConnection, mailbox_id: int) -> Mailbox | None:
    found = await find_mailbox(conn, mailbox_id)
    return found if found is not None and found.kind is MailboxKind.GROUP else None


async def count_messages(conn: AsyncConnection, mailbox_id: int) -> int:
    """Messages in every folder of the mailbox."""
    query = (
        select(func.count())
        .select_from(messages.join(folders, folders.c.id == messages.c.folder_id))
        .where(folders.c.mailbox_id == mailbox_id)
    )
    return int(await conn.scalar(query) or 0)


async def set_display_name(conn: AsyncConnection, mailbox_id: int, name: str) -> None:
    await conn.execute(
        update(mailboxes).where(mailboxes.c.id == mailbox_id).values(display_name=name)
    )


async def set_disabled(conn: AsyncConnection, mailbox_id: int, disabled: bool) -> None:
    await conn.execute(
        update(mailboxes).where(mailboxes.c.id == mailbox_id).values(disabled=disabled)
    )


async def delete_empty_group(conn: AsyncConnection, mailbox_id: int) -> list[int]:
    """Delete a group mailbox that holds no message: its subscriptions, grants, folders and
    row. Returns the ids of the users who held grants. The caller checked emptiness in the
    same transaction; the folder delete would fail on a foreign key otherwise."""
    members = [
        int(r[0])
        for r in await conn.execute(
            select(grants.c.user_id).where(grants.c.mailbox_id == mailbox_id)
        )
    ]
    await conn.execute(
        delete(imap_subscriptions).where(imap_subscriptions.c.mailbox_id == mailbox_id)
    )
    await conn.execute(delete(grants).where(grants.c.mailbox_id == mailbox_id))
    await conn.execute(delete(folders).where(folders.c.mailbox_id == mailbox_id))
    await conn.execute(delete(mailboxes).where(mailboxes.c.id == mailbox_id))
    return members


async def list_org_users(conn: AsyncConnection, org_id: int) -> list[User]:
    """The enabled users of one organisation, by address: who may be made a member."""
    query = (
        select(users.c.id, users.c.org_id, users.c.address, users.c.display_name, users.c.role)
        .where(users.c.org_id == org_id, users.c.disabled.is_(False))
        .order_by(users.c.address)
    )
    return [
        User(int(r.id), r.org_id, r.address, r.display_name, Role(r.role), False)
        for r in await conn.execute(query)
    ]
