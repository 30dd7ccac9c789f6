"""The selected folder as one session sees it: sequence numbers, UIDs, flags, and updates."""

from __future__ import annotations

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

    async def _state(self, s: Session) -> Folder:
        """The folder now, with its message count: `get_folder` leaves `total` at 0, so the
        count comes from the folder listing (one grouped index count for the mailbox)."""
        listed = await s.services.mailboxes.list_folders(s.login.ctx, self.mailbox.id)
        for folder in listed:
            if folder.id == self.folder.id:
                return folder
        return await s.services.mailboxes.get_folder(s.login.ctx, self.folder.id)  # NotFound

    def _unchanged(self, state: Folder) -> bool:
        before = (self.folder.highestmodseq, self.folder.uidnext, self.exists)
        return (state.highestmodseq, state.uidnext, state.total) == before

    def replace(self, summary: MessageSummary) -> None:
        if summary.uid in self.messages:
            self.messages[summary.uid] = summary

    async def refresh(self, s: Session, *, allow_expunge: bool) -> list[bytes]:
        """Reload the folder; the untagged EXPUNGE, EXISTS and FETCH lines to send. A folder
        whose HIGHESTMODSEQ, UIDNEXT and count are unchanged is not reloaded: with
        thousands of messages, reloading after every command would cost more than it."""
        ctx = s.login.ctx
        state = await self._state(s)
        if self._unchanged(state):
            self.folder = state
            return []
        folder, summaries = await s.services.messages.folder_view(ctx, self.folder.id)
        fresh = {m.uid: m for m in summaries}
        out: list[bytes] = []
        if allow_expunge:
            for index in range(len(self.uids) - 1, -1, -1):
                if self.uids[index] not in fresh:
                    out.append(f"* {index + 1} EXPUNGE\r\n".encode())
                    del self.messages[self.uids[index]]
                    del self.uids[index]
        condstore = "CONDSTORE" in s.state.enabled
        for seq, uid in enumerate(self.uids, 1):
            new, old = fresh.get(uid), self.messages[uid]
            if new is None or (new.flags, new.keywords, new.seen) == (
                old.flags,
                old.keywords,
                old.seen,
            ):
                continue
            self.messages[uid] = new
            modseq = f" MODSEQ ({new.modseq})" if condstore else ""
            flags = " ".join(flag_names(new))
            out.append(f"* {seq} FETCH (UID {uid} FLAGS ({flags}){modseq})\r\n".encode())
        added = [m for m in summaries if not self.uids or m.uid > self.uids[-1]]
        if added:
            self.uids += [m.uid for m in added]
            self.messages.update({m.uid: m for m in added})
            out.append(f"* {len(self.uids)} EXISTS\r\n".encode())
        self.folder = folder
        return out
