"""Local delivery: one blob and one content row for all recipients, one message per mailbox."""

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncConnection

from securemail.core.addresses import parse_address
from securemail.core.context import AccessContext
from securemail.core.errors import InvalidInput, PermissionDenied, QuotaExceeded
from securemail.core.events import MailboxChanged
from securemail.core.model import Mailbox, SpecialUse
from securemail.core.rights import Role
from securemail.mail.parse import parse_fields
from securemail.services.base import Deps
from securemail.store.repos import mailboxes as mailbox_repo
from securemail.store.repos import messages as message_repo


@dataclass(frozen=True)
class DeliveryResult:
    delivered: tuple[str, ...] = ()
    unknown: tuple[str, ...] = ()
    message_ids: tuple[int, ...] = field(default=())


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

    async def deliver(
        self, ctx: AccessContext, raw: bytes, recipients: Sequence[str]
    ) -> DeliveryResult:
        """Store `raw` in each recipient's Inbox in one durable transaction.

        When this returns, the message is committed (SQLite synchronous=FULL, blobs fsynced):
        only then may a protocol acknowledge it.
        """
        _require_delivery_agent(ctx)
        limit = self.deps.settings.limits.max_message_bytes
        if len(raw) > limit:
            raise QuotaExceeded(f"message larger than {limit} bytes")
        fields = await asyncio.to_thread(parse_fields, raw)
        keys = _unique_keys(recipients)
        delivered: list[str] = []
        unknown: list[str] = []
        ids: list[int] = []
        events: list[MailboxChanged] = []
        async with self.deps.db.write() as conn:
            blob_id: str | None = None
            content_id = 0
            for key in keys:
                inbox = await self._inbox_for(conn, key)
                if inbox is None:
                    unknown.append(key)
                    continue
                if blob_id is None:
                    blob_id = await self.deps.blobs.put(conn, raw)
                    content_id = await message_repo.find_or_insert_content(
                        conn, blob_id, len(raw), fields
                    )
                ids.append(
                    await message_repo.insert_message(
                        conn, folder_id=inbox[1], content_id=content_id
                    )
                )
                delivered.append(key)
                events.append(MailboxChanged(inbox[0], inbox[1], "new"))
        self.deps.events.publish(*events)
        return DeliveryResult(tuple(delivered), tuple(unknown), tuple(ids))

    async def _inbox_for(self, conn: AsyncConnection, key: str) -> tuple[int, int] | None:
        mailbox = await mailbox_repo.find_mailbox_by_address(conn, key)
        if mailbox is None or mailbox.disabled:
            return None
        inbox = await mailbox_repo.find_special_folder(conn, mailbox.id, SpecialUse.INBOX)
        return (mailbox.id, inbox.id) if inbox is not None else None


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
