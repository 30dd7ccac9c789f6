"""POP3 maildrop queries: a folder's messages minus those the user has hidden, and hiding."""

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from securemail.store.repos.common import insert_ignore, now
from securemail.store.schema import contents, messages, pop3_hidden


@dataclass(frozen=True, slots=True)
class DropRow:
    message_id: int
    uid: int
    size: int


async def list_visible(conn: AsyncConnection, folder_id: int, user_id: int) -> list[DropRow]:
    """The folder's messages in UID order, without those `user_id` has hidden from POP3."""
    hidden = pop3_hidden.c
    query = (
        select(messages.c.id, messages.c.uid, contents.c.size)
        .join(contents, contents.c.id == messages.c.content_id)
        .outerjoin(
            pop3_hidden,
            and_(hidden.message_id == messages.c.id, hidden.user_id == user_id),
        )
        .where(messages.c.folder_id == folder_id, hidden.message_id.is_(None))
        .order_by(messages.c.uid)
    )
    return [DropRow(int(r.id), int(r.uid), int(r.size)) for r in await conn.execute(query)]


async def hide(conn: AsyncConnection, user_id: int, message_ids: Iterable[int]) -> None:
    """Hide messages from this user's POP3 view (idempotent)."""
    for message_id in message_ids:
        values = {"user_id": user_id, "message_id": message_id, "hidden_at": now()}
        await conn.execute(insert_ignore(conn, pop3_hidden, values))
