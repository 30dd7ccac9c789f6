"""Reading and filing messages: list, open, search, flags, move, copy, delete, append."""

import asyncio
import dataclasses
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from securemail.core.context import AccessContext
from securemail.core.errors import InvalidInput, NotFound, QuotaExceeded
from securemail.core.events import MailboxChanged
from securemail.core.model import (
    Flag,
    Folder,
    Mailbox,
    Message,
    MessageSummary,
    ReadState,
    SpecialUse,
)
from securemail.core.rights import MailboxKind, Right
from securemail.core.search import SearchQuery
from securemail.mail.parse import parse_fields
from securemail.services import flag_store
from securemail.services.base import Deps, audit_group, require_folder, require_mailbox
from securemail.services.flag_store import FlagTarget, check_keywords, needed_right
from securemail.store.repos import mailboxes as mailbox_repo
from securemail.store.repos import messages as message_repo
from securemail.store.repos import search as search_repo
from securemail.store.repos import summaries as summary_repo

MAX_READ_BATCH = 1000  # messages per read_many call: bounds the memory of one batch


class MessageService:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    async def _locate(
        self, conn: AsyncConnection, ctx: AccessContext, message_id: int, need: Right
    ) -> tuple[MessageSummary, Mailbox]:
        """The message and its mailbox; NotFound unless the caller may read that mailbox."""
        found = await summary_repo.find_summary(conn, message_id, ctx.user_id)
        if found is None:
            raise NotFound("no such message")
        summary, mailbox_id = found
        try:
            mailbox = await require_mailbox(conn, ctx, mailbox_id, need)
        except NotFound:
            raise NotFound("no such message") from None
        return summary, mailbox

    async def list_messages(
        self,
        ctx: AccessContext,
        folder_id: int,
        *,
        offset: int = 0,
        limit: int = 50,
        sort: str = "date",
        descending: bool = True,
    ) -> list[MessageSummary]:
        if sort not in summary_repo.SORT_COLUMNS:
            raise InvalidInput(f"cannot sort by {sort!r}")
        if offset < 0 or not 1 <= limit <= self.deps.settings.limits.max_page_size:
            raise InvalidInput(f"page size must be 1..{self.deps.settings.limits.max_page_size}")
        async with self.deps.db.read() as conn:
            await require_folder(conn, ctx, folder_id)
            return await summary_repo.list_messages(
                conn,
                folder_id,
                ctx.user_id,
                offset=offset,
                limit=limit,
                sort=sort,
                descending=descending,
            )

    async def get_summary(self, ctx: AccessContext, message_id: int) -> MessageSummary:
        async with self.deps.db.read() as conn:
            summary, _mailbox = await self._locate(conn, ctx, message_id, Right.READ)
            return summary

    async def open_message(
        self, ctx: AccessContext, message_id: int, *, mark_seen: bool = True
    ) -> Message:
        """The raw message; marks it seen for the caller; audited in group mailboxes."""
        async with self.deps.db.write() as conn:
            summary, mailbox = await self._locate(conn, ctx, message_id, Right.READ)
            raw = await self.deps.blobs.get(conn, summary.blob_id)
            if mark_seen and not summary.seen:
                await message_repo.set_seen(conn, message_id, summary.folder_id, ctx.user_id, True)
            await audit_group(conn, ctx, mailbox, "message.open", _describe(summary))
            read_by: tuple[str, ...] = ()
            if mailbox.kind is MailboxKind.GROUP:
                read_by = await message_repo.read_by(conn, message_id)
        if mark_seen and not summary.seen:
            self.deps.events.publish(MailboxChanged(mailbox.id, summary.folder_id, "flags"))
        return Message(summary=summary, raw=raw, read_by=read_by)

    async def read_raw(self, ctx: AccessContext, message_id: int, part: str = "body") -> bytes:
        """The raw message for showing a part of it (webmail body frame, an attachment),
        without touching \\Seen; audited in group mailboxes like an open."""
        async with self.deps.db.write() as conn:
            summary, mailbox = await self._locate(conn, ctx, message_id, Right.READ)
            raw = await self.deps.blobs.get(conn, summary.blob_id)
            await audit_group(conn, ctx, mailbox, f"message.read-{part}", _describe(summary))
        return raw

    async def read_many(
        self,
        ctx: AccessContext,
        folder_id: int,
        message_ids: Sequence[int],
        *,
        mark_seen: bool = False,
    ) -> list[tuple[ReadState, bytes]]:
        """Many raw messages of one folder at once (IMAP FETCH of bodies, SEARCH HEADER):
        (read state, raw) in the order asked, leaving out ids not in the folder (expunged or moved
        meanwhile). NotFound for a folder the caller may not read, as everywhere.

        One read transaction checks READ and loads the read states and blobs. A write follows
        only when needed, as one transaction for the whole batch that checks READ again (a
        revoked right wins over what was read) and keeps only messages still in the folder:
        - `mark_seen`: the caller's \\Seen is set on every unseen message of the batch; they
          share one new MODSEQ; one MailboxChanged("flags") event after commit;
        - a group mailbox: ONE `message.open` audit entry per batch, target `ids=<ranges>`,
          detail `folder=<name> count=<n>` (every id stays findable; a 10,000-message FETCH
          writes 50 entries, not 10,000). `open_message` keeps one entry per message.
        Content is returned only after that write has committed.
        """
        if len(message_ids) > MAX_READ_BATCH:
            raise InvalidInput(f"at most {MAX_READ_BATCH} messages per read")
        async with self.deps.db.read() as conn:
            mailbox, folder = await require_folder(conn, ctx, folder_id)
            found = await message_repo.read_states_in_folder(
                conn, folder_id, ctx.user_id, message_ids
            )
            raws = await self.deps.blobs.get_many(conn, [s.blob_id for s in found.values()])
        wanted = [found[i] for i in dict.fromkeys(message_ids) if i in found]
        states = [s for s in wanted if s.blob_id in raws]
        unseen = [s.id for s in states if mark_seen and not s.seen]
        if states and (mailbox.kind is MailboxKind.GROUP or unseen):
            states = await self._record_reads(ctx, folder, states, unseen)
        return [(s, raws[s.blob_id]) for s in states]

    async def _record_reads(
        self,
        ctx: AccessContext,
        folder: Folder,
        states: list[ReadState],
        unseen: list[int],
    ) -> list[ReadState]:
        """The write half of read_many: \\Seen and the batch's audit entry, in one transaction."""
        async with self.deps.db.write() as conn:
            mailbox, _folder = await require_folder(conn, ctx, folder.id)
            present = await message_repo.ids_in_folder(conn, folder.id, [s.id for s in states])
            states = [s for s in states if s.id in present]
            marked = [i for i in unseen if i in present]
            modseq = 0
            if marked:
                modseq = await message_repo.set_seen_many(conn, folder.id, ctx.user_id, marked)
            if states:
                target = "ids=" + _ranges([s.id for s in states])
                detail = f"folder={folder.name[:100]} count={len(states)}"
                await audit_group(conn, ctx, mailbox, "message.open", target, detail)
        if marked:
            self.deps.events.publish(MailboxChanged(mailbox.id, folder.id, "flags"))
        done = set(marked)
        return [
            dataclasses.replace(s, seen=True, modseq=modseq) if s.id in done else s for s in states
        ]

    async def set_seen(self, ctx: AccessContext, message_id: int, seen: bool) -> None:
        """Each reader's own \\Seen: READ is enough (RFC 4314 `s` is part of Read)."""
        async with self.deps.db.write() as conn:
            summary, mailbox = await self._locate(conn, ctx, message_id, Right.READ)
            await message_repo.set_seen(conn, message_id, summary.folder_id, ctx.user_id, seen)
        self.deps.events.publish(MailboxChanged(mailbox.id, summary.folder_id, "flags"))

    async def set_flags(
        self, ctx: AccessContext, message_id: int, flags: Flag, keywords: Sequence[str] = ()
    ) -> MessageSummary:
        """Replace the shared flags: \\Deleted needs DELETE, every other change needs WRITE."""
        words = check_keywords(keywords)
        async with self.deps.db.write() as conn:
            summary, mailbox = await self._locate(conn, ctx, message_id, Right.READ)
            await require_mailbox(conn, ctx, mailbox.id, needed_right(summary, flags, words))
            await message_repo.set_flags(conn, message_id, summary.folder_id, flags, words)
            updated = await summary_repo.find_summary(conn, message_id, ctx.user_id)
        self.deps.events.publish(MailboxChanged(mailbox.id, summary.folder_id, "flags"))
        assert updated is not None
        return updated[0]

    async def store_flags(
        self, ctx: AccessContext, folder_id: int, targets: Sequence[FlagTarget]
    ) -> list[MessageSummary]:
        """Many messages' flags and the caller's \\Seen at once (IMAP STORE): flag_store."""
        return await flag_store.store_flags(self.deps, ctx, folder_id, targets)

    async def search(
        self,
        ctx: AccessContext,
        mailbox_id: int,
        query: SearchQuery,
        folder_id: int | None = None,
        limit: int | None = None,
    ) -> list[MessageSummary]:
        """Search one folder, or every folder of a mailbox the caller may read; the newest
        `limit` matches (at most the page-size limit)."""
        limits = self.deps.settings.limits
        page = limits.max_page_size if limit is None else max(1, min(limit, limits.max_page_size))
        if len(query.terms()) > limits.max_search_terms:
            raise InvalidInput(f"at most {limits.max_search_terms} search words")
        async with self.deps.db.read() as conn:
            await require_mailbox(conn, ctx, mailbox_id)
            folders = await mailbox_repo.list_folders_plain(conn, mailbox_id)
            ids = [f.id for f in folders if folder_id is None or f.id == folder_id]
            if folder_id is not None and not ids:
                raise NotFound("no such folder")
            return await search_repo.search(conn, ids, ctx.user_id, query, page)

    async def copy(
        self, ctx: AccessContext, message_ids: Sequence[int], to_folder_id: int
    ) -> list[int]:
        """Copy into a folder: READ on the source, WRITE on the target. Returns new ids."""
        new_ids: list[int] = []
        async with self.deps.db.write() as conn:
            target_mailbox, target = await require_folder(conn, ctx, to_folder_id, Right.WRITE)
            for message_id in message_ids:
                summary, source = await self._locate(conn, ctx, message_id, Right.READ)
                new_ids.append(await message_repo.copy_message(conn, message_id, to_folder_id))
                await self._audit_transfer(
                    conn, ctx, "message.copy", summary, source, target_mailbox, target
                )
        self.deps.events.publish(MailboxChanged(target_mailbox.id, to_folder_id, "new"))
        return new_ids

    async def move(self, ctx: AccessContext, message_ids: Sequence[int], to_folder_id: int) -> None:
        """Move: within a mailbox needs WRITE; out of a mailbox needs DELETE there, WRITE here;
        into a Trash needs DELETE as well (filing into Trash is deleting: evidence is kept
        safe from members who may only file)."""
        changed: set[tuple[int, int]] = set()
        async with self.deps.db.write() as conn:
            target_mailbox, target = await require_folder(conn, ctx, to_folder_id, Right.WRITE)
            if target.special_use is SpecialUse.TRASH:
                await require_mailbox(conn, ctx, target_mailbox.id, Right.WRITE | Right.DELETE)
            for message_id in message_ids:
                summary, source = await self._locate(conn, ctx, message_id, Right.READ)
                if summary.folder_id == to_folder_id:
                    continue
                need = Right.WRITE if source.id == target_mailbox.id else Right.DELETE
                await require_mailbox(conn, ctx, source.id, need)
                await message_repo.move_message(conn, message_id, to_folder_id)
                await self._audit_transfer(
                    conn, ctx, "message.move", summary, source, target_mailbox, target
                )
                changed.add((source.id, summary.folder_id))
        for mailbox_id, folder_id in changed:
            self.deps.events.publish(MailboxChanged(mailbox_id, folder_id, "expunge"))
        self.deps.events.publish(MailboxChanged(target_mailbox.id, to_folder_id, "new"))

    async def _audit_transfer(
        self,
        conn: AsyncConnection,
        ctx: AccessContext,
        action: str,
        summary: MessageSummary,
        source: Mailbox,
        target_mailbox: Mailbox,
        target: Folder,
    ) -> None:
        detail = f"from={source.address} to={target_mailbox.address}/{target.name}"
        for mailbox in {source.id: source, target_mailbox.id: target_mailbox}.values():
            await audit_group(conn, ctx, mailbox, action, _describe(summary), detail)

    async def delete(self, ctx: AccessContext, message_ids: Sequence[int]) -> None:
        """Move to the mailbox's Trash; in Trash, remove for good. Needs DELETE."""
        changed: set[tuple[int, int]] = set()
        async with self.deps.db.write() as conn:
            for message_id in message_ids:
                summary, mailbox = await self._locate(conn, ctx, message_id, Right.DELETE)
                trash = await mailbox_repo.find_special_folder(conn, mailbox.id, SpecialUse.TRASH)
                assert trash is not None
                if summary.folder_id == trash.id:
                    await message_repo.delete_message(conn, message_id)
                    await audit_group(conn, ctx, mailbox, "message.expunge", _describe(summary))
                else:
                    await message_repo.move_message(conn, message_id, trash.id)
                    await audit_group(conn, ctx, mailbox, "message.delete", _describe(summary))
                    changed.add((mailbox.id, trash.id))
                changed.add((mailbox.id, summary.folder_id))
        for mailbox_id, folder_id in changed:
            self.deps.events.publish(MailboxChanged(mailbox_id, folder_id, "expunge"))

    async def expunge(self, ctx: AccessContext, folder_id: int) -> list[int]:
        """Remove every message flagged \\Deleted in the folder (RFC 3501 6.4.3). Needs DELETE."""
        async with self.deps.db.write() as conn:
            mailbox, folder = await require_folder(conn, ctx, folder_id, Right.DELETE)
            gone = await summary_repo.deleted_in_folder(conn, folder_id, ctx.user_id)
            for summary in gone:
                await message_repo.delete_message(conn, summary.id)
                await audit_group(conn, ctx, mailbox, "message.expunge", _describe(summary))
        if gone:
            self.deps.events.publish(MailboxChanged(mailbox.id, folder.id, "expunge"))
        return [s.uid for s in gone]

    async def empty_trash(self, ctx: AccessContext, mailbox_id: int) -> int:
        """Remove for good everything in the mailbox's Trash, in one transaction."""
        async with self.deps.db.write() as conn:
            mailbox = await require_mailbox(conn, ctx, mailbox_id, Right.DELETE)
            trash = await mailbox_repo.find_special_folder(conn, mailbox_id, SpecialUse.TRASH)
            assert trash is not None
            gone = await summary_repo.folder_summaries(conn, trash.id, ctx.user_id)
            for summary in gone:
                await message_repo.delete_message(conn, summary.id)
                await audit_group(conn, ctx, mailbox, "message.expunge", _describe(summary))
        if gone:
            self.deps.events.publish(MailboxChanged(mailbox_id, trash.id, "expunge"))
        return len(gone)

    async def append(
        self,
        ctx: AccessContext,
        folder_id: int,
        raw: bytes,
        *,
        flags: Flag = Flag.NONE,
        seen: bool = False,
        internal_date: datetime | None = None,
    ) -> MessageSummary:
        """Store a message a client hands us (IMAP APPEND, drafts). WRITE, or MAIL for Sent
        and Drafts, so a member who may send as the group can keep copies of what they send."""
        limit = self.deps.settings.limits.max_message_bytes
        if len(raw) > limit:
            raise QuotaExceeded(f"message larger than {limit} bytes")
        fields = await asyncio.to_thread(parse_fields, raw)
        async with self.deps.db.write() as conn:
            mailbox, folder = await require_folder(conn, ctx, folder_id, Right.READ)
            need = Right.WRITE
            if (
                folder.special_use in (SpecialUse.SENT, SpecialUse.DRAFTS)
                and Right.MAIL in mailbox.rights
            ):
                need = Right.MAIL
            if Flag.DELETED in flags:
                need |= Right.DELETE
            await require_mailbox(conn, ctx, mailbox.id, need)
            blob_id = await self.deps.blobs.put(conn, raw)
            content_id = await message_repo.find_or_insert_content(conn, blob_id, len(raw), fields)
            keeps_sender = folder.special_use in (SpecialUse.SENT, SpecialUse.DRAFTS)
            sender = ctx.user_id if mailbox.kind is MailboxKind.GROUP and keeps_sender else None
            message_id = await message_repo.insert_message(
                conn,
                folder_id=folder_id,
                content_id=content_id,
                flags=flags,
                internal_date=internal_date,
                sent_by_user_id=sender,
            )
            if seen:
                await message_repo.set_seen(conn, message_id, folder_id, ctx.user_id, True)
            found = await summary_repo.find_summary(conn, message_id, ctx.user_id)
            await audit_group(
                conn, ctx, mailbox, "message.append", f"{folder.name} {fields.subject[:80]}"
            )
        self.deps.events.publish(MailboxChanged(mailbox.id, folder_id, "new"))
        assert found is not None
        return found[0]

    async def folder_view(
        self, ctx: AccessContext, folder_id: int
    ) -> tuple[Folder, list[MessageSummary]]:
        """A folder and all its messages in UID order, with the caller's \\Seen (IMAP SELECT)."""
        async with self.deps.db.read() as conn:
            _mailbox, folder = await require_folder(conn, ctx, folder_id)
            return folder, await summary_repo.list_folder_by_uid(conn, folder_id, ctx.user_id)

    async def folder_changes(
        self, ctx: AccessContext, folder_id: int, modseq: int
    ) -> tuple[Folder, list[MessageSummary]]:
        """A folder (read first) and its messages added or changed after `modseq`, with the
        caller's \\Seen: what an IMAP session needs to bring its view up to date."""
        async with self.deps.db.read() as conn:
            _mailbox, folder = await require_folder(conn, ctx, folder_id)
            changed = await summary_repo.changed_since(conn, folder_id, ctx.user_id, modseq)
            return folder, changed

    async def search_ids(self, ctx: AccessContext, folder_id: int, query: SearchQuery) -> set[int]:
        """Ids of every message in one folder matching `query` (IMAP SEARCH), unpaged."""
        limits = self.deps.settings.limits
        if len(query.terms()) > limits.max_search_terms:
            raise InvalidInput(f"at most {limits.max_search_terms} search words")
        async with self.deps.db.read() as conn:
            await require_folder(conn, ctx, folder_id)
            total = await message_repo.count_in_folder(conn, folder_id)
            found = await search_repo.search(conn, [folder_id], ctx.user_id, query, total + 1)
        return {s.id for s in found}

    async def expunge_uids(self, ctx: AccessContext, folder_id: int, uids: set[int]) -> list[int]:
        """Remove the \\Deleted messages among `uids` (UID EXPUNGE, RFC 4315). Needs DELETE."""
        async with self.deps.db.write() as conn:
            mailbox, folder = await require_folder(conn, ctx, folder_id, Right.DELETE)
            flagged = await summary_repo.deleted_in_folder(conn, folder_id, ctx.user_id)
            gone = [s for s in flagged if s.uid in uids]
            for summary in gone:
                await message_repo.delete_message(conn, summary.id)
                await audit_group(conn, ctx, mailbox, "message.expunge", _describe(summary))
        if gone:
            self.deps.events.publish(MailboxChanged(mailbox.id, folder.id, "expunge"))
        return [s.uid for s in gone]


def _ranges(ids: Sequence[int]) -> str:
    """Sorted ids as compact ranges: [1, 2, 3, 7] -> "1-3,7"."""
    out: list[str] = []
    ordered = sorted(set(ids))
    start = prev = ordered[0] if ordered else 0
    for n in [*ordered[1:], None]:
        if n is not None and n == prev + 1:
            prev = n
            continue
        out.append(f"{start}-{prev}" if prev > start else str(start))
        if n is not None:
            start = prev = n
    return ",".join(out) if ordered else ""


def _describe(summary: MessageSummary) -> str:
    return f"id={summary.id} uid={summary.uid} msgid={summary.message_id[:200]}"
