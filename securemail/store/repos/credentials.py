"""App passwords and second-factor secrets."""

from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from securemail.store.repos.common import as_utc, keyring_of, now
from securemail.store.schema import app_passwords, users


async def insert_app_password(
    conn: AsyncConnection, user_id: int, label: str, protocols: str, secret_hash: str
) -> int:
    result = await conn.execute(
        insert(app_passwords).values(
            user_id=user_id,
            label=label,
            protocols=protocols,
            secret_hash=secret_hash,
            created_at=now(),
        )
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


async def find_app_password(conn: AsyncConnection, secret_hash: str) -> Any | None:
    query = select(app_passwords).where(app_passwords.c.secret_hash == secret_hash)
    return (await conn.execute(query)).first()


async def touch_app_password(conn: AsyncConnection, password_id: int) -> None:
    await conn.execute(
        update(app_passwords).where(app_passwords.c.id == password_id).values(last_used_at=now())
    )


async def list_app_passwords(
    conn: AsyncConnection, user_id: int
) -> list[tuple[int, str, str, datetime, datetime | None]]:
    query = (
        select(app_passwords).where(app_passwords.c.user_id == user_id).order_by(app_passwords.c.id)
    )
    rows = (await conn.execute(query)).all()
    return [
        (r.id, r.label, r.protocols, as_utc(r.created_at) or now(), as_utc(r.last_used_at))
        for r in rows
    ]


async def delete_app_password(conn: AsyncConnection, user_id: int, password_id: int) -> bool:
    result = await conn.execute(
        delete(app_passwords).where(
            app_passwords.c.id == password_id, app_passwords.c.user_id == user_id
        )
    )
    return bool(result.rowcount)


def totp_context(user_id: int) -> str:
    """The associated data a TOTP seed is sealed with: the user it belongs to."""
    return f"totp:{user_id}"


async def totp_secret(conn: AsyncConnection, user_id: int) -> str | None:
    found = await conn.scalar(select(users.c.totp_secret).where(users.c.id == user_id))
    return keyring_of(conn).open_text(str(found), totp_context(user_id)) if found else None


async def set_totp_secret(conn: AsyncConnection, user_id: int, secret: str | None) -> None:
    """Store the seed sealed (security/sealing.py); None ends the enrolment."""
    value = keyring_of(conn).seal_text(secret, totp_context(user_id)) if secret else None
    await conn.execute(update(users).where(users.c.id == user_id).values(totp_secret=value))


async def password_hash(conn: AsyncConnection, user_id: int) -> str | None:
    """The stored password hash of one user (None: no password set)."""
    found = await conn.scalar(select(users.c.password_hash).where(users.c.id == user_id))
    return str(found) if found else None


async def set_password_hash(conn: AsyncConnection, user_id: int, secret_hash: str) -> None:
    """Store a new password hash and lift a forced change."""
    await conn.execute(
        update(users)
        .where(users.c.id == user_id)
        .values(password_hash=secret_hash, must_change_password=False)
    )
