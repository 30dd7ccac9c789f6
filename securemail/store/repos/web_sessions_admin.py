"""Webmail sessions as an administrator sees them: another user's active sessions, ended."""

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from securemail.store.schema import web_sessions

s = web_sessions.c
ACTIVE = "active"


async def list_active(conn: AsyncConnection, user_id: int) -> list[Any]:
    """The user's sessions past the second factor, most recently used first."""
    query = (
        select(web_sessions)
        .where(s.user_id == user_id, s.stage == ACTIVE)
        .order_by(s.last_seen_at.desc(), s.id.desc())
    )
    return list((await conn.execute(query)).all())


async def delete_all(conn: AsyncConnection, user_id: int) -> int:
    """End every session of the user (waiting for the second factor too); how many ended."""
    result = await conn.execute(delete(web_sessions).where(s.user_id == user_id))
    return int(result.rowcount)


async def delete_one(conn: AsyncConnection, user_id: int, session_id: int) -> bool:
    """End one session, only if it belongs to the user."""
    result = await conn.execute(
        delete(web_sessions).where(s.id == session_id, s.user_id == user_id)
    )
    return bool(result.rowcount)
