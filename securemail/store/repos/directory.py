"""Organisations, domains and users."""

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, or_, select, union_all, update
from sqlalchemy.ext.asyncio import AsyncConnection

from securemail.core.model import Organisation, User
from securemail.core.rights import MailboxKind, Role
from securemail.store.repos.common import as_utc, like_escape, now
from securemail.store.schema import domains, mailboxes, organisations, users


async def insert_org(conn: AsyncConnection, name: str) -> int:
    result = await conn.execute(insert(organisations).values(name=name, created_at=now()))
    return int(result.inserted_primary_key[0])  # type: ignore[index]


async def insert_domain(conn: AsyncConnection, org_id: int, name: str) -> None:
    await conn.execute(insert(domains).values(org_id=org_id, name=name, created_at=now()))


async def _org_domains(conn: AsyncConnection, org_id: int) -> tuple[str, ...]:
    rows = await conn.execute(
        select(domains.c.name).where(domains.c.org_id == org_id).order_by(domains.c.name)
    )
    return tuple(r[0] for r in rows)


async def find_org_by_name(conn: AsyncConnection, name: str) -> Organisation | None:
    row = (
        await conn.execute(
            select(organisations).where(func.lower(organisations.c.name) == name.lower())
        )
    ).first()
    if row is None:
        return None
    return Organisation(id=row.id, name=row.name, domains=await _org_domains(conn, row.id))


async def find_org(conn: AsyncConnection, org_id: int) -> Organisation | None:
    row = (await conn.execute(select(organisations).where(organisations.c.id == org_id))).first()
    if row is None:
        return None
    return Organisation(id=row.id, name=row.name, domains=await _org_domains(conn, row.id))


async def list_orgs(conn: AsyncConnection, org_id: int | None = None) -> list[Organisation]:
    query = select(organisations).order_by(organisations.c.name)
    if org_id is not None:
        query = query.where(organisations.c.id == org_id)
    rows = (await conn.execute(query)).all()
    return [Organisation(r.id, r.name, await _org_domains(conn, r.id)) for r in rows]


async def find_domain_org(conn: AsyncConnection, domain: str) -> int | None:
    """The organisation that owns `domain`, or None."""
    found = await conn.scalar(select(domains.c.org_id).where(domains.c.name == domain))
    return int(found) if found is not None else None


def _user(row: Any) -> User:
    return User(
        id=row.id,
        org_id=row.org_id,
        address=row.address,
        display_name=row.display_name,
        role=Role(row.role),
        disabled=row.disabled,
        last_login_at=as_utc(row.last_login_at),
    )


async def insert_user(
    conn: AsyncConnection,
    *,
    org_id: int | None,
    address: str,
    display_name: str,
    role: Role,
    password_hash: str | None,
    must_change_password: bool,
) -> int:
    result = await conn.execute(
        insert(users).values(
            org_id=org_id,
            address=address,
            display_name=display_name,
            role=role.value,
            password_hash=password_hash,
            must_change_password=must_change_password,
            disabled=False,
            failed_logins=0,
            created_at=now(),
        )
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


async def find_user_by_address(conn: AsyncConnection, address: str) -> User | None:
    row = (await conn.execute(select(users).where(users.c.address == address))).first()
    return _user(row) if row else None


async def find_user(conn: AsyncConnection, user_id: int) -> User | None:
    row = (await conn.execute(select(users).where(users.c.id == user_id))).first()
    return _user(row) if row else None


async def user_and_duties(conn: AsyncConnection, user_id: int) -> tuple[User, bool, bool] | None:
    """A user with (must change password, has a second factor), from one row."""
    row = (await conn.execute(select(users).where(users.c.id == user_id))).first()
    if row is None:
        return None
    return _user(row), bool(row.must_change_password), row.totp_secret is not None


async def list_users(conn: AsyncConnection, org_id: int | None) -> Sequence[User]:
    """Users of one organisation, or every user when org_id is None (service admin)."""
    query = select(users).order_by(users.c.address)
    if org_id is not None:
        query = query.where(users.c.org_id == org_id)
    return [_user(r) for r in await conn.execute(query)]


async def login_row(conn: AsyncConnection, address: str) -> Any | None:
    """The credential columns for one address (only the auth service calls this)."""
    query = select(
        users.c.id,
        users.c.password_hash,
        users.c.disabled,
        users.c.failed_logins,
        users.c.locked_until,
        users.c.totp_secret,
    ).where(users.c.address == address)
    return (await conn.execute(query)).first()


async def record_login(
    conn: AsyncConnection,
    user_id: int,
    *,
    success: bool,
    failed_logins: int,
    locked_until: datetime | None,
) -> None:
    values: dict[str, Any] = {"failed_logins": failed_logins, "locked_until": locked_until}
    if success:
        values["last_login_at"] = now()
    await conn.execute(update(users).where(users.c.id == user_id).values(**values))


async def count_failed_login(conn: AsyncConnection, user_id: int) -> int:
    """Add one failed login and return the new count, in one statement: the row stays locked
    to this transaction, so concurrent failures (on any node) each count."""
    query = (
        update(users)
        .where(users.c.id == user_id)
        .values(failed_logins=users.c.failed_logins + 1)
        .returning(users.c.failed_logins)
    )
    return int((await conn.execute(query)).scalar_one())


async def update_user(conn: AsyncConnection, user_id: int, **values: Any) -> None:
    await conn.execute(update(users).where(users.c.id == user_id).values(**values))


async def suggest_addresses(
    conn: AsyncConnection, org_id: int, text: str, limit: int, group_ids: Collection[int]
) -> list[tuple[str, str]]:
    """(address, display name) of one organisation's enabled users and of the group mailboxes
    among `group_ids` whose address, display name or a word of the display name starts with
    `text`, by address."""
    prefix = like_escape(text.lower())

    def matches(address: Any, name: Any) -> Any:
        return or_(
            func.lower(address).like(f"{prefix}%", escape="\\"),
            func.lower(name).like(f"{prefix}%", escape="\\"),
            func.lower(name).like(f"% {prefix}%", escape="\\"),
        )

    people = select(users.c.address, users.c.display_name).where(
        users.c.org_id == org_id,
        users.c.disabled.is_(False),
        matches(users.c.address, users.c.display_name),
    )
    groups = select(mailboxes.c.address, mailboxes.c.display_name).where(
        mailboxes.c.org_id == org_id,
        mailboxes.c.kind == MailboxKind.GROUP.value,
        mailboxes.c.id.in_(list(group_ids)),
        mailboxes.c.disabled.is_(False),
        matches(mailboxes.c.address, mailboxes.c.display_name),
    )
    query = union_all(people, groups).order_by("address").limit(limit)
    return [(str(r[0]), str(r[1])) for r in await conn.execute(query)]
