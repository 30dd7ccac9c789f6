"""Message contents, per-folder messages with UIDs and MODSEQs, and per-user \\Seen."""

import json
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from securemail.core.model import Flag, ReadState
from securemail.mail.parse import ParsedFields
from securemail.store.repos.common import IN_CHUNK, by_id_in_folder, insert_ignore, now
from securemail.store.repos.index import index_content
from securemail.store.schema import contents, folders, messages, seen, users


async def find_or_insert_content(
    conn: AsyncConnection, blob_id: str, size: int, fields: ParsedFields
) -> int:
    """The content row for `blob_id`, created and indexed for search if new."""
    found = await conn.scalar(select(contents.c.id).where(contents.c.blob_id == blob_id))
    if found is not None:
        return int(found)
    values = {
        "blob_id": blob_id,
        "size": size,
        "from_addr": fields.from_addr,
        "to_addrs": fields.to_addrs,
        "cc_addrs": fields.cc_addrs,
        "subject": fields.subject,
        "date": fields.date,
        "message_id": fields.message_id,
        "in_reply_to": fields.in_reply_to,
        "references": fields.references,
        "has_attachments": fields.has_attachments,
        "created_at": now(),
    }
    # Another process may insert the same content at the same moment: the loser reads the
    # winner's row instead of failing on the unique blob_id.
    stmt = insert_ignore(conn, contents, values).returning(contents.c.id)
    new_id = (await conn.execute(stmt)).scalar_one_or_none()
    if new_id is None:
        query = select(contents.c.id).where(contents.c.blob_id == blob_id)
        return int((await conn.execute(query)).scalar_one())
    content_id = int(new_id)
    await index_content(conn, content_id, fields)
    return content_id


async def allocate_uid(conn: AsyncConnection, folder_id: int) -> tuple[int, int]:
    """Take the folder's next UID and a new MODSEQ in one locked UPDATE (strictly increasing)."""
    result = await conn.execute(
        update(folders)
        .where(folders.c.id == folder_id)
        .values(
            uidnext=folders.c.uidnext + 1,
            highestmodseq=folders.c.highestmodseq + 1,
            message_count=folders.c.message_count + 1,
        )
        .returning(folders.c.uidnext, folders.c.highestmodseq)
    )
    uidnext, modseq = result.one()
    return int(uidnext) - 1, int(modseq)


async def next_modseq(conn: AsyncConnection, folder_id: int) -> int:
    result = await conn.execute(
        update(folders)
        .where(folders.c.id == folder_id)
        .values(highestmodseq=folders.c.highestmodseq + 1)
        .returning(folders.c.highestmodseq)
    )
    return int(result.scalar_one())


async def insert_message(
    conn: AsyncConnection,
    *,
    folder_id: int,
    content_id: int,
    flags: Flag = Flag.NONE,
    keywords: Sequence[str] = (),
    internal_date: datetime | None = None,
    sent_by_user_id: int | None = None,
) -> int:
    uid, modseq = await allocate_uid(conn, folder_id)
    result = await conn.execute(
        insert(messages).values(
            folder_id=folder_id,
            content_id=content_id,
            uid=uid,
            modseq=modseq,
            flags=flags.value,
            keywords=json.dumps(sorted(set(keywords))),
            internal_date=internal_date or now(),
            sent_by_user_id=sent_by_user_id,
        )
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


async def set_flags(
    conn: AsyncConnection, message_id: int, folder_id: int, flags: Flag, keywords: Sequence[str]
) -> int:
    modseq = await next_modseq(conn, folder_id)
    await conn.execute(
        update(messages)
        .where(messages.c.id == message_id)
        .values(flags=flags.value, keywords=json.dumps(sorted(set(keywords))), modseq=modseq)
    )
    return modseq


async def set_flags_many(
    conn: AsyncConnection,
    folder_id: int,
    message_ids: Sequence[int],
    flags: Flag,
    keywords: Sequence[str],
) -> int:
    """The same shared flags and keywords on many messages of one folder, under one new
    MODSEQ (RFC 7162 3.1: one operation's changes may share it). Returns it."""
    modseq = await next_modseq(conn, folder_id)
    values = {"flags": flags.value, "keywords": json.dumps(sorted(set(keywords))), "modseq": modseq}
    wanted = list(dict.fromkeys(message_ids))
    for start in range(0, len(wanted), IN_CHUNK):
        chunk = wanted[start : start + IN_CHUNK]
        await conn.execute(update(messages).where(messages.c.id.in_(chunk)).values(**values))
    return modseq


async def set_seen(
    conn: AsyncConnection, message_id: int, folder_id: int, user_id: int, value: bool
) -> None:
    """Per-user \\Seen; bumps the message's MODSEQ so CONDSTORE clients notice."""
    where = and_(seen.c.message_id == message_id, seen.c.user_id == user_id)
    if value:
        values = {
            "message_id": message_id,
            "user_id": user_id,
            "seen_at": now(),
            "folder_id": folder_id,
        }
        await conn.execute(insert_ignore(conn, seen, values))
    else:
        await conn.execute(delete(seen).where(where))
    modseq = await next_modseq(conn, folder_id)
    await conn.execute(update(messages).where(messages.c.id == message_id).values(modseq=modseq))


async def read_by(conn: AsyncConnection, message_id: int) -> tuple[str, ...]:
    query = (
        select(users.c.address)
        .join(seen, seen.c.user_id == users.c.id)
        .where(seen.c.message_id == message_id)
        .order_by(users.c.address)
    )
    return tuple(r[0] for r in await conn.execute(query))


async def move_message(conn: AsyncConnection, message_id: int, to_folder_id: int) -> int:
    """Give the message a new UID in the target folder (RFC 6851: MOVE = COPY + EXPUNGE); the
    source folder's HIGHESTMODSEQ grows, as for an expunge."""
    await _expunge_modseq(conn, message_id)
    uid, modseq = await allocate_uid(conn, to_folder_id)
    await conn.execute(  # the read state moves along: unread counts go by seen.folder_id
        update(seen).where(seen.c.message_id == message_id).values(folder_id=to_folder_id)
    )
    await conn.execute(
        update(messages)
        .where(messages.c.id == message_id)
        .values(folder_id=to_folder_id, uid=uid, modseq=modseq)
    )
    return uid


async def copy_message(conn: AsyncConnection, message_id: int, to_folder_id: int) -> int:
    """A new message row in the target folder sharing the content, with the same flags."""
    row = (await conn.execute(select(messages).where(messages.c.id == message_id))).one()
    new_id = await insert_message(
        conn,
        folder_id=to_folder_id,
        content_id=row.content_id,
        flags=Flag(row.flags),
        keywords=json.loads(row.keywords),
        internal_date=row.internal_date,
        sent_by_user_id=row.sent_by_user_id,
    )
    seen_rows = (await conn.execute(select(seen).where(seen.c.message_id == message_id))).all()
    for s in seen_rows:
        await conn.execute(
            insert(seen).values(
                message_id=new_id, user_id=s.user_id, seen_at=s.seen_at, folder_id=to_folder_id
            )
        )
    return new_id


async def _expunge_modseq(conn: AsyncConnection, message_id: int) -> None:
    """A message leaves its folder: the folder's HIGHESTMODSEQ grows (RFC 7162 3.2.10 asks it
    of QRESYNC servers; folder counts are cached against it, services/folder_counts.py)."""
    folder_id = await conn.scalar(select(messages.c.folder_id).where(messages.c.id == message_id))
    if folder_id is not None:
        await conn.execute(
            update(folders)
            .where(folders.c.id == folder_id)
            .values(
                highestmodseq=folders.c.highestmodseq + 1,
                message_count=folders.c.message_count - 1,
            )
        )


async def delete_message(conn: AsyncConnection, message_id: int) -> None:
    await _expunge_modseq(conn, message_id)
    await conn.execute(delete(seen).where(seen.c.message_id == message_id))
    await conn.execute(delete(messages).where(messages.c.id == message_id))


async def count_in_folder(conn: AsyncConnection, folder_id: int) -> int:
    query = select(func.count()).select_from(messages).where(messages.c.folder_id == folder_id)
    return int(await conn.scalar(query) or 0)


async def blob_ids_in_folder(
    conn: AsyncConnection, folder_id: int, message_ids: Sequence[int]
) -> dict[int, str]:
    """message id -> blob id for the messages of `message_ids` that are in `folder_id`: the
    two columns a bulk read of contents needs, without building summaries."""
    found: dict[int, str] = {}
    wanted = list(dict.fromkeys(message_ids))
    for start in range(0, len(wanted), IN_CHUNK):
        query = (
            select(messages.c.id, contents.c.blob_id)
            .join(contents, contents.c.id == messages.c.content_id)
            .where(by_id_in_folder(folder_id, wanted[start : start + IN_CHUNK]))
        )
        found.update((int(r[0]), r[1]) for r in await conn.execute(query))
    return found


async def read_states_in_folder(
    conn: AsyncConnection, folder_id: int, user_id: int, message_ids: Sequence[int]
) -> dict[int, ReadState]:
    """The ReadState of the messages of `message_ids` that are in `folder_id`, by id: the
    four columns a bulk FETCH needs (a full summary costs three times as much per row)."""
    found: dict[int, ReadState] = {}
    wanted = list(dict.fromkeys(message_ids))
    mine = and_(seen.c.message_id == messages.c.id, seen.c.user_id == user_id)
    for start in range(0, len(wanted), IN_CHUNK):
        query = (
            select(messages.c.id, contents.c.blob_id, seen.c.user_id, messages.c.modseq)
            .join(contents, contents.c.id == messages.c.content_id)
            .outerjoin(seen, mine)
            .where(by_id_in_folder(folder_id, wanted[start : start + IN_CHUNK]))
        )
        for mid, blob_id, seen_by_me, modseq in await conn.execute(query):
            found[mid] = ReadState(mid, blob_id, seen_by_me is not None, modseq)
    return found


async def ids_in_folder(
    conn: AsyncConnection, folder_id: int, message_ids: Sequence[int]
) -> set[int]:
    """Which of `message_ids` are (still) in `folder_id`."""
    found: set[int] = set()
    wanted = list(dict.fromkeys(message_ids))
    for start in range(0, len(wanted), IN_CHUNK):
        query = select(messages.c.id).where(
            by_id_in_folder(folder_id, wanted[start : start + IN_CHUNK])
        )
        found.update(int(r[0]) for r in await conn.execute(query))
    return found


async def set_seen_many(
    conn: AsyncConnection, folder_id: int, user_id: int, message_ids: Sequence[int]
) -> int:
    """Per-user \\Seen on many messages of one folder; they share one new MODSEQ (RFC 7162
    3.1: messages changed by one operation may share a mod-sequence). Returns it."""
    modseq = await next_modseq(conn, folder_id)
    wanted = list(dict.fromkeys(message_ids))
    at = now()
    rows = [
        {"message_id": m, "user_id": user_id, "seen_at": at, "folder_id": folder_id} for m in wanted
    ]
    if rows:
        await conn.execute(insert_ignore(conn, seen, {}), rows)
    for start in range(0, len(wanted), IN_CHUNK):
        await conn.execute(
            update(messages)
            .where(messages.c.id.in_(wanted[start : start + IN_CHUNK]))
            .values(modseq=modseq)
        )
    return modseq


async def clear_seen_many(
    conn: AsyncConnection, folder_id: int, user_id: int, message_ids: Sequence[int]
) -> int:
    """Take away one user's \\Seen from many messages of one folder, under one new MODSEQ."""
    modseq = await next_modseq(conn, folder_id)
    wanted = list(dict.fromkeys(message_ids))
    for start in range(0, len(wanted), IN_CHUNK):
        chunk = wanted[start : start + IN_CHUNK]
        mine = and_(seen.c.user_id == user_id, seen.c.message_id.in_(chunk))
        await conn.execute(delete(seen).where(mine))
        await conn.execute(update(messages).where(messages.c.id.in_(chunk)).values(modseq=modseq))
    return modseq
