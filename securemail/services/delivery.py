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
from securemail.mail.parse import parse_fields
from securemail.services.base import Deps
from securemail.store.repos import directory as dir_repo
from securemail.store.repos import mailboxes as mailbox_repo
from securemail.store.repos import messages as message_repo


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
        """The local mailbox for a recipient (SMTP RCPT), or None if we have no such address."""
        _require_delivery_agent(ctx)
        try:
            key = parse_address(address).key
        except InvalidInput:
            return None
        async with self.deps.db.read() as conn:
            mailbox = await mailbox_repo.find_mailbox_by_address(conn, key)
        return mailbox if mailbox is not None and not mailbox.disabled else None

    async def recipient_status(self, ctx: AccessContext, address: str) -> str:
        """ "local" (a mailbox here), "unknown" (our domain, no such mailbox) or "foreign"."""
        _require_delivery_agent(ctx)
        try:
            addr = parse_address(address)
        except InvalidInput:
            return "unknown"
        async with self.deps.db.read() as conn:
            mailbox = await mailbox_repo.find_mailbox_by_address(conn, addr.key)
            if mailbox is not None and not mailbox.disabled:
                return "local"
            ours = await dir_repo.find_domain_org(conn, addr.domain) is not None
        return "unknown" if ours else "foreign"

    async def deliver(
        self, ctx: AccessContext, raw: bytes, recipients: Sequence[str]
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
        keys = _unique_keys(recipients)
        async with self.deps.db.read() as conn:  # resolve first: the write stays short
            inboxes = {key: await mailbox_repo.find_inbox(conn, key) for key in keys}
        targets = [(key, box) for key, box in inboxes.items() if box is not None]
        unknown = tuple(key for key, box in inboxes.items() if box is None)
        if not targets:  # nothing stored, not even the blob
            return DeliveryResult((), unknown)
        fields = await asyncio.to_thread(parse_fields, raw)
        blobs = self.deps.blobs
        blob_id = await blobs.put(None, raw) if blobs.writes_outside_transaction else None

        async def work(conn: AsyncConnection) -> DeliveryResult:
            stored = blob_id or await blobs.put(conn, raw)
            content_id = await message_repo.find_or_insert_content(conn, stored, len(raw), fields)
            ids = [
                await message_repo.insert_message(conn, folder_id=inbox, content_id=content_id)
                for _key, (_mailbox, inbox) in targets
            ]
            events = tuple(MailboxChanged(mb, inbox, "new") for _key, (mb, inbox) in targets)
            return DeliveryResult(tuple(k for k, _ in targets), unknown, tuple(ids), events)

        result = await self.deps.committer.run(work)
        self.deps.events.publish(*result.events)
        return result


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
