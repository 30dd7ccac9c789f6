"""Personal API tokens: rows keyed by the keyed hash of the secret, never the secret itself."""

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from securemail.store.repos.common import now
from securemail.store.schema import api_tokens


async def insert_token(
    conn: AsyncConnection,
    *,
    user_id: int,
    label: str,
    token_hash: str,
    scope: str,
    expires_at: datetime,
) -> int:
    result = await conn.execute(
        insert(api_tokens).values(
            user_id=user_id,
            label=label,
            token_hash=token_hash,
            scope=scope,
            created_at=now(),
            expires_at=expires_at,
        )
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


async def find_token(conn: AsyncConnection, token_id: int) -> Any | None:
    return (await conn.execute(select(api_tokens).where(api_tokens.c.id == token_id))).first()


async def find_token_by_hash(conn: AsyncConnection, token_hash: str) -> Any | None:
    query = select(api_tokens).where(api_tokens.c.token_hash == token_hash)
    return (await conn.execute(query)).first()


async def list_tokens(conn: AsyncConnection, user_id: int) -> list[Any]:
    query = select(api_tokens).where(api_tokens.c.user_id == user_id).order_by(api_tokens.c.id)
    return list((await conn.execute(query)).all())


async def count_tokens(conn: AsyncConnection, user_id: int) -> int:
    query = select(func.count()).select_from(api_tokens).where(api_tokens.c.user_id == user_id)
    return int(await conn.scalar(query) or 0)


async def delete_token(conn: AsyncConnection, user_id: int, token_id: int) -> bool:
    result = await conn.execute(
        delete(api_tokens).where(api_tokens.c.id == token_id, api_tokens.c.user_id == user_id)
    )
    return bool(result.rowcount)


async def touch_token(conn: AsyncConnection, token_id: int, when: datetime) -> None:
    await conn.execute(
        update(api_tokens).where(api_tokens.c.id == token_id).values(last_used_at=when)
    )
