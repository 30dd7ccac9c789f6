"""The outbound queue: one durable row per remote recipient, claimed by workers under a lease.

Claiming is `SELECT ... FOR UPDATE SKIP LOCKED` on PostgreSQL, so several nodes share one
queue without handing a row to two of them; on SQLite the same statement without the lock
clause runs inside BEGIN IMMEDIATE, which serialises claimers. A claimed row carries a lease
(owner, until): a node that dies mid-delivery leaves rows that become due when it runs out.
"""

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from securemail.store.repos.common import as_utc
from securemail.store.repos.common import now as utc_now
from securemail.store.schema import outbound_queue

QUEUED = "queued"  # waiting for its next attempt
SENT = "sent"  # a remote server accepted it
BOUNCING = "bouncing"  # failed for good; the sender's DSN is not yet delivered
BOUNCED = "bounced"  # failed for good, sender told (or nobody local to tell)
STATUSES = (QUEUED, SENT, BOUNCING, BOUNCED)
CLAIMABLE = (QUEUED, BOUNCING)

q = outbound_queue.c


@dataclass(frozen=True, slots=True)
class QueueItem:
    id: int
    message_key: str
    org_id: int | None
    sender: str
    recipient: str
    blob_id: str
    size: int
    status: str
    attempts: int
    next_attempt_at: datetime
    expires_at: datetime | None
    lease_owner: str | None
    lease_until: datetime | None
    last_attempt_at: datetime | None
    last_code: int | None
    last_status: str
    last_reply: str
    remote_host: str
    last_tls: str
    created_at: datetime
    finished_at: datetime | None

    @property
    def domain(self) -> str:
        """The recipient's domain, lower case: what MX lookup and TLS policy key on."""
        return self.recipient.rpartition("@")[2].lower()


def _item(row: Any) -> QueueItem:
    return QueueItem(
        id=row.id,
        message_key=row.message_key,
        org_id=row.org_id,
        sender=row.sender,
        recipient=row.recipient,
        blob_id=row.blob_id,
        size=row.size,
        status=row.status,
        attempts=row.attempts,
        next_attempt_at=as_utc(row.next_attempt_at) or utc_now(),
        expires_at=as_utc(row.expires_at),
        lease_owner=row.lease_owner,
        lease_until=as_utc(row.lease_until),
        last_attempt_at=as_utc(row.last_attempt_at),
        last_code=row.last_code,
        last_status=row.last_status,
        last_reply=row.last_reply,
        remote_host=row.remote_host,
        last_tls=row.last_tls,
        created_at=as_utc(row.created_at) or utc_now(),
        finished_at=as_utc(row.finished_at),
    )


async def enqueue(
    conn: AsyncConnection,
    *,
    org_id: int | None,
    sender: str,
    recipients: Sequence[str],
    blob_id: str,
    size: int,
    expires_at: datetime | None = None,
    now: datetime | None = None,
) -> list[int]:
    """Queue `blob_id` for each recipient in the caller's transaction; due at once.

    `expires_at` None means created_at + [relay] max_lifetime_seconds, read when the queue
    decides (so the configured lifetime applies without the caller knowing it).
    """
    when = now or utc_now()
    key = secrets.token_hex(16)
    ids: list[int] = []
    for recipient in recipients:
        result = await conn.execute(
            insert(outbound_queue).values(
                message_key=key,
                org_id=org_id,
                sender=sender,
                recipient=recipient,
                blob_id=blob_id,
                size=size,
                status=QUEUED,
                attempts=0,
                next_attempt_at=when,
                expires_at=expires_at,
                last_status="",
                last_reply="",
                remote_host="",
                last_tls="",
                created_at=when,
            )
        )
        ids.append(int(result.inserted_primary_key[0]))  # type: ignore[index]
    return ids


async def claim(
    conn: AsyncConnection, *, owner: str, now: datetime, lease_until: datetime, limit: int
) -> list[QueueItem]:
    """Lease up to `limit` due rows (queued, or bouncing whose DSN is owed) to `owner`."""
    due = (
        select(q.id)
        .where(q.status.in_(CLAIMABLE), q.next_attempt_at <= now)
        .where(or_(q.lease_until.is_(None), q.lease_until <= now))
        .order_by(q.next_attempt_at, q.id)
        .limit(limit)
        .with_for_update(skip_locked=True)  # SQLite: no lock clause; BEGIN IMMEDIATE serialises
    )
    ids = [int(r[0]) for r in await conn.execute(due)]
    if not ids:
        return []
    await conn.execute(
        update(outbound_queue)
        .where(q.id.in_(ids))
        .values(lease_owner=owner, lease_until=lease_until)
    )
    return await _select(conn, q.id.in_(ids))


async def _select(conn: AsyncConnection, *where: Any) -> list[QueueItem]:
    rows = await conn.execute(select(outbound_queue).where(*where).order_by(q.id))
    return [_item(r) for r in rows]


async def find_leased(conn: AsyncConnection, ids: Sequence[int], owner: str) -> list[QueueItem]:
    """The rows among `ids` that `owner` still holds (a lost lease means another node has them)."""
    if not ids:
        return []
    return await _select(conn, q.id.in_(ids), q.lease_owner == owner, q.status.in_(CLAIMABLE))


async def update_leased(conn: AsyncConnection, item_id: int, owner: str, **values: Any) -> bool:
    """Change a row only while `owner` holds it; False if the lease was lost."""
    result = await conn.execute(
        update(outbound_queue).where(and_(q.id == item_id, q.lease_owner == owner)).values(**values)
    )
    return bool(result.rowcount)


async def list_items(
    conn: AsyncConnection,
    *,
    org_id: int | None,
    statuses: Sequence[str] = STATUSES,
    limit: int = 100,
) -> list[QueueItem]:
    """Rows of one organisation (None: every organisation), oldest first."""
    query = select(outbound_queue).where(q.status.in_(statuses))
    if org_id is not None:
        query = query.where(q.org_id == org_id)
    rows = await conn.execute(query.order_by(q.id).limit(limit))
    return [_item(r) for r in rows]


async def count_by_status(conn: AsyncConnection, org_id: int | None) -> dict[str, int]:
    query = select(q.status, func.count()).group_by(q.status)
    if org_id is not None:
        query = query.where(q.org_id == org_id)
    return {str(status): int(n) for status, n in await conn.execute(query)}
