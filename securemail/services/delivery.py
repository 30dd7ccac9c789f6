"""Local delivery: one blob and one content row for all recipients, one message per mailbox."""

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncConnection

from securemail.core.addresses import parse_address
from securemail.core.context import AccessContext
from securemail.core.errors import InvalidInput, PermissionDenied, QuotaExceeded
from securemail.core.events import MailboxChanged
from securemail.core.model import Mailbox
from securemail.core.rights import Role
from securemail.mail.parse import ParsedFields, parse_fields
from securemail.services.base import Deps
from securemail.store.repos import bulk
from securemail.store.repos import directory as dir_repo
from securemail.store.repos import mailboxes as mailbox_repo


@dataclass(frozen=True)
class Recipient:
    """A local recipient found at RCPT time, so delivery need not look it up again."""

    key: str
    mailbox_id: int
    inbox_id: int

    def __str__(self) -> str:
        return self.key


@dataclass(frozen=True)
class DeliveryResult:
    delivered: tuple[str, ...] = ()
    unknown: tuple[str, ...] = ()
    message_ids: tuple[int, ...] = field(default=())
    events: tuple[MailboxChanged, ...] = field(default=(), repr=False)


def _require_delivery_agent(ctx: AccessContext) -> None:
    """Only the mail transport (system context) and the service administrator deliver."""
    if ctx.role is not Role.SERVICE_ADMIN:
        raise PermissionDenied("only the mail transport may deliver mail")


class DeliveryService:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    async def resolve(self, ctx: AccessContext, address: str) -> Mailbox | None:
        """The local mailbox for a recipient address, or None if we have no such address."""
        _require_delivery_agent(ctx)
        try:
            key = parse_address(address).key
        except InvalidInput:
            return None
        async with self.deps.db.read() as conn:
            mailbox = await mailbox_repo.find_mailbox_by_address(conn, key)
        return mailbox if mailbox is not None and not mailbox.disabled else None

    async def lookup(self, ctx: AccessContext, address: str) -> Recipient | str:
        """A local recipient (SMTP RCPT), or "unknown" (our domain, no such mailbox, or a
        malformed address) or "foreign" (another domain)."""
        _require_delivery_agent(ctx)
        try:
            addr = parse_address(address)
        except InvalidInput:
            return "unknown"
        async with self.deps.db.read() as conn:
            inbox = await mailbox_repo.find_inbox(conn, addr.key)
            if inbox is not None:
                return Recipient(addr.key, inbox[0], inbox[1])
            ours = await dir_repo.find_domain_org(conn, addr.domain) is not None
        return "unknown" if ours else "foreign"

    async def recipient_status(self, ctx: AccessContext, address: str) -> str:
        """ "local" (a mailbox here), "unknown" (our domain, no such mailbox) or "foreign"."""
        found = await self.lookup(ctx, address)
        return "local" if isinstance(found, Recipient) else found

    async def deliver(
        self, ctx: AccessContext, raw: bytes, recipients: Sequence[str | Recipient]
    ) -> DeliveryResult:
        """Store `raw` in each recipient's Inbox, sharing a durable commit with concurrent
        deliveries (services/commit.py).

        When this returns, the message is committed (SQLite synchronous=FULL, blobs fsynced):
        only then may a protocol acknowledge it.
        """
        _require_delivery_agent(ctx)
        limit = self.deps.settings.limits.max_message_bytes
        if len(raw) > limit:
            raise QuotaExceeded(f"message larger than {limit} bytes")
        known = {r.key: (r.mailbox_id, r.inbox_id) for r in recipients if isinstance(r, Recipient)}
        keys = [k for k in _unique_keys([str(r) for r in recipients]) if k not in known]
        inboxes: dict[str, tuple[int, int] | None] = dict(known)
        if keys:
            async with self.deps.db.read() as conn:  # resolve first: the write stays short
                inboxes.update({key: await mailbox_repo.find_inbox(conn, key) for key in keys})
        targets = [(key, box) for key, box in inboxes.items() if box is not None]
        unknown = tuple(key for key, box in inboxes.items() if box is None)
        if not targets:  # nothing stored, not even the blob
            return DeliveryResult((), unknown)
        fields = await asyncio.to_thread(parse_fields, raw)
        blobs = self.deps.blobs
        blob_id = await blobs.put(None, raw) if blobs.writes_outside_transaction else None
        job = _Job(raw, blob_id, fields, targets, unknown)
        result: DeliveryResult = await self.deps.committer.run_batched(self._store_batch, job)
        self.deps.events.publish(*result.events)
        return result

    async def _store_batch(self, conn: AsyncConnection, jobs: list["_Job"]) -> list[DeliveryResult]:
        """Every delivery of one group commit in a handful of statements."""
        items = []
        for job in jobs:
            blob_id = job.blob_id or await self.deps.blobs.put(conn, job.raw)
            items.append(bulk.NewContent(blob_id, len(job.raw), job.fields))
        content_ids = await bulk.ensure_contents(conn, items)
        by_folder: dict[int, list[tuple[int, int]]] = {}  # folder -> (job index, content id)
        for n, (job, item) in enumerate(zip(jobs, items, strict=True)):
            for _key, (_mailbox, inbox) in job.targets:
                by_folder.setdefault(inbox, []).append((n, content_ids[item.blob_id]))
        new_ids: list[list[int]] = [[] for _ in jobs]
        for folder_id, entries in by_folder.items():
            ids = await bulk.insert_messages(conn, folder_id, [c for _n, c in entries])
            for (n, _content), message_id in zip(entries, ids, strict=True):
                new_ids[n].append(message_id)
        return [job.result(tuple(ids)) for job, ids in zip(jobs, new_ids, strict=True)]


@dataclass(frozen=True)
class _Job:
    """One delivery waiting for its group commit."""

    raw: bytes
    blob_id: str | None
    fields: ParsedFields
    targets: list[tuple[str, tuple[int, int]]]
    unknown: tuple[str, ...]

    def result(self, message_ids: tuple[int, ...]) -> DeliveryResult:
        events = tuple(MailboxChanged(mb, inbox, "new") for _key, (mb, inbox) in self.targets)
        delivered = tuple(k for k, _ in self.targets)
        return DeliveryResult(delivered, self.unknown, message_ids, events)


def _unique_keys(recipients: Sequence[str]) -> list[str]:
    """Canonical addresses, each once, in order; malformed ones are refused outright."""
    keys: list[str] = []
    for recipient in recipients:
        key = parse_address(recipient).key
        if key not in keys:
            keys.append(key)
    if not keys:
        raise InvalidInput("no recipients")
    return keys
