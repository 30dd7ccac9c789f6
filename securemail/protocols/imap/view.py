"""The selected folder as one session sees it: sequence numbers, UIDs, flags, and updates."""

from __future__ import annotations

import asyncio
import bisect
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from securemail.core.model import Flag, Folder, Mailbox, MessageSummary
from securemail.wire.imap.parser import SequenceSet

if TYPE_CHECKING:
    from securemail.protocols.imap.session import Session

SYSTEM_FLAGS = (
    (Flag.ANSWERED, "\\Answered"),
    (Flag.FLAGGED, "\\Flagged"),
    (Flag.DELETED, "\\Deleted"),
    (Flag.DRAFT, "\\Draft"),
)
PERMANENT_FLAGS = "\\Answered \\Flagged \\Deleted \\Draft \\Seen \\*"


def flag_names(summary: MessageSummary) -> list[str]:
    names = [name for flag, name in SYSTEM_FLAGS if flag in summary.flags]
    if summary.seen:
        names.append("\\Seen")
    return names + list(summary.keywords)


Changes = tuple[Folder, list[MessageSummary]]
# Reads in flight, by (services, user, folder, MODSEQ, whole folder?): the sessions one event
# wakes (every IDLE of a team on its group INBOX, a user's phone and desktop) share one read.
_IN_FLIGHT: dict[tuple[int, int, int, int, bool], asyncio.Future[Changes]] = {}


async def _changes(s: Session, folder_id: int, since: int, *, whole: bool = False) -> Changes:
    """The folder and its messages changed since `since` (every message if `whole`), as the
    caller may see them (the services check the caller's rights), read once for every session
    asking now."""
    ctx = s.login.ctx
    key = (id(s.services), ctx.user_id, folder_id, since, whole)
    shared = _IN_FLIGHT.get(key)
    if shared is None:
        messages = s.services.messages
        if whole:
            read = messages.folder_view(ctx, folder_id)
        else:
            read = messages.folder_changes(ctx, folder_id, since)
        shared = asyncio.ensure_future(read)
        _IN_FLIGHT[key] = shared
        shared.add_done_callback(lambda _done: _IN_FLIGHT.pop(key, None))
    return await asyncio.shield(shared)


@dataclass
class View:
    mailbox: Mailbox
    folder: Folder
    name: str
    readonly: bool
    uids: list[int] = field(default_factory=list)
    messages: dict[int, MessageSummary] = field(default_factory=dict)

    def load(self, folder: Folder, summaries: list[MessageSummary]) -> None:
        self.folder = folder
        self.uids = [s.uid for s in summaries]
        self.messages = {s.uid: s for s in summaries}

    @property
    def exists(self) -> int:
        return len(self.uids)

    def seq_of(self, uid: int) -> int:
        return bisect.bisect_left(self.uids, uid) + 1

    def select(self, seqset: SequenceSet, by_uid: bool) -> list[tuple[int, MessageSummary]]:
        """(sequence number, message) for a sequence set or UID set, in order."""
        if not self.uids:
            return []
        if by_uid:
            largest = self.uids[-1]
            ranges = seqset.resolve(largest)
            return [
                (i + 1, self.messages[u])
                for i, u in enumerate(self.uids)
                if any(a <= u <= b for a, b in ranges)
            ]
        ranges = seqset.resolve(len(self.uids))
        picked = sorted({n for a, b in ranges for n in range(a, min(b, len(self.uids)) + 1)})
        return [(n, self.messages[self.uids[n - 1]]) for n in picked]

    def _unchanged(self, state: Folder) -> bool:
        before = (self.folder.highestmodseq, self.folder.uidnext, self.exists)
        return (state.highestmodseq, state.uidnext, state.total) == before

    def replace(self, summary: MessageSummary) -> None:
        if summary.uid in self.messages:
            self.messages[summary.uid] = summary

    async def refresh(self, s: Session, *, allow_expunge: bool) -> list[bytes]:
        """Bring the view up to date; the untagged EXPUNGE, EXISTS and FETCH lines to send.

        One read: the folder row (HIGHESTMODSEQ, UIDNEXT, count), then the messages changed
        since our HIGHESTMODSEQ (new ones, flag and \\Seen changes: RFC 7162 3.1.1), an empty
        index range when nothing changed. The whole folder is read again only when its count
        says messages left it (an expunge)."""
        since = self.folder.highestmodseq
        folder, changed = await _changes(s, self.folder.id, since)
        if self._unchanged(folder):  # one indexed row and an empty index range
            self.folder = folder
            return []
        added = [m for m in changed if not self.uids or m.uid > self.uids[-1]]
        if folder.total != self.exists + len(added):  # some left: compare every UID
            folder, summaries = await _changes(s, self.folder.id, since, whole=True)
            out = self._expunged(summaries, allow_expunge)
            changed = summaries
        else:
            out = []
        out += self._flag_changes(changed, "CONDSTORE" in s.state.enabled)
        added = [m for m in changed if not self.uids or m.uid > self.uids[-1]]
        if added:
            self.uids += [m.uid for m in added]
            self.messages.update({m.uid: m for m in added})
            out.append(f"* {len(self.uids)} EXISTS\r\n".encode())
        self.folder = folder
        return out

    def _expunged(self, fresh_list: list[MessageSummary], allow_expunge: bool) -> list[bytes]:
        """Drop the UIDs no longer in the folder (when EXPUNGE may be sent): their lines."""
        if not allow_expunge:
            return []
        fresh = {m.uid for m in fresh_list}
        out: list[bytes] = []
        for index in range(len(self.uids) - 1, -1, -1):
            if self.uids[index] not in fresh:
                out.append(f"* {index + 1} EXPUNGE\r\n".encode())
                del self.messages[self.uids[index]]
                del self.uids[index]
        return out

    def _flag_changes(self, changed: list[MessageSummary], condstore: bool) -> list[bytes]:
        """FETCH lines for the messages we show whose flags, keywords or \\Seen changed."""
        out: list[bytes] = []
        for new in changed:
            old = self.messages.get(new.uid)
            if old is None or (new.flags, new.keywords, new.seen) == (
                old.flags,
                old.keywords,
                old.seen,
            ):
                continue
            self.messages[new.uid] = new
            seq = self.seq_of(new.uid)
            modseq = f" MODSEQ ({new.modseq})" if condstore else ""
            flags = " ".join(flag_names(new))
            out.append(f"* {seq} FETCH (UID {new.uid} FLAGS ({flags}){modseq})\r\n".encode())
        return out
