"""The selected folder as one session sees it: sequence numbers, UIDs, flags, and updates."""

from __future__ import annotations

import asyncio
import bisect
import weakref
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from securemail.core.model import Flag, Folder, Mailbox, MessageSummary
from securemail.wire.imap.parser import SequenceSet

if TYPE_CHECKING:
    from securemail.protocols.imap.session import Session
    from securemail.services.registry import Services

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


# The view each user last had of a folder, by (services, user, folder), newest last: a SELECT
# of a folder starts from it and reads only what changed since its HIGHESTMODSEQ, as IDLE
# does (RFC 7162 3.1.1), instead of every message again. What it holds is immutable; the
# weak reference tells a snapshot of a Services object gone (whose id may be reused).
Snapshot = tuple["weakref.ref[Services]", Folder, list[MessageSummary]]
_SNAPSHOTS: OrderedDict[tuple[int, int, int], Snapshot] = OrderedDict()
SNAPSHOT_MESSAGES = 50_000  # summaries kept in all (~0.9 KB each), least recently used out


async def open_view(
    s: Session, mailbox: Mailbox, folder: Folder, name: str, readonly: bool
) -> View:
    """The view SELECT or EXAMINE opens: the services decide, as for every read, that the
    caller may read the folder; a snapshot only saves reading what did not change."""
    key = (id(s.services), s.login.ctx.user_id, folder.id)
    view = View(mailbox, folder, name, readonly)
    cached = _SNAPSHOTS.pop(key, None)
    if (
        cached is not None
        and cached[0]() is s.services
        and cached[1].uidvalidity == folder.uidvalidity
    ):
        view.load(cached[1], cached[2])
        await view.refresh(s, allow_expunge=True)  # SELECT's own lines tell the totals
    else:
        view.load(*await _changes(s, folder.id, 0, whole=True))
    _remember(key, (weakref.ref(s.services), view.folder, [view.messages[u] for u in view.uids]))
    return view


def _remember(key: tuple[int, int, int], snapshot: Snapshot) -> None:
    if len(snapshot[2]) > SNAPSHOT_MESSAGES:
        return
    _SNAPSHOTS[key] = snapshot
    held = sum(len(summaries) for _ref, _folder, summaries in _SNAPSHOTS.values())
    while held > SNAPSHOT_MESSAGES:
        _key, (_ref, _folder, oldest) = _SNAPSHOTS.popitem(last=False)
        held -= len(oldest)


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
        uids, messages = self.uids, self.messages
        if by_uid:
            ranges = seqset.resolve(uids[-1])
            if len(ranges) == 1:  # one range (1:*, a client's UID FETCH n:m): cut the slice
                start = bisect.bisect_left(uids, ranges[0][0])
                end = bisect.bisect_right(uids, ranges[0][1])
                return [(i + 1, messages[uids[i]]) for i in range(start, end)]
            return [
                (i + 1, messages[u])
                for i, u in enumerate(uids)
                if any(a <= u <= b for a, b in ranges)
            ]
        ranges = seqset.resolve(len(uids))
        if len(ranges) == 1:
            picked: Iterable[int] = range(ranges[0][0], min(ranges[0][1], len(uids)) + 1)
        else:
            picked = sorted({n for a, b in ranges for n in range(a, min(b, len(uids)) + 1)})
        return [(n, messages[uids[n - 1]]) for n in picked]

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
            if old is None:
                continue
            self.messages[new.uid] = new  # its MODSEQ moved even if what we show did not
            if (new.flags, new.keywords, new.seen) == (old.flags, old.keywords, old.seen):
                continue
            seq = self.seq_of(new.uid)
            modseq = f" MODSEQ ({new.modseq})" if condstore else ""
            flags = " ".join(flag_names(new))
            out.append(f"* {seq} FETCH (UID {new.uid} FLAGS ({flags}){modseq})\r\n".encode())
        return out
