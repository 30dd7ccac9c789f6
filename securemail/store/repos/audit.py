"""The append-only audit log: appends serialised through the audit_head row."""

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from securemail.core.audit import ChainFields, entry_hash
from securemail.core.model import AuditEntry
from securemail.store.repos.common import as_utc
from securemail.store.schema import audit_head, audit_log


def canonical_time(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


async def append(
    conn: AsyncConnection,
    *,
    actor: str,
    org_id: int | None,
    action: str,
    mailbox: str,
    target: str,
    detail: str,
) -> int:
    """Append one entry in the caller's transaction; the head row lock orders appenders."""
    head = (
        await conn.execute(select(audit_head).where(audit_head.c.id == 1).with_for_update())
    ).one()
    at = datetime.now(UTC)
    fields = ChainFields(
        id=head.last_id + 1,
        at=canonical_time(at),
        actor=actor,
        org_id=org_id,
        action=action,
        mailbox=mailbox,
        target=target,
        detail=detail,
    )
    digest = entry_hash(head.last_hash, fields)
    await conn.execute(
        insert(audit_log).values(
            id=fields.id,
            at=at,
            actor=actor,
            org_id=org_id,
            action=action,
            mailbox=mailbox,
            target=target,
            detail=detail,
            prev_hash=head.last_hash,
            hash=digest,
        )
    )
    await conn.execute(
        update(audit_head).where(audit_head.c.id == 1).values(last_id=fields.id, last_hash=digest)
    )
    return fields.id


def to_entry(row: Any) -> AuditEntry:
    return AuditEntry(
        id=row.id,
        at=as_utc(row.at) or datetime.now(UTC),
        actor=row.actor,
        org_id=row.org_id,
        action=row.action,
        mailbox=row.mailbox,
        target=row.target,
        detail=row.detail,
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


def chain_fields(entry: AuditEntry) -> ChainFields:
    return ChainFields(
        id=entry.id,
        at=canonical_time(entry.at),
        actor=entry.actor,
        org_id=entry.org_id,
        action=entry.action,
        mailbox=entry.mailbox,
        target=entry.target,
        detail=entry.detail,
    )


async def head(conn: AsyncConnection) -> tuple[int, str]:
    row = (await conn.execute(select(audit_head).where(audit_head.c.id == 1))).one()
    return int(row.last_id), str(row.last_hash)


async def iterate(
    conn: AsyncConnection, up_to: int, batch: int = 1000
) -> AsyncIterator[AuditEntry]:
    """Entries 1..up_to in id order, fetched in batches (memory stays flat)."""
    last = 0
    while True:
        query = (
            select(audit_log)
            .where(audit_log.c.id > last, audit_log.c.id <= up_to)
            .order_by(audit_log.c.id)
        )
        rows = (await conn.execute(query.limit(batch))).all()
        if not rows:
            return
        for row in rows:
            yield to_entry(row)
        last = rows[-1].id


async def list_entries(
    conn: AsyncConnection,
    *,
    org_id: int | None,
    mailbox: str | None = None,
    limit: int = 100,
) -> list[AuditEntry]:
    query = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
    if org_id is not None:
        query = query.where(audit_log.c.org_id == org_id)
    if mailbox is not None:
        query = query.where(audit_log.c.mailbox == mailbox)
    return [to_entry(r) for r in await conn.execute(query)]


# --- console queries (filters, cursor paging) -----------------------------------------


async def query_entries(
    conn: AsyncConnection,
    *,
    org_id: int | None,
    mailboxes: Sequence[str] | None,
    actor: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    before: datetime | None = None,
    below_id: int | None = None,
    limit: int = 100,
) -> list[AuditEntry]:
    """Newest first. `org_id` and `mailboxes` are the caller's scope (None: unrestricted);
    the rest are filters. An `action` ending in `*` matches by prefix; `below_id` is the
    cursor (entries with a smaller id)."""
    query = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
    if org_id is not None:
        query = query.where(audit_log.c.org_id == org_id)
    if mailboxes is not None:
        query = query.where(audit_log.c.mailbox.in_(list(mailboxes)))
    if actor:
        query = query.where(func.lower(audit_log.c.actor) == actor.lower())
    if action and action.endswith("*"):
        query = query.where(audit_log.c.action.startswith(action[:-1], autoescape=True))
    elif action:
        query = query.where(audit_log.c.action == action)
    if since is not None:
        query = query.where(audit_log.c.at >= since)
    if before is not None:
        query = query.where(audit_log.c.at < before)
    if below_id is not None:
        query = query.where(audit_log.c.id < below_id)
    return [to_entry(r) for r in await conn.execute(query)]
