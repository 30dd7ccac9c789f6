"""Mail submission (RFC 6409): who may send as which address, and where a sent message goes.

This is where the Mail right on a group mailbox is enforced for every channel: SMTP
submission, webmail and the API all send through `submit`.
"""

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from securemail.config import Settings
from securemail.core.addresses import Address, parse_address
from securemail.core.context import AccessContext
from securemail.core.errors import InvalidInput, PermissionDenied, QuotaExceeded, RateLimited
from securemail.core.events import MailboxChanged
from securemail.core.model import Mailbox, SpecialUse
from securemail.core.rights import MailboxKind, Right
from securemail.mail import headers
from securemail.mail.parse import ParsedFields, parse_fields
from securemail.services.base import Deps, audit, rights_on
from securemail.services.org_policy import limits_for
from securemail.store.repos import directory as dir_repo
from securemail.store.repos import mailboxes as mailbox_repo
from securemail.store.repos import messages as message_repo
from securemail.store.repos import queue as queue_repo
from securemail.store.repos import submissions as submissions_repo
from securemail.store.repos.common import now as utc_now

log = logging.getLogger(__name__)

SENT_BY_HEADER = "X-Securemail-Sent-By"
STRIPPED_FIELDS = {"bcc", SENT_BY_HEADER.lower()}


@dataclass(frozen=True)
class SubmitResult:
    sender_mailbox: str
    local: tuple[str, ...]
    queued: tuple[str, ...]
    sent_copy_id: int


class SubmissionService:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    async def require_sender(self, ctx: AccessContext, address: str) -> Mailbox:
        """The mailbox the caller may send as: their own, or a group mailbox where they hold
        Mail. Anything else is refused with the same message, hidden mailboxes included."""
        if not address:
            raise PermissionDenied("a submitted message needs a sender address")
        key = parse_address(address).key
        async with self.deps.db.read() as conn:
            return await self._sender_mailbox(conn, ctx, key)

    async def _sender_mailbox(self, conn: AsyncConnection, ctx: AccessContext, key: str) -> Mailbox:
        refusal = PermissionDenied(f"you are not allowed to send as {key}")
        mailbox = await mailbox_repo.find_mailbox_by_address(conn, key)
        if mailbox is None:
            raise refusal
        rights = await rights_on(conn, ctx, mailbox)
        if Right.MAIL not in rights:
            raise refusal
        return mailbox

    async def check_rate(self, ctx: AccessContext) -> None:
        """RateLimited when the caller has submitted [limits] max_submissions_per_hour
        messages in the last hour, whatever the channel and whoever they sent as. An early,
        cheap answer (SMTP asks at MAIL FROM); `submit` counts again, exactly, as it commits."""
        limit = self.deps.settings.limits.max_submissions_per_hour
        if limit <= 0 or not ctx.user_id:
            return
        async with self.deps.db.read() as conn:
            since = utc_now() - submissions_repo.WINDOW
            used = await submissions_repo.count_since(conn, ctx.user_id, since)
        if used >= limit:
            raise _rate_refusal(ctx, used, limit)

    async def _count_submission(self, conn: AsyncConnection, ctx: AccessContext) -> None:
        """Count this message against the caller's hour, or refuse it (rolling back all of
        it). Called after the audit entry is appended: the audit head lock orders every
        submitting transaction on every node, so no two of them count at once."""
        limit = self.deps.settings.limits.max_submissions_per_hour
        if limit <= 0 or not ctx.user_id:
            return
        at = utc_now()
        used = await submissions_repo.count_since(conn, ctx.user_id, at - submissions_repo.WINDOW)
        if used >= limit:
            raise _rate_refusal(ctx, used, limit)
        await submissions_repo.record(conn, ctx.user_id, at)

    async def check_recipient(self, ctx: AccessContext, address: str) -> bool:
        """True if local (and existing), False if remote; NotFound-like InvalidInput for a
        local domain without that mailbox; PermissionDenied for a domain outside the
        organisation's closed community."""
        addr = parse_address(address)
        async with self.deps.db.read() as conn:
            await _check_community(conn, self.deps.settings, ctx, [addr])
            return await _is_local(conn, addr)

    async def submit(
        self, ctx: AccessContext, mail_from: str, recipients: Sequence[str], raw: bytes
    ) -> SubmitResult:
        """Check From:/Sender: against the rights, keep a copy in the sending mailbox's Sent,
        deliver local recipients, queue the rest, all in one durable commit."""
        envelope_sender = await self.require_sender(ctx, mail_from)
        await self.check_rate(ctx)
        async with self.deps.db.read() as conn:
            limits = await limits_for(conn, self.deps.settings, ctx.org_id)
            await _check_community(
                conn, self.deps.settings, ctx, [parse_address(r) for r in recipients]
            )
        if len(raw) > limits.max_message_bytes:
            raise QuotaExceeded(f"message larger than {limits.max_message_bytes} bytes")
        # The copy is kept where the message says it is from: From: the group (even with the
        # user's own MAIL FROM) files it in the group's Sent, with who sent it.
        sender = await self._check_header_senders(ctx, raw) or envelope_sender
        raw = self._prepare(ctx, raw, sender)
        rcpts = [parse_address(r) for r in recipients]
        if not rcpts:
            raise InvalidInput("no recipients")
        fields = await asyncio.to_thread(parse_fields, raw)
        blobs = self.deps.blobs
        blob_id = await blobs.put(None, raw) if blobs.writes_outside_transaction else None

        async def work(conn: AsyncConnection) -> tuple[SubmitResult, list[MailboxChanged]]:
            stored = blob_id or await blobs.put(conn, raw)
            return await self._store(conn, ctx, sender, rcpts, stored, len(raw), fields)

        result, events = await self.deps.committer.run(work)
        self.deps.events.publish(*events)
        return result

    async def _check_header_senders(self, ctx: AccessContext, raw: bytes) -> Mailbox:
        """Every From: and Sender: address must be one the caller may send as; returns the
        mailbox of the first From: address."""
        from_addrs = headers.header_addresses(raw, "From")
        if not from_addrs:
            raise InvalidInput("the message has no From: address")
        for address in {*from_addrs, *headers.header_addresses(raw, "Sender")}:
            await self.require_sender(ctx, address)
        return await self.require_sender(ctx, from_addrs[0])

    def _prepare(self, ctx: AccessContext, raw: bytes, sender: Mailbox) -> bytes:
        """Drop Bcc and any forged sent-by field; add Message-ID and Date when missing
        (RFC 6409 section 8). Who sent as a group is kept in the store; it goes out in a
        header only where [smtp] expose_sent_by says so."""
        raw = headers.remove_fields(raw, STRIPPED_FIELDS)
        if sender.kind is MailboxKind.GROUP and self.deps.settings.smtp.expose_sent_by:
            raw = headers.add_field(raw, SENT_BY_HEADER, ctx.address)
        domain = sender.address.rpartition("@")[2]
        if not headers.has_field(raw, "Message-ID"):
            raw = headers.add_field(raw, "Message-ID", headers.new_message_id(domain))
        if not headers.has_field(raw, "Date"):
            raw = headers.add_field(raw, "Date", headers.date_now())
        return raw

    async def _store(
        self,
        conn: AsyncConnection,
        ctx: AccessContext,
        sender: Mailbox,
        rcpts: list[Address],
        blob_id: str,
        size: int,
        fields: ParsedFields,
    ) -> tuple[SubmitResult, list[MailboxChanged]]:
        content_id = await message_repo.find_or_insert_content(conn, blob_id, size, fields)
        sent = await mailbox_repo.find_special_folder(conn, sender.id, SpecialUse.SENT)
        assert sent is not None
        by_user = ctx.user_id if sender.kind is MailboxKind.GROUP else None
        copy_id = await message_repo.insert_message(
            conn, folder_id=sent.id, content_id=content_id, sent_by_user_id=by_user
        )
        await message_repo.set_seen(conn, copy_id, sent.id, ctx.user_id, True)
        events = [MailboxChanged(sender.id, sent.id, "new")]
        local: list[str] = []
        remote: list[str] = []
        for rcpt in dict.fromkeys(rcpts):
            inbox = await _local_inbox(conn, rcpt)
            if inbox is None:
                remote.append(rcpt.key)
                continue
            await message_repo.insert_message(conn, folder_id=inbox[1], content_id=content_id)
            events.append(MailboxChanged(inbox[0], inbox[1], "new"))
            local.append(rcpt.key)
        if remote:
            await queue_repo.enqueue(
                conn,
                org_id=sender.org_id,
                sender=sender.address,
                recipients=remote,
                blob_id=blob_id,
                size=size,
            )
        detail = f"local={len(local)} remote={len(remote)} msgid={fields.message_id[:200]}"
        await audit(
            conn,
            ctx,
            "message.send",
            mailbox=sender.address,
            target=fields.subject[:200],
            detail=detail,
            org_id=sender.org_id,
        )
        await self._count_submission(conn, ctx)  # after audit(): see there
        result = SubmitResult(sender.address, tuple(local), tuple(remote), copy_id)
        return result, events


def _rate_refusal(ctx: AccessContext, used: int, limit: int) -> RateLimited:
    log.warning(
        "submission refused (%s): %s has sent %d messages in the last hour, limit %d",
        ctx.channel, ctx.address, used, limit,
    )  # fmt: skip
    return RateLimited(
        f"you have sent {limit} messages in the last hour, the most allowed: "
        "nothing was sent, try again later"
    )


async def _check_community(
    conn: AsyncConnection, settings: Settings, ctx: AccessContext, rcpts: Sequence[Address]
) -> None:
    """Closed-community mode: recipients outside the organisation's own domains must be in
    its allow-list, when it has one."""
    limits = await limits_for(conn, settings, ctx.org_id)
    if not limits.recipient_allowlist:
        return
    for addr in rcpts:
        if await dir_repo.find_domain_org(conn, addr.domain) == ctx.org_id:
            continue
        if not limits.allows_recipient_domain(addr.domain):
            raise PermissionDenied(
                f"{addr.domain} is outside your organisation's closed community: "
                "mail may go only to the domains your administrator allows"
            )


async def _is_local(conn: AsyncConnection, addr: Address) -> bool:
    """True for an existing local mailbox, False for a foreign domain; InvalidInput for an
    unknown address in one of our domains."""
    if await dir_repo.find_domain_org(conn, addr.domain) is None:
        return False
    mailbox = await mailbox_repo.find_mailbox_by_address(conn, addr.key)
    if mailbox is None or mailbox.disabled:
        raise InvalidInput(f"no mailbox {addr.key}")
    return True


async def _local_inbox(conn: AsyncConnection, addr: Address) -> tuple[int, int] | None:
    if not await _is_local(conn, addr):
        return None
    mailbox = await mailbox_repo.find_mailbox_by_address(conn, addr.key)
    assert mailbox is not None
    inbox = await mailbox_repo.find_special_folder(conn, mailbox.id, SpecialUse.INBOX)
    return (mailbox.id, inbox.id) if inbox else None
