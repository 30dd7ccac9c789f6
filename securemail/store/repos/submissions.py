"""Messages submitted per user in a sliding hour: the rows behind [limits]
max_submissions_per_hour, kept in the database so every node counts the same."""

from datetime import datetime, timedelta

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from securemail.store.schema import recent_submissions

WINDOW = timedelta(hours=1)
r = recent_submissions.c


async def count_since(conn: AsyncConnection, user_id: int, since: datetime) -> int:
    """Messages `user_id` submitted after `since` (an index range on (user_id, at))."""
    query = select(func.count()).where(r.user_id == user_id, r.at > since)
    return int(await conn.scalar(query) or 0)


async def record(conn: AsyncConnection, user_id: int, at: datetime) -> None:
    """Count one submission at `at`, and forget every row older than the window."""
    await conn.execute(insert(recent_submissions).values(user_id=user_id, at=at))
    await conn.execute(delete(recent_submissions).where(r.at <= at - WINDOW))
