"""Accounts as the console lists them: users with their second factor, sessions and admins."""

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from securemail.core.model import User
from securemail.core.rights import Role
from securemail.store.repos.common import as_utc
from securemail.store.schema import users, web_sessions

u = users.c
s = web_sessions.c


@dataclass(frozen=True, slots=True)
class AccountRow:
    """One user with what an administrator needs to see beside the name."""

    user: User
    second_factor: bool
    must_change_password: bool
    sessions: int  # active webmail sessions used since the cut-off


async def list_accounts(
    conn: AsyncConnection, org_id: int | None, seen_since: datetime, address: str | None = None
) -> list[AccountRow]:
    """The users of one organisation (every user when org_id is None), by address; with
    `address`, only that user."""
    live = (
        select(s.user_id, func.count().label("n"))
        .where(s.stage == "active", s.last_seen_at >= seen_since)
        .group_by(s.user_id)
        .subquery()
    )
    query = (
        select(users, func.coalesce(live.c.n, 0).label("live"))
        .outerjoin(live, live.c.user_id == u.id)
        .order_by(u.address)
    )
    if org_id is not None:
        query = query.where(u.org_id == org_id)
    if address is not None:
        query = query.where(u.address == address)
    rows = await conn.execute(query)
    return [
        AccountRow(
            user=User(
                id=r.id,
                org_id=r.org_id,
                address=r.address,
                display_name=r.display_name,
                role=Role(r.role),
                disabled=r.disabled,
                last_login_at=as_utc(r.last_login_at),
            ),
            second_factor=r.totp_secret is not None,
            must_change_password=bool(r.must_change_password),
            sessions=int(r.live),
        )
        for r in rows
    ]


async def count_admins(conn: AsyncConnection, org_id: int) -> int:
    """Enabled administrators of the organisation."""
    query = select(func.count()).where(
        u.org_id == org_id, u.role == Role.ORG_ADMIN.value, u.disabled.is_(False)
    )
    return int(await conn.scalar(query) or 0)


async def admins_by_org(conn: AsyncConnection, org_ids: Collection[int]) -> dict[int, list[str]]:
    """The administrators' addresses of each organisation, by address."""
    query = (
        select(u.org_id, u.address)
        .where(u.org_id.in_(list(org_ids)), u.role == Role.ORG_ADMIN.value)
        .order_by(u.address)
    )
    found: dict[int, list[str]] = {i: [] for i in org_ids}
    for row in await conn.execute(query):
        found[int(row.org_id)].append(str(row.address))
    return found
