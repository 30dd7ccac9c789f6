"""The outbound queue's use cases: what a worker claims, what an attempt changes (retry with
backoff, give up, bounce) and what administrators may see of it."""

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from securemail.core.addresses import parse_address
from securemail.core.context import AccessContext
from securemail.core.errors import InvalidInput, NotFound, PermissionDenied
from securemail.core.rights import Role
from securemail.mail.dsn import DeliveryStatus, Outcome
from securemail.services.base import Deps, audit
from securemail.store.repos import mailboxes as mailbox_repo
from securemail.store.repos import policy as policy_repo
from securemail.store.repos import queue as queue_repo
from securemail.store.repos.common import now as utc_now
from securemail.store.repos.policy import SigningKey
from securemail.store.repos.queue import QueueItem

log = logging.getLogger("securemail.queue")

Clock = Callable[[], datetime]
MAX_REPLY = 1000  # characters of the last remote reply kept on the row


@dataclass(frozen=True, slots=True)
class Prepared:
    """What the worker needs to send one claimed message."""

    raw: bytes
    signing_keys: dict[str, SigningKey]  # the organisation's active DKIM keys by domain
    tls_required: bool  # the recipient domain is on the organisation's TLS-required list


def _require_transport(ctx: AccessContext) -> None:
    """Only the mail transport (system context) works the queue."""
    if ctx.role is not Role.SERVICE_ADMIN:
        raise PermissionDenied("only the mail transport may work the outbound queue")


def last_status(item: QueueItem) -> DeliveryStatus:
    """The recorded outcome of a row's last attempt, as the DSN reports it."""
    outcome = Outcome.PERMANENT if item.last_status.startswith("5") else Outcome.TEMPORARY
    if item.status == queue_repo.SENT:
        outcome = Outcome.SENT
    status = item.last_status or "4.0.0"
    return DeliveryStatus(
        outcome, item.last_code, status, item.last_reply, item.remote_host, item.last_tls
    )


def _attempt_values(item: QueueItem, status: DeliveryStatus, now: datetime) -> dict[str, Any]:
    """The columns every attempt updates, whatever its outcome."""
    return {
        "attempts": item.attempts + 1,
        "last_attempt_at": now,
        "last_code": status.code,
        "last_status": status.status,
        "last_reply": status.text[:MAX_REPLY],
        "remote_host": status.remote_host[:255],
        "last_tls": status.tls[:20],
    }


class QueueService:
    def __init__(self, deps: Deps, clock: Clock | None = None) -> None:
        self.deps = deps
        self.clock = clock or utc_now

    def now(self) -> datetime:
        return self.clock().astimezone(UTC)

    def expiry(self, item: QueueItem) -> datetime:
        """When the queue gives up on a row ([relay] max_lifetime_seconds unless set on it)."""
        if item.expires_at is not None:
            return item.expires_at
        return item.created_at + timedelta(seconds=self.deps.settings.relay.max_lifetime_seconds)

    def backoff(self, attempts: int) -> timedelta:
        """Wait after the n-th failed attempt: base, 2 x base, 4 x base... capped at the max."""
        relay = self.deps.settings.relay
        delay = relay.retry_base_seconds * 2 ** min(max(attempts - 1, 0), 30)
        return timedelta(seconds=min(delay, relay.retry_max_seconds))

    async def claim(self, ctx: AccessContext, owner: str, limit: int) -> list[QueueItem]:
        """Lease due rows to `owner` for [relay] lease_seconds."""
        _require_transport(ctx)
        now = self.now()
        lease_until = now + timedelta(seconds=self.deps.settings.relay.lease_seconds)
        async with self.deps.db.write() as conn:
            return await queue_repo.claim(
                conn, owner=owner, now=now, lease_until=lease_until, limit=limit
            )

    async def prepare(self, ctx: AccessContext, item: QueueItem) -> Prepared:
        """The raw message and the policy that applies to it; NotFound if the blob is gone."""
        _require_transport(ctx)
        async with self.deps.db.read() as conn:
            raw = await self.deps.blobs.get(conn, item.blob_id)
            keys = await policy_repo.signing_keys(conn, item.org_id)
            tls_required = await policy_repo.is_tls_required(conn, item.org_id, item.domain)
        return Prepared(raw, keys, tls_required)

    async def original(self, ctx: AccessContext, item: QueueItem) -> bytes:
        """The queued message for a DSN to quote; b"" if it can no longer be read."""
        _require_transport(ctx)
        try:
            async with self.deps.db.read() as conn:
                return await self.deps.blobs.get(conn, item.blob_id)
        except NotFound:
            return b""

    async def record(
        self, ctx: AccessContext, owner: str, attempts: Sequence[tuple[int, DeliveryStatus]]
    ) -> list[QueueItem]:
        """Record one attempt per row held by `owner`, in one transaction.

        Returns the rows that failed for good and whose sender has a local mailbox: they are
        left BOUNCING, still leased, until `finish_bounces` says the DSN is delivered.
        """
        _require_transport(ctx)
        now = self.now()
        owed: list[int] = []
        async with self.deps.db.write() as conn:
            ids = [item_id for item_id, _status in attempts]
            held = {i.id: i for i in await queue_repo.find_leased(conn, ids, owner)}
            for item_id, status in attempts:
                item = held.get(item_id)
                if item is None or item.status != queue_repo.QUEUED:
                    log.warning("queue row %s: lease lost before its result was recorded", item_id)
                    continue
                if await self._record_one(conn, ctx, owner, item, status, now):
                    owed.append(item.id)
            return await queue_repo.find_leased(conn, owed, owner)

    async def _record_one(
        self,
        conn: AsyncConnection,
        ctx: AccessContext,
        owner: str,
        item: QueueItem,
        status: DeliveryStatus,
        now: datetime,
    ) -> bool:
        """Apply one attempt to one row; True when the sender is owed a DSN."""
        values = _attempt_values(item, status, now)
        released = {"lease_owner": None, "lease_until": None}
        if status.outcome is Outcome.SENT:
            values.update(status=queue_repo.SENT, finished_at=now, **released)
            await queue_repo.update_leased(conn, item.id, owner, **values)
            await self._audit(conn, ctx, "mail.sent", item, status)
            return False
        expiry = self.expiry(item)
        if status.outcome is Outcome.TEMPORARY and now < expiry:
            retry_at = min(now + self.backoff(item.attempts + 1), expiry)
            await queue_repo.update_leased(
                conn, item.id, owner, next_attempt_at=retry_at, **values, **released
            )
            return False
        owed = await self._sender_is_local(conn, item.sender)
        if owed:  # keep the lease: the DSN is delivered next, by this owner
            values.update(status=queue_repo.BOUNCING)
        else:
            values.update(status=queue_repo.BOUNCED, finished_at=now, **released)
        await queue_repo.update_leased(conn, item.id, owner, **values)
        await self._audit(conn, ctx, "mail.bounced", item, status)
        return owed

    async def _sender_is_local(self, conn: AsyncConnection, sender: str) -> bool:
        if not sender:
            return False  # the null reverse-path never gets a DSN (RFC 5321 section 4.5.5)
        try:
            key = parse_address(sender).key
        except InvalidInput:
            return False
        mailbox = await mailbox_repo.find_mailbox_by_address(conn, key)
        return mailbox is not None and not mailbox.disabled

    async def _audit(
        self,
        conn: AsyncConnection,
        ctx: AccessContext,
        action: str,
        item: QueueItem,
        status: DeliveryStatus,
    ) -> None:
        detail = (
            f"queue={item.id} status={status.status} remote={status.remote_host or '-'} "
            f"tls={status.tls or 'none'} attempts={item.attempts + 1} "
            f"reply={status.diagnostic[:200]}"
        )
        await audit(
            conn,
            ctx,
            action,
            mailbox=item.sender,
            target=item.recipient,
            detail=detail,
            org_id=item.org_id,
        )

    async def finish_bounces(self, ctx: AccessContext, owner: str, ids: Sequence[int]) -> None:
        """The DSN for these BOUNCING rows is delivered: they are done."""
        _require_transport(ctx)
        now = self.now()
        async with self.deps.db.write() as conn:
            for item in await queue_repo.find_leased(conn, ids, owner):
                if item.status == queue_repo.BOUNCING:
                    await queue_repo.update_leased(
                        conn,
                        item.id,
                        owner,
                        status=queue_repo.BOUNCED,
                        finished_at=now,
                        lease_owner=None,
                        lease_until=None,
                    )

    async def list_items(
        self, ctx: AccessContext, *, statuses: Sequence[str] | None = None, limit: int = 100
    ) -> list[QueueItem]:
        """Service admin: the whole queue; org admin: their organisation's rows."""
        if ctx.role is Role.USER:
            raise PermissionDenied("only administrators may list the outbound queue")
        wanted = tuple(statuses) if statuses else queue_repo.STATUSES
        if any(s not in queue_repo.STATUSES for s in wanted):
            raise InvalidInput(f"status must be one of {', '.join(queue_repo.STATUSES)}")
        scope = None if ctx.role is Role.SERVICE_ADMIN else ctx.org_id
        if ctx.role is not Role.SERVICE_ADMIN and scope is None:
            raise PermissionDenied("only administrators may list the outbound queue")
        limit = max(1, min(limit, self.deps.settings.limits.max_page_size))
        async with self.deps.db.read() as conn:
            return await queue_repo.list_items(conn, org_id=scope, statuses=wanted, limit=limit)
