"""STORE and UID STORE (RFC 3501 6.4.6, RFC 7162 UNCHANGEDSINCE): per-user \\Seen, shared
flags and keywords, for a whole run of messages through services.messages.store_flags
(rights there: a run needing a right the user lacks changes nothing).

    store           = "STORE" SP sequence-set [SP store-modifier] SP store-att-flags
    store-modifier  = "(" "UNCHANGEDSINCE" SP mod-sequence-valzer ")"
    store-att-flags = (["+" / "-"] "FLAGS" [".SILENT"]) SP (flag-list / (flag *(SP flag)))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from securemail.core.model import Flag, MessageSummary
from securemail.protocols.imap.errors import Bad, No
from securemail.protocols.imap.state import Outcome, ok
from securemail.protocols.imap.view import SYSTEM_FLAGS, flag_names
from securemail.services.flag_store import FlagTarget
from securemail.wire.imap.parser import Command, atom, number, sequence_set, token_list

if TYPE_CHECKING:
    from securemail.protocols.imap.session import Session

FLAG_BY_NAME = {name.upper(): flag for flag, name in SYSTEM_FLAGS}
# Messages set per service call (one write transaction, one event for the IDLE sessions):
# STORE 1:* on a large folder still yields the writer between runs.
STORE_BATCH = 1000


@dataclass(frozen=True)
class FlagSet:
    flags: Flag
    seen: bool
    keywords: frozenset[str]


def parse_flags(tokens: list[object]) -> FlagSet:
    """flag = "\\Answered" / "\\Flagged" / "\\Deleted" / "\\Seen" / "\\Draft" / flag-keyword."""
    flags, seen, keywords = Flag.NONE, False, set()
    for token in tokens:
        word = atom(token)
        upper = word.upper()
        if upper == "\\SEEN":
            seen = True
        elif upper in FLAG_BY_NAME:
            flags |= FLAG_BY_NAME[upper]
        elif word.startswith("\\"):
            raise Bad(f"unknown system flag {word[:40]}")
        else:
            keywords.add(word)
    return FlagSet(flags, seen, frozenset(keywords))


def _apply(mode: str, current: MessageSummary, given: FlagSet) -> FlagSet:
    now = FlagSet(current.flags, current.seen, frozenset(current.keywords))
    if mode == "+":
        return FlagSet(
            now.flags | given.flags, now.seen or given.seen, now.keywords | given.keywords
        )
    if mode == "-":
        seen = now.seen and not given.seen
        return FlagSet(now.flags & ~given.flags, seen, now.keywords - given.keywords)
    return given


def _parse(args: list[object]) -> tuple[int | None, str, bool, FlagSet]:
    args = list(args)
    unchanged = None
    if args and isinstance(args[0], list):
        modifier = token_list(args.pop(0))
        if len(modifier) != 2 or atom(modifier[0]).upper() != "UNCHANGEDSINCE":
            raise Bad("unknown STORE modifier")
        unchanged = number(modifier[1])
    if len(args) < 2:
        raise Bad("STORE takes a sequence set, an action and flags")
    action = atom(args[0]).upper()
    mode = action[0] if action[:1] in "+-" else ""
    base = action.lstrip("+-")
    if base not in ("FLAGS", "FLAGS.SILENT"):
        raise Bad("STORE action must be [+|-]FLAGS[.SILENT]")
    values = token_list(args[1]) if isinstance(args[1], list) else args[1:]
    return unchanged, mode, base.endswith(".SILENT"), parse_flags(values)


async def store(s: Session, cmd: Command) -> Outcome:
    by_uid = cmd.name == "UID STORE"
    if not cmd.args:
        raise Bad("STORE takes a sequence set")
    seqset = sequence_set(cmd.args[0])
    unchanged, mode, silent, given = _parse(cmd.args[1:])
    view = s.view
    if view.readonly:
        raise No("the mailbox is open read-only", "READ-ONLY")
    if unchanged is not None:
        s.state.enabled.add("CONDSTORE")
    modified: list[str] = []
    wanted: list[tuple[int, MessageSummary]] = []
    for seq, summary in view.select(seqset, by_uid):
        if unchanged is not None and summary.modseq > unchanged:
            modified.append(str(summary.uid if by_uid else seq))
        else:
            wanted.append((seq, summary))
    for first in range(0, len(wanted), STORE_BATCH):
        run = wanted[first : first + STORE_BATCH]
        targets = [_target(summary, _apply(mode, summary, given)) for _seq, summary in run]
        stored = await s.services.messages.store_flags(s.login.ctx, view.folder.id, targets)
        after = {m.id: m for m in stored}  # a message expunged meanwhile is left out
        lines = []
        for seq, summary in run:
            updated = after.get(summary.id)
            if updated is None:
                continue
            view.replace(updated)
            if not silent or unchanged is not None:
                lines.append(_fetch_line(s, seq, updated, by_uid))
        if lines:
            await s.send(b"".join(lines))
    if modified:
        return ok("some messages changed since", f"MODIFIED {','.join(modified)}")
    return ok(f"{cmd.name} completed")


def _target(m: MessageSummary, target: FlagSet) -> FlagTarget:
    return FlagTarget(m.id, target.flags, tuple(sorted(target.keywords)), target.seen)


def _fetch_line(s: Session, seq: int, m: MessageSummary, by_uid: bool) -> bytes:
    parts = [f"FLAGS ({' '.join(flag_names(m))})"]
    if by_uid:
        parts.insert(0, f"UID {m.uid}")
    if "CONDSTORE" in s.state.enabled:
        parts.append(f"MODSEQ ({m.modseq})")
    return f"* {seq} FETCH ({' '.join(parts)})\r\n".encode()
