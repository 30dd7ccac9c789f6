"""POP3 use cases: the maildrop snapshot, retrieval, and what DELE does at QUIT, by rights."""

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from securemail.core.context import AccessContext
from securemail.core.errors import InvalidInput, NotFound
from securemail.core.events import MailboxChanged
from securemail.core.model import Folder, Mailbox, MessageSummary, SpecialUse
from securemail.core.rights import MailboxKind, Right
from securemail.services.base import Deps, audit_group, require_mailbox
from securemail.store.repos import mailboxes as mailbox_repo
from securemail.store.repos import messages as message_repo
from securemail.store.repos import pop3 as pop3_repo
from securemail.store.repos import summaries as summary_repo

GONE = "message was removed by another session"
MAX_PREFETCH = 1000  # messages per prefetch call: bounds the memory of one read-ahead


@dataclass(frozen=True, slots=True)
class DropMessage:
    """One message of the snapshot: its id, size in octets and POP3 unique id."""

    id: int
    size: int
    unique_id: str  # "<uidvalidity>.<uid>" of the Inbox: stable while the message stays there


@dataclass(frozen=True, slots=True)
class Maildrop:
    """The Inbox as it was at login (RFC 1939 section 4), minus what the user has hidden."""

    mailbox_id: int
    folder_id: int
    messages: tuple[DropMessage, ...]
    group: bool = False  # a group mailbox: every retrieval is audited before it is sent


@dataclass(frozen=True, slots=True)
class Deletion:
    """What QUIT did: messages moved to the mailbox's Trash, or hidden for this user only."""

    moved: int
    hidden: int


class MaildropService:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    async def _inbox(self, conn: AsyncConnection, mailbox_id: int) -> Folder:
        inbox = await mailbox_repo.find_special_folder(conn, mailbox_id, SpecialUse.INBOX)
        if inbox is None:
            raise NotFound("no such mailbox")
        return inbox

    async def open(self, ctx: AccessContext, mailbox_id: int) -> Maildrop:
        """Snapshot the mailbox's Inbox for a POP3 session; needs READ."""
        async with self.deps.db.read() as conn:
            mailbox = await require_mailbox(conn, ctx, mailbox_id)
            inbox = await self._inbox(conn, mailbox_id)
            rows = await pop3_repo.list_visible(conn, inbox.id, ctx.user_id)
        drop = tuple(
            DropMessage(r.message_id, r.size, f"{inbox.uidvalidity}.{r.uid}") for r in rows
        )
        return Maildrop(mailbox_id, inbox.id, drop, mailbox.kind is MailboxKind.GROUP)

    async def _locate(
        self, conn: AsyncConnection, ctx: AccessContext, drop: Maildrop, message_id: int
    ) -> tuple[Mailbox, MessageSummary]:
        mailbox = await require_mailbox(conn, ctx, drop.mailbox_id)
        inbox = await self._inbox(conn, mailbox.id)  # never trust the folder the caller names
        found = await summary_repo.find_summary(conn, message_id, ctx.user_id)
        if found is None or found[0].folder_id != inbox.id:
            raise NotFound(GONE)
        return mailbox, found[0]

    async def retrieve(self, ctx: AccessContext, drop: Maildrop, message_id: int) -> bytes:
        """The whole message (RETR); marks it seen for the caller alone; audited in groups."""
        async with self.deps.db.write() as conn:
            mailbox, summary = await self._locate(conn, ctx, drop, message_id)
            raw = await self.deps.blobs.get(conn, summary.blob_id)
            if not summary.seen:
                await message_repo.set_seen(conn, message_id, summary.folder_id, ctx.user_id, True)
            await audit_group(conn, ctx, mailbox, "pop3.retr", _describe(summary))
        if not summary.seen:
            self.deps.events.publish(MailboxChanged(mailbox.id, summary.folder_id, "flags"))
        return raw

    async def prefetch(
        self, ctx: AccessContext, drop: Maildrop, message_ids: Sequence[int]
    ) -> dict[int, bytes]:
        """The raw messages of `message_ids` still in the Inbox, by id, in one read transaction:
        a POP3 session's read-ahead for RETR. Needs READ; changes nothing and audits nothing:
        a message counts as retrieved only through `mark_retrieved` (or `retrieve`)."""
        if len(message_ids) > MAX_PREFETCH:
            raise InvalidInput(f"at most {MAX_PREFETCH} messages per prefetch")
        async with self.deps.db.read() as conn:
            mailbox = await require_mailbox(conn, ctx, drop.mailbox_id)
            inbox = await self._inbox(conn, mailbox.id)
            found = await message_repo.blob_ids_in_folder(conn, inbox.id, message_ids)
            raws = await self.deps.blobs.get_many(conn, list(found.values()))
        return {i: raws[found[i]] for i in dict.fromkeys(message_ids) if found.get(i) in raws}

    async def mark_retrieved(
        self, ctx: AccessContext, drop: Maildrop, message_ids: Sequence[int]
    ) -> None:
        """What RETR records, for many messages in one write transaction: the caller's \\Seen
        (one shared MODSEQ) and, in a group mailbox, one `pop3.retr` audit entry per message.
        Messages no longer in the Inbox are skipped. Needs READ."""
        async with self.deps.db.write() as conn:
            mailbox = await require_mailbox(conn, ctx, drop.mailbox_id)
            inbox = await self._inbox(conn, mailbox.id)
            states = await message_repo.read_states_in_folder(
                conn, inbox.id, ctx.user_id, message_ids
            )
            unseen = [i for i, state in states.items() if not state.seen]
            if unseen:
                await message_repo.set_seen_many(conn, inbox.id, ctx.user_id, unseen)
            if mailbox.kind is MailboxKind.GROUP:  # what each entry names needs the summary
                found = await summary_repo.summaries_in_folder(
                    conn, inbox.id, ctx.user_id, [*states]
                )
                for summary in sorted(found.values(), key=lambda m: m.uid):
                    await audit_group(conn, ctx, mailbox, "pop3.retr", _describe(summary))
        if unseen:
            self.deps.events.publish(MailboxChanged(mailbox.id, inbox.id, "flags"))

    async def peek(self, ctx: AccessContext, drop: Maildrop, message_id: int) -> bytes:
        """The message for TOP: changes no \\Seen; audited in groups like RETR."""
        async with self.deps.db.write() as conn:
            mailbox, summary = await self._locate(conn, ctx, drop, message_id)
            raw = await self.deps.blobs.get(conn, summary.blob_id)
            await audit_group(conn, ctx, mailbox, "pop3.top", _describe(summary))
        return raw

    async def delete(
        self, ctx: AccessContext, drop: Maildrop, message_ids: Sequence[int]
    ) -> Deletion:
        """The UPDATE state (RFC 1939 section 6), in one transaction: with DELETE each message
        moves to the mailbox's Trash; without, it is only hidden from this user's POP3 view,
        so a "delete after download" client cannot empty a team's mailbox."""
        async with self.deps.db.write() as conn:
            mailbox = await require_mailbox(conn, ctx, drop.mailbox_id)
            inbox = await self._inbox(conn, mailbox.id)
            present = await self._still_in(conn, ctx, inbox.id, message_ids)
            if Right.DELETE not in mailbox.rights:
                await pop3_repo.hide(conn, ctx.user_id, [s.id for s in present])
                for summary in present:
                    await audit_group(conn, ctx, mailbox, "pop3.hide", _describe(summary))
                return Deletion(moved=0, hidden=len(present))
            trash = await mailbox_repo.find_special_folder(conn, mailbox.id, SpecialUse.TRASH)
            assert trash is not None
            for summary in present:
                await message_repo.move_message(conn, summary.id, trash.id)
                await audit_group(conn, ctx, mailbox, "message.delete", _describe(summary))
        if present:
            self.deps.events.publish(MailboxChanged(mailbox.id, inbox.id, "expunge"))
            self.deps.events.publish(MailboxChanged(mailbox.id, trash.id, "new"))
        return Deletion(moved=len(present), hidden=0)

    async def _still_in(
        self, conn: AsyncConnection, ctx: AccessContext, folder_id: int, ids: Sequence[int]
    ) -> list[MessageSummary]:
        """Messages another session moved or removed meanwhile are left alone."""
        out = []
        for message_id in dict.fromkeys(ids):
            found = await summary_repo.find_summary(conn, message_id, ctx.user_id)
            if found is not None and found[0].folder_id == folder_id:
                out.append(found[0])
        return out


def _describe(summary: MessageSummary) -> str:
    return f"id={summary.id} uid={summary.uid} msgid={summary.message_id[:200]}"
