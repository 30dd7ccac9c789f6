"""Per-organisation policy rows (closed community, sizes, sessions, passwords, second factor)."""

from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from securemail.core.model import OrgPolicy
from securemail.store.schema import org_policies

p = org_policies.c


def _policy(row: Any) -> OrgPolicy:
    allow = tuple(d for d in row.recipient_allowlist.split(",") if d)
    return OrgPolicy(
        org_id=row.org_id,
        recipient_allowlist=allow,
        max_message_bytes=row.max_message_bytes,
        session_idle_minutes=row.session_idle_minutes,
        min_password_length=row.min_password_length,
        require_second_factor=bool(row.require_second_factor),
    )


async def get(conn: AsyncConnection, org_id: int | None) -> OrgPolicy:
    """The organisation's policy; the defaults when it has set none (or for no organisation)."""
    if org_id is None:
        return OrgPolicy(org_id=0)
    row = (await conn.execute(select(org_policies).where(p.org_id == org_id))).first()
    return _policy(row) if row is not None else OrgPolicy(org_id=org_id)


async def put(conn: AsyncConnection, policy: OrgPolicy) -> None:
    values = {
        "recipient_allowlist": ",".join(policy.recipient_allowlist),
        "max_message_bytes": policy.max_message_bytes,
        "session_idle_minutes": policy.session_idle_minutes,
        "min_password_length": policy.min_password_length,
        "require_second_factor": policy.require_second_factor,
    }
    query = update(org_policies).where(p.org_id == policy.org_id).values(**values)
    if not (await conn.execute(query)).rowcount:
        await conn.execute(insert(org_policies).values(org_id=policy.org_id, **values))
