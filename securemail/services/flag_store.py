"""Shared flags and per-user \\Seen of many messages at once (IMAP STORE over a range)."""

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from securemail.core.context import AccessContext
from securemail.core.errors import InvalidInput
from securemail.core.events import MailboxChanged
from securemail.core.model import Flag, MessageSummary
from securemail.core.rights import Right
from securemail.services.base import Deps, require_folder, require_mailbox
from securemail.store.repos import messages as message_repo
from securemail.store.repos import summaries as summary_repo

MAX_KEYWORDS = 50
MAX_KEYWORD_LENGTH = 100


def check_keywords(keywords: Sequence[str]) -> tuple[str, ...]:
    """IMAP flag-keyword atoms (RFC 3501 section 9, `flag-keyword`), bounded."""
    if len(keywords) > MAX_KEYWORDS:
        raise InvalidInput(f"at most {MAX_KEYWORDS} keywords per message")
    for word in keywords:
        if not word or len(word) > MAX_KEYWORD_LENGTH or word.startswith("\\"):
            raise InvalidInput(f"invalid keyword {word!r}")
        if any(ord(c) <= 32 or ord(c) >= 127 or c in '(){%*"\\]' for c in word):
            raise InvalidInput(f"invalid keyword {word!r}")
    return tuple(sorted(set(keywords)))


@dataclass(frozen=True)
class FlagTarget:
    """What one message's shared flags and keywords, and the caller's \\Seen, should become."""

    message_id: int
    flags: Flag
    keywords: tuple[str, ...]
    seen: bool


def needed_right(current: MessageSummary, flags: Flag, keywords: tuple[str, ...]) -> Right:
    """\\Deleted needs DELETE, every other shared change WRITE; \\Seen is READ's (RFC 4314
    `s`)."""
    changed = current.flags ^ flags
    need = Right.READ
    if Flag.DELETED in changed:
        need |= Right.DELETE
    if changed & ~Flag.DELETED or set(keywords) != set(current.keywords):
        need |= Right.WRITE
    return need


async def store_flags(
    deps: Deps, ctx: AccessContext, folder_id: int, targets: Sequence[FlagTarget]
) -> list[MessageSummary]:
    """Set many messages of one folder to their targets in one write transaction and one
    event. The rights are checked for the whole set first: if any change needs a right the
    caller lacks, nothing changes. Messages no longer in the folder are left out; returns the
    summaries after the change, in the order asked."""
    async with deps.db.write() as conn:
        mailbox, _folder = await require_folder(conn, ctx, folder_id)
        ids = [t.message_id for t in targets]
        current = await summary_repo.summaries_in_folder(conn, folder_id, ctx.user_id, ids)
        present = [(t, check_keywords(t.keywords)) for t in targets if t.message_id in current]
        need = Right.READ
        for t, words in present:
            need |= needed_right(current[t.message_id], t.flags, words)
        if need != Right.READ:
            await require_mailbox(conn, ctx, mailbox.id, need)
        changed = await _write(conn, folder_id, ctx.user_id, present, current)
        after = await summary_repo.summaries_in_folder(conn, folder_id, ctx.user_id, ids)
    if changed:
        deps.events.publish(MailboxChanged(mailbox.id, folder_id, "flags"))
    return [after[i] for i in ids if i in after]


async def _write(
    conn: AsyncConnection,
    folder_id: int,
    user_id: int,
    present: list[tuple[FlagTarget, tuple[str, ...]]],
    current: dict[int, MessageSummary],
) -> bool:
    """The changes, a few statements per distinct target (a STORE sets many messages alike);
    whether anything changed."""
    shared: dict[tuple[Flag, tuple[str, ...]], list[int]] = {}
    seen_on: list[int] = []
    seen_off: list[int] = []
    for target, words in present:
        now = current[target.message_id]
        if target.flags != now.flags or set(words) != set(now.keywords):
            shared.setdefault((target.flags, words), []).append(target.message_id)
        if target.seen != now.seen:
            (seen_on if target.seen else seen_off).append(target.message_id)
    for (flags, words), ids in shared.items():
        await message_repo.set_flags_many(conn, folder_id, ids, flags, words)
    if seen_on:
        await message_repo.set_seen_many(conn, folder_id, user_id, seen_on)
    if seen_off:
        await message_repo.clear_seen_many(conn, folder_id, user_id, seen_off)
    return bool(shared or seen_on or seen_off)
