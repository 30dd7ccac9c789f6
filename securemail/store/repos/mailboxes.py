"""Mailboxes, their folders and the grants on them. Lists are scoped to the caller in SQL."""

import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, case, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from securemail.core.model import STANDARD_FOLDERS, Folder, Grant, Mailbox, SpecialUse
from securemail.core.rights import MailboxFacts, MailboxKind, Right, rights_from_bits
from securemail.store.repos.common import IN_CHUNK, insert_ignore, now, upsert
from securemail.store.schema import (
    folders,
    grants,
    imap_subscriptions,
    mailboxes,
    messages,
    seen,
    users,
)


def _mailbox(row: Any, rights: Right = Right.NONE) -> Mailbox:
    return Mailbox(
        id=row.id,
        org_id=row.org_id,
        kind=MailboxKind(row.kind),
        address=row.address,
        display_name=row.display_name,
        owner_user_id=row.owner_user_id,
        disabled=row.disabled,
        rights=rights,
    )


def facts(mailbox: Mailbox) -> MailboxFacts:
    return MailboxFacts(
        mailbox_id=mailbox.id,
        org_id=mailbox.org_id,
        kind=mailbox.kind,
        owner_user_id=mailbox.owner_user_id,
        disabled=mailbox.disabled,
    )


async def insert_mailbox(
    conn: AsyncConnection,
    *,
    org_id: int,
    kind: MailboxKind,
    address: str,
    display_name: str,
    owner_user_id: int | None,
) -> int:
    result = await conn.execute(
        insert(mailboxes).values(
            org_id=org_id,
            kind=kind.value,
            address=address,
            display_name=display_name,
            owner_user_id=owner_user_id,
            disabled=False,
            created_at=now(),
        )
    )
    mailbox_id = int(result.inserted_primary_key[0])  # type: ignore[index]
    for name, special in STANDARD_FOLDERS:
        await insert_folder(conn, mailbox_id, name, special)
    return mailbox_id


async def find_mailbox(conn: AsyncConnection, mailbox_id: int) -> Mailbox | None:
    row = (await conn.execute(select(mailboxes).where(mailboxes.c.id == mailbox_id))).first()
    return _mailbox(row) if row else None


async def find_mailbox_by_address(conn: AsyncConnection, address: str) -> Mailbox | None:
    row = (await conn.execute(select(mailboxes).where(mailboxes.c.address == address))).first()
    return _mailbox(row) if row else None


async def find_inbox(conn: AsyncConnection, address: str) -> tuple[int, int] | None:
    """(mailbox id, INBOX folder id) of an enabled mailbox, in one query (delivery's hot path)."""
    query = (
        select(mailboxes.c.id, folders.c.id)
        .join(folders, folders.c.mailbox_id == mailboxes.c.id)
        .where(
            mailboxes.c.address == address,
            mailboxes.c.disabled.is_(False),
            folders.c.special_use == SpecialUse.INBOX.value,
        )
    )
    row = (await conn.execute(query)).first()
    return (int(row[0]), int(row[1])) if row else None


async def find_personal_mailbox(conn: AsyncConnection, user_id: int) -> Mailbox | None:
    query = select(mailboxes).where(mailboxes.c.owner_user_id == user_id)
    row = (await conn.execute(query)).first()
    return _mailbox(row) if row else None


async def list_group_mailboxes(conn: AsyncConnection, org_id: int | None) -> list[Mailbox]:
    query = select(mailboxes).where(mailboxes.c.kind == MailboxKind.GROUP.value)
    if org_id is not None:
        query = query.where(mailboxes.c.org_id == org_id)
    return [_mailbox(r) for r in await conn.execute(query.order_by(mailboxes.c.address))]


async def list_candidate_mailboxes(
    conn: AsyncConnection, user_id: int, org_id: int | None
) -> list[tuple[Mailbox, Right]]:
    """The user's personal mailbox and group mailboxes of their organisation with a READ grant.

    Scoped in SQL; the service still passes each through effective_rights.
    """
    joined = mailboxes.outerjoin(
        grants, and_(grants.c.mailbox_id == mailboxes.c.id, grants.c.user_id == user_id)
    )
    query = (
        select(mailboxes, grants.c.rights)
        .select_from(joined)
        .where(
            or_(
                mailboxes.c.owner_user_id == user_id,
                and_(
                    mailboxes.c.org_id == org_id,
                    mailboxes.c.kind == MailboxKind.GROUP.value,
                    grants.c.rights.op("&")(Right.READ.value) != 0,
                ),
            )
        )
        .order_by(mailboxes.c.kind.desc(), mailboxes.c.address)
    )
    rows = (await conn.execute(query)).all()
    return [(_mailbox(r), rights_from_bits(r.rights or 0)) for r in rows]


async def set_mailbox(conn: AsyncConnection, mailbox_id: int, **values: Any) -> None:
    await conn.execute(update(mailboxes).where(mailboxes.c.id == mailbox_id).values(**values))


# --- grants -----------------------------------------------------------------------------


async def granted_rights(conn: AsyncConnection, mailbox_id: int, user_id: int) -> Right:
    bits = await conn.scalar(
        select(grants.c.rights).where(
            grants.c.mailbox_id == mailbox_id, grants.c.user_id == user_id
        )
    )
    return rights_from_bits(bits or 0)


async def grant_and_standing(
    conn: AsyncConnection, mailbox_id: int, user_id: int
) -> tuple[Right, bool]:
    """What the user was granted on the mailbox, and whether the user is disabled (one query).
    A user id with no row (the console's system context) is not disabled."""
    query = (
        select(users.c.disabled, grants.c.rights)
        .select_from(
            users.outerjoin(
                grants, and_(grants.c.user_id == users.c.id, grants.c.mailbox_id == mailbox_id)
            )
        )
        .where(users.c.id == user_id)
    )
    row = (await conn.execute(query)).first()
    if row is None:
        return Right.NONE, False
    return rights_from_bits(row.rights or 0), bool(row.disabled)


async def set_grant(
    conn: AsyncConnection, mailbox_id: int, user_id: int, rights: Right, by: str
) -> None:
    """Store `rights` for the pair (one upsert, safe under concurrency); none deletes it."""
    where = and_(grants.c.mailbox_id == mailbox_id, grants.c.user_id == user_id)
    if not rights:
        await conn.execute(delete(grants).where(where))
        return
    values = {
        "mailbox_id": mailbox_id,
        "user_id": user_id,
        "rights": rights.value,
        "granted_by": by,
        "updated_at": now(),
    }
    await conn.execute(
        upsert(
            conn, grants, values, ["mailbox_id", "user_id"], ["rights", "granted_by", "updated_at"]
        )
    )


async def list_grants(conn: AsyncConnection, mailbox_id: int) -> list[Grant]:
    query = (
        select(grants.c.user_id, grants.c.rights, users.c.address, mailboxes.c.address)
        .join(users, users.c.id == grants.c.user_id)
        .join(mailboxes, mailboxes.c.id == grants.c.mailbox_id)
        .where(grants.c.mailbox_id == mailbox_id)
        .order_by(users.c.address)
    )
    rows = (await conn.execute(query)).all()
    return [Grant(mailbox_id, r[3], r[0], r[2], rights_from_bits(r[1])) for r in rows]


# --- folders ----------------------------------------------------------------------------


# INBOX, Sent, Drafts, Trash first, in that order; then the user's folders by name.
_FOLDER_ORDER = case(
    {special.value: i for i, (_name, special) in enumerate(STANDARD_FOLDERS)},
    value=folders.c.special_use,
    else_=len(STANDARD_FOLDERS),
)


def _folder(row: Any, total: int = 0, unseen: int = 0) -> Folder:
    special = SpecialUse(row.special_use) if row.special_use else None
    return Folder(
        id=row.id,
        mailbox_id=row.mailbox_id,
        name=row.name,
        special_use=special,
        uidvalidity=row.uidvalidity,
        uidnext=row.uidnext,
        highestmodseq=row.highestmodseq,
        total=total,
        unseen=unseen,
    )


async def insert_folder(
    conn: AsyncConnection, mailbox_id: int, name: str, special: SpecialUse | None = None
) -> int:
    """A new folder with a UIDVALIDITY larger than any this mailbox has used (RFC 3501 2.3.1.1)."""
    latest = await conn.scalar(
        select(func.max(folders.c.uidvalidity)).where(folders.c.mailbox_id == mailbox_id)
    )
    uidvalidity = max(int(time.time()), int(latest or 0) + 1)
    result = await conn.execute(
        insert(folders).values(
            mailbox_id=mailbox_id,
            name=name,
            special_use=special.value if special else None,
            uidvalidity=uidvalidity,
            uidnext=1,
            highestmodseq=1,
            created_at=now(),
        )
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


async def find_folder(conn: AsyncConnection, folder_id: int) -> Folder | None:
    """The folder with its message count (kept in its row), not the caller's unseen count."""
    row = (await conn.execute(select(folders).where(folders.c.id == folder_id))).first()
    return _folder(row, int(row.message_count)) if row else None


async def find_folder_by_name(conn: AsyncConnection, mailbox_id: int, name: str) -> Folder | None:
    query = select(folders).where(folders.c.mailbox_id == mailbox_id, folders.c.name == name)
    row = (await conn.execute(query)).first()
    return _folder(row) if row else None


async def find_special_folder(
    conn: AsyncConnection, mailbox_id: int, special: SpecialUse
) -> Folder | None:
    query = select(folders).where(
        folders.c.mailbox_id == mailbox_id, folders.c.special_use == special.value
    )
    row = (await conn.execute(query)).first()
    return _folder(row) if row else None


async def list_folders(conn: AsyncConnection, mailbox_id: int, user_id: int) -> list[Folder]:
    """Folders with their message count (kept in the folder row) and the count this user has
    not seen (that count minus the user's seen rows in the folder: one index range each)."""
    return (await folders_of(conn, [mailbox_id], user_id)).get(mailbox_id, [])


async def folders_of(
    conn: AsyncConnection, mailbox_ids: Sequence[int], user_id: int
) -> dict[int, list[Folder]]:
    """list_folders for several mailboxes in two statements (the webmail sidebar): each
    mailbox's folders in display order, by mailbox id; a mailbox without folders is absent."""
    if not mailbox_ids:
        return {}
    query = (
        select(folders)
        .where(folders.c.mailbox_id.in_(list(mailbox_ids)))
        .order_by(folders.c.mailbox_id, _FOLDER_ORDER, folders.c.name)
    )
    rows = list(await conn.execute(query))
    if not rows:
        return {}
    read: dict[int, int] = {}
    ids = [int(r.id) for r in rows]
    for start in range(0, len(ids), IN_CHUNK):
        counted = (
            select(seen.c.folder_id, func.count().label("n"))
            .where(seen.c.user_id == user_id, seen.c.folder_id.in_(ids[start : start + IN_CHUNK]))
            .group_by(seen.c.folder_id)
        )
        read.update((int(r.folder_id), int(r.n)) for r in await conn.execute(counted))
    out: dict[int, list[Folder]] = {}
    for row in rows:
        total = int(row.message_count)
        unseen = max(0, total - read.get(int(row.id), 0))
        out.setdefault(int(row.mailbox_id), []).append(_folder(row, total, unseen))
    return out


async def list_folders_plain(conn: AsyncConnection, mailbox_id: int) -> list[Folder]:
    """The folders of a mailbox in display order, with their message count but not the
    caller's unseen count (0: list_folders adds it)."""
    query = (
        select(folders)
        .where(folders.c.mailbox_id == mailbox_id)
        .order_by(_FOLDER_ORDER, folders.c.name)
    )
    return [_folder(r, int(r.message_count)) for r in await conn.execute(query)]


async def count_folders(conn: AsyncConnection, mailbox_id: int) -> int:
    query = select(func.count()).select_from(folders).where(folders.c.mailbox_id == mailbox_id)
    return int(await conn.scalar(query) or 0)


async def rename_folder(conn: AsyncConnection, folder_id: int, name: str) -> None:
    await conn.execute(update(folders).where(folders.c.id == folder_id).values(name=name))


async def delete_folder(conn: AsyncConnection, folder_id: int) -> None:
    await conn.execute(delete(folders).where(folders.c.id == folder_id))


async def folder_is_empty(conn: AsyncConnection, folder_id: int) -> bool:
    query = select(messages.c.id).where(messages.c.folder_id == folder_id).limit(1)
    return (await conn.scalar(query)) is None


# --- IMAP subscriptions -----------------------------------------------------------------


async def list_subscriptions(conn: AsyncConnection, user_id: int) -> list[tuple[int, str]]:
    """IMAP subscriptions of a user: (mailbox id, folder name)."""
    query = select(imap_subscriptions.c.mailbox_id, imap_subscriptions.c.name).where(
        imap_subscriptions.c.user_id == user_id
    )
    return [(int(r.mailbox_id), str(r.name)) for r in await conn.execute(query)]


async def set_subscription(
    conn: AsyncConnection, user_id: int, mailbox_id: int, name: str, subscribed: bool
) -> None:
    where = and_(
        imap_subscriptions.c.user_id == user_id,
        imap_subscriptions.c.mailbox_id == mailbox_id,
        imap_subscriptions.c.name == name,
    )
    if subscribed:
        values = {"user_id": user_id, "mailbox_id": mailbox_id, "name": name}
        await conn.execute(insert_ignore(conn, imap_subscriptions, values))
    else:
        await conn.execute(delete(imap_subscriptions).where(where))
