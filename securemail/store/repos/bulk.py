"""Bulk writes for group-committed deliveries: a fixed number of statements per batch, not
per message (each round trip to SQLite goes through a worker thread)."""

import json
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from securemail.mail.parse import ParsedFields
from securemail.store.repos.common import insert_ignore, keyring_of, now
from securemail.store.repos.index import FTS_INSERT, index_params
from securemail.store.schema import contents, folders, messages


@dataclass(frozen=True)
class NewContent:
    blob_id: str
    size: int
    fields: ParsedFields


def _content_row(item: NewContent) -> dict[str, object]:
    f = item.fields
    return {
        "blob_id": item.blob_id,
        "size": item.size,
        "from_addr": f.from_addr,
        "to_addrs": f.to_addrs,
        "cc_addrs": f.cc_addrs,
        "subject": f.subject,
        "date": f.date,
        "message_id": f.message_id,
        "in_reply_to": f.in_reply_to,
        "references": f.references,
        "has_attachments": f.has_attachments,
        "created_at": now(),
    }


async def _content_ids(conn: AsyncConnection, blob_ids: Sequence[str]) -> dict[str, int]:
    query = select(contents.c.blob_id, contents.c.id).where(contents.c.blob_id.in_(blob_ids))
    return {str(r[0]): int(r[1]) for r in await conn.execute(query)}


async def ensure_contents(conn: AsyncConnection, items: Sequence[NewContent]) -> dict[str, int]:
    """Content ids by blob id, inserting and indexing the contents not stored yet."""
    unique = {i.blob_id: i for i in items}
    known = await _content_ids(conn, list(unique))
    fresh = [i for b, i in unique.items() if b not in known]
    if not fresh:
        return known
    await conn.execute(insert_ignore(conn, contents, {}), [_content_row(i) for i in fresh])
    ids = await _content_ids(conn, list(unique))
    keyring = keyring_of(conn)
    rows = [index_params(keyring, ids[i.blob_id], i.fields) for i in fresh]
    await conn.execute(text(FTS_INSERT[conn.dialect.name]), rows)
    return ids


async def allocate_uids(conn: AsyncConnection, folder_id: int, count: int) -> tuple[int, int]:
    """Take `count` UIDs and MODSEQs for `count` new messages in one locked UPDATE (which also
    counts them in); returns the first of each."""
    result = await conn.execute(
        update(folders)
        .where(folders.c.id == folder_id)
        .values(
            uidnext=folders.c.uidnext + count,
            highestmodseq=folders.c.highestmodseq + count,
            message_count=folders.c.message_count + count,
        )
        .returning(folders.c.uidnext, folders.c.highestmodseq)
    )
    uidnext, modseq = result.one()
    return int(uidnext) - count, int(modseq) - count + 1


async def insert_messages(
    conn: AsyncConnection, folder_id: int, content_ids: Sequence[int]
) -> list[int]:
    """One message per content id into the folder, with consecutive UIDs (RFC 3501 2.3.1.1)."""
    first_uid, first_modseq = await allocate_uids(conn, folder_id, len(content_ids))
    stamp = now()
    rows = [
        {
            "folder_id": folder_id,
            "content_id": content_id,
            "uid": first_uid + n,
            "modseq": first_modseq + n,
            "flags": 0,
            "keywords": json.dumps([]),
            "internal_date": stamp,
            "sent_by_user_id": None,
        }
        for n, content_id in enumerate(content_ids)
    ]
    await conn.execute(messages.insert(), rows)
    last_uid = first_uid + len(content_ids) - 1
    query = (
        select(messages.c.id)
        .where(messages.c.folder_id == folder_id, messages.c.uid.between(first_uid, last_uid))
        .order_by(messages.c.uid)
    )
    return [int(r[0]) for r in await conn.execute(query)]  # in the order of content_ids
