"""Message summaries: a message row with its content's fields and the caller's \\Seen, as the
lists, views and reads of every protocol see it (writes are in repos/messages.py)."""

import json
from collections.abc import Sequence
from datetime import UTC
from typing import Any

from sqlalchemy import Select, and_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from securemail.core.model import Flag, MessageSummary
from securemail.store.repos.common import IN_CHUNK, as_utc, by_id_in_folder, now
from securemail.store.schema import contents, folders, messages, seen, users

SORT_COLUMNS = {
    "date": messages.c.internal_date,
    "subject": contents.c.subject,
    "from": contents.c.from_addr,
    "size": contents.c.size,
}


_SUMMARY_COLUMNS = (
    messages.c.id,
    messages.c.folder_id,
    messages.c.uid,
    messages.c.modseq,
    messages.c.flags,
    messages.c.keywords,
    messages.c.internal_date,
    contents.c.size,
    contents.c.from_addr,
    contents.c.to_addrs,
    contents.c.subject,
    contents.c.date,
    contents.c.message_id,
    contents.c.in_reply_to,
    contents.c.references,
    contents.c.has_attachments,
    contents.c.blob_id,
)
# Flag(n) costs an enum lookup per row; most rows share few values. NONE is not among the
# members iteration yields, and it is the commonest.
_FLAGS = {f.value: f for f in (Flag.NONE, *Flag)}


def summary_query(user_id: int) -> Select[Any]:
    """Messages joined with their content, the caller's \\Seen and who sent them: exactly the
    columns of a MessageSummary, in the order to_summary reads them."""
    sender = users.alias("sender")
    return (
        select(
            *_SUMMARY_COLUMNS,
            seen.c.user_id.label("seen_by_me"),
            sender.c.address.label("sent_by"),
        )
        .select_from(messages)
        .join(contents, contents.c.id == messages.c.content_id)
        .outerjoin(seen, and_(seen.c.message_id == messages.c.id, seen.c.user_id == user_id))
        .outerjoin(sender, sender.c.id == messages.c.sent_by_user_id)
    )


def _flags(value: int) -> Flag:
    found = _FLAGS.get(value)
    return found if found is not None else Flag(value)


def to_summary(row: Any) -> MessageSummary:
    """A summary_query row (by position: a view of 10,000 messages is built from these)."""
    (mid, folder_id, uid, modseq, flags, keywords, internal_date, size, from_addr, to_addrs,
     subject, date, message_id, in_reply_to, references, has_attachments, blob_id, seen_by_me,
     sent_by) = row[:19]  # fmt: skip
    return MessageSummary(
        id=mid,
        folder_id=folder_id,
        uid=uid,
        modseq=modseq,
        flags=_flags(flags),
        keywords=() if keywords == "[]" else tuple(json.loads(keywords)),
        seen=seen_by_me is not None,
        internal_date=as_utc(internal_date) or now(),
        size=size,
        from_addr=from_addr,
        to_addrs=to_addrs,
        subject=subject,
        date=as_utc(date),
        message_id=message_id,
        in_reply_to=in_reply_to,
        references=references,
        has_attachments=has_attachments,
        blob_id=blob_id,
        sent_by=sent_by,
    )


def to_summaries(rows: Any) -> list[MessageSummary]:
    """to_summary for many rows, in one loop: the same summaries, built positionally without a
    call per row and per datetime (a view or a FETCH batch is thousands of rows)."""
    out: list[MessageSummary] = []
    append = out.append
    build = MessageSummary
    flags_of = _FLAGS.get
    loads = json.loads
    for row in rows:
        (mid, folder_id, uid, modseq, flags, keywords, internal_date, size, from_addr, to_addrs,
         subject, date, message_id, in_reply_to, references, has_attachments, blob_id,
         seen_by_me, sent_by) = row[:19]  # fmt: skip
        if internal_date is None:
            internal_date = now()
        elif internal_date.tzinfo is None:
            internal_date = internal_date.replace(tzinfo=UTC)
        if date is not None and date.tzinfo is None:
            date = date.replace(tzinfo=UTC)
        flag = flags_of(flags)
        append(
            build(
                mid,
                folder_id,
                uid,
                modseq,
                flag if flag is not None else Flag(flags),
                () if keywords == "[]" else tuple(loads(keywords)),
                seen_by_me is not None,
                internal_date,
                size,
                from_addr,
                to_addrs,
                subject,
                date,
                message_id,
                in_reply_to,
                references,
                has_attachments,
                blob_id,
                sent_by,
            )
        )
    return out


async def list_messages(
    conn: AsyncConnection,
    folder_id: int,
    user_id: int,
    *,
    offset: int,
    limit: int,
    sort: str = "date",
    descending: bool = True,
) -> list[MessageSummary]:
    column = SORT_COLUMNS[sort]
    order = [column.desc(), messages.c.id.desc()] if descending else [column, messages.c.id]
    query = (
        summary_query(user_id)
        .where(messages.c.folder_id == folder_id)
        .order_by(*order)
        .offset(offset)
        .limit(limit)
    )
    return [to_summary(r) for r in await conn.execute(query)]


async def find_summary(
    conn: AsyncConnection, message_id: int, user_id: int
) -> tuple[MessageSummary, int] | None:
    """The message and its mailbox id, or None."""
    query = (
        summary_query(user_id)
        .add_columns(folders.c.mailbox_id)
        .join(folders, folders.c.id == messages.c.folder_id)
        .where(messages.c.id == message_id)
    )
    row = (await conn.execute(query)).first()
    return (to_summary(row), int(row.mailbox_id)) if row else None


async def folder_summaries(
    conn: AsyncConnection, folder_id: int, user_id: int
) -> list[MessageSummary]:
    query = summary_query(user_id).where(messages.c.folder_id == folder_id)
    return [to_summary(r) for r in await conn.execute(query)]


async def deleted_in_folder(
    conn: AsyncConnection, folder_id: int, user_id: int
) -> list[MessageSummary]:
    query = summary_query(user_id).where(
        messages.c.folder_id == folder_id, messages.c.flags.op("&")(Flag.DELETED.value) != 0
    )
    return [to_summary(r) for r in await conn.execute(query)]


async def list_folder_by_uid(
    conn: AsyncConnection, folder_id: int, user_id: int
) -> list[MessageSummary]:
    """Every message of a folder in UID order (an IMAP session's view of the folder)."""
    query = summary_query(user_id).where(messages.c.folder_id == folder_id).order_by(messages.c.uid)
    return to_summaries(await conn.execute(query))


async def changed_since(
    conn: AsyncConnection, folder_id: int, user_id: int, modseq: int
) -> list[MessageSummary]:
    """The messages of a folder added or changed after `modseq` (new ones, flag and \\Seen
    changes all take a new MODSEQ: RFC 7162 3.1.1), in UID order."""
    query = (
        summary_query(user_id)
        .where(messages.c.folder_id == folder_id, messages.c.modseq > modseq)
        .order_by(messages.c.uid)
    )
    return to_summaries(await conn.execute(query))


async def summaries_in_folder(
    conn: AsyncConnection, folder_id: int, user_id: int, message_ids: Sequence[int]
) -> dict[int, MessageSummary]:
    """The messages of `message_ids` that are in `folder_id`, by id (others are left out)."""
    found: dict[int, MessageSummary] = {}
    wanted = list(dict.fromkeys(message_ids))
    for start in range(0, len(wanted), IN_CHUNK):
        query = summary_query(user_id).where(
            by_id_in_folder(folder_id, wanted[start : start + IN_CHUNK])
        )
        found.update((s.id, s) for s in to_summaries(await conn.execute(query)))
    return found
