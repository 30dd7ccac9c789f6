"""Webmail sessions and second-factor recovery codes."""

from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from securemail.store.repos.common import now
from securemail.store.schema import recovery_codes, users, web_sessions


async def insert_session(
    conn: AsyncConnection,
    *,
    token_hash: str,
    user_id: int,
    stage: str,
    csrf_token: str,
    remote: str,
    user_agent: str,
) -> int:
    at = now()
    result = await conn.execute(
        insert(web_sessions).values(
            token_hash=token_hash,
            user_id=user_id,
            stage=stage,
            csrf_token=csrf_token,
            created_at=at,
            last_seen_at=at,
            remote=remote[:64],
            user_agent=user_agent[:200],
        )
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


async def find_session(conn: AsyncConnection, token_hash: str) -> Any | None:
    query = select(web_sessions).where(web_sessions.c.token_hash == token_hash)
    return (await conn.execute(query)).first()


async def touch_session(conn: AsyncConnection, session_id: int, at: datetime) -> None:
    query = update(web_sessions).where(web_sessions.c.id == session_id).values(last_seen_at=at)
    await conn.execute(query)


async def set_stage(conn: AsyncConnection, session_id: int, stage: str) -> None:
    query = update(web_sessions).where(web_sessions.c.id == session_id).values(stage=stage)
    await conn.execute(query)


async def list_sessions(conn: AsyncConnection, user_id: int) -> list[Any]:
    query = (
        select(web_sessions)
        .where(web_sessions.c.user_id == user_id, web_sessions.c.stage == "active")
        .order_by(web_sessions.c.last_seen_at.desc())
    )
    return list((await conn.execute(query)).all())


async def delete_session(conn: AsyncConnection, session_id: int, user_id: int) -> bool:
    query = delete(web_sessions).where(
        web_sessions.c.id == session_id, web_sessions.c.user_id == user_id
    )
    return bool((await conn.execute(query)).rowcount)


async def delete_idle(conn: AsyncConnection, before: datetime) -> int:
    query = delete(web_sessions).where(web_sessions.c.last_seen_at < before)
    return int((await conn.execute(query)).rowcount)


async def replace_recovery_codes(conn: AsyncConnection, user_id: int, hashes: list[str]) -> None:
    await conn.execute(delete(recovery_codes).where(recovery_codes.c.user_id == user_id))
    if hashes:
        await conn.execute(
            insert(recovery_codes), [{"user_id": user_id, "code_hash": h} for h in hashes]
        )


async def use_recovery_code(conn: AsyncConnection, user_id: int, code_hash: str) -> bool:
    """Mark one unused code as used; False when no such unused code exists."""
    query = (
        update(recovery_codes)
        .where(
            recovery_codes.c.user_id == user_id,
            recovery_codes.c.code_hash == code_hash,
            recovery_codes.c.used_at.is_(None),
        )
        .values(used_at=now())
    )
    return bool((await conn.execute(query)).rowcount)


async def unused_recovery_codes(conn: AsyncConnection, user_id: int) -> int:
    query = select(recovery_codes.c.id).where(
        recovery_codes.c.user_id == user_id, recovery_codes.c.used_at.is_(None)
    )
    return len((await conn.execute(query)).all())


async def use_totp_step(conn: AsyncConnection, user_id: int, step: int) -> bool:
    """Record `step` as the last TOTP step used; False if it is not newer (a replayed code)."""
    query = (
        update(users)
        .where(
            users.c.id == user_id,
            or_(users.c.totp_last_step.is_(None), users.c.totp_last_step < step),
        )
        .values(totp_last_step=step)
    )
    return bool((await conn.execute(query)).rowcount)


async def reset_totp_step(conn: AsyncConnection, user_id: int, step: int | None) -> None:
    """A new second factor starts from the step that proved it (None: no factor)."""
    await conn.execute(update(users).where(users.c.id == user_id).values(totp_last_step=step))
