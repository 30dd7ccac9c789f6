"""Drafts: keep the message being written in the Drafts folder of the mailbox worked in.

Saving into a mailbox's Drafts needs WRITE (file mail into it) or MAIL (send as it) there: a
member who may only read a group mailbox keeps their drafts in their own mailbox. A new
version replaces the previous one in the same transaction, so a draft is never duplicated
and never lost between two saves.
"""

import asyncio

from sqlalchemy.ext.asyncio import AsyncConnection

from securemail.core.context import AccessContext
from securemail.core.errors import NotFound, PermissionDenied, QuotaExceeded
from securemail.core.events import MailboxChanged
from securemail.core.model import Flag, Folder, Mailbox, SpecialUse
from securemail.core.rights import MailboxKind, Right
from securemail.mail.parse import parse_fields
from securemail.services.base import Deps, audit_group, require_mailbox
from securemail.store.repos import mailboxes as mailbox_repo
from securemail.store.repos import messages as message_repo
from securemail.store.repos import summaries as summary_repo

MAY_DRAFT = Right.WRITE | Right.MAIL  # either one lets a user keep drafts in a mailbox


class DraftService:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    async def _drafts_of(
        self, conn: AsyncConnection, ctx: AccessContext, mailbox_id: int
    ) -> tuple[Mailbox, Folder]:
        """The mailbox and its Drafts folder; NotFound without READ, PermissionDenied
        without WRITE or MAIL."""
        mailbox = await require_mailbox(conn, ctx, mailbox_id, Right.READ)
        if not mailbox.rights & MAY_DRAFT:
            raise PermissionDenied("you may not keep drafts in this mailbox")
        drafts = await mailbox_repo.find_special_folder(conn, mailbox.id, SpecialUse.DRAFTS)
        if drafts is None:
            raise NotFound("this mailbox has no Drafts folder")
        return mailbox, drafts

    async def _require_draft(
        self, conn: AsyncConnection, ctx: AccessContext, message_id: int, drafts: Folder
    ) -> None:
        """`message_id` must be a message of this Drafts folder: nothing else can be replaced
        or discarded here (deleting mail elsewhere needs DELETE, through MessageService)."""
        found = await summary_repo.find_summary(conn, message_id, ctx.user_id)
        if found is None or found[0].folder_id != drafts.id:
            raise NotFound("no such draft")

    async def save(
        self, ctx: AccessContext, mailbox_id: int, raw: bytes, replaces: int | None = None
    ) -> int:
        """Store `raw` with \\Draft in the mailbox's Drafts, seen by the caller, removing the
        version it replaces; returns the new message id."""
        limit = self.deps.settings.limits.max_message_bytes
        if len(raw) > limit:
            raise QuotaExceeded(f"message larger than {limit} bytes")
        fields = await asyncio.to_thread(parse_fields, raw)
        blobs = self.deps.blobs
        async with self.deps.db.write() as conn:
            mailbox, drafts = await self._drafts_of(conn, ctx, mailbox_id)
            if replaces is not None:
                await self._require_draft(conn, ctx, replaces, drafts)
            blob_id = await blobs.put(conn, raw)
            content_id = await message_repo.find_or_insert_content(conn, blob_id, len(raw), fields)
            by_user = ctx.user_id if mailbox.kind is MailboxKind.GROUP else None
            new_id = await message_repo.insert_message(
                conn,
                folder_id=drafts.id,
                content_id=content_id,
                flags=Flag.DRAFT,
                sent_by_user_id=by_user,
            )
            await message_repo.set_seen(conn, new_id, drafts.id, ctx.user_id, True)
            if replaces is not None:
                await message_repo.delete_message(conn, replaces)
            target = f"id={new_id} replaces={replaces or '-'} {fields.subject[:80]}"
            await audit_group(conn, ctx, mailbox, "message.draft", target)
        self.deps.events.publish(MailboxChanged(mailbox.id, drafts.id, "new"))
        if replaces is not None:
            self.deps.events.publish(MailboxChanged(mailbox.id, drafts.id, "expunge"))
        return new_id

    async def discard(self, ctx: AccessContext, message_id: int) -> None:
        """Remove a draft for good (once sent, or thrown away): WRITE or MAIL on its mailbox,
        and only messages of a Drafts folder."""
        async with self.deps.db.write() as conn:
            found = await summary_repo.find_summary(conn, message_id, ctx.user_id)
            if found is None:
                raise NotFound("no such draft")
            try:
                mailbox, drafts = await self._drafts_of(conn, ctx, found[1])
            except NotFound:
                raise NotFound("no such draft") from None
            await self._require_draft(conn, ctx, message_id, drafts)
            await message_repo.delete_message(conn, message_id)
            await audit_group(conn, ctx, mailbox, "message.discard-draft", f"id={message_id}")
        self.deps.events.publish(MailboxChanged(mailbox.id, drafts.id, "expunge"))
