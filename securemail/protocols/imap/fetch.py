"""FETCH and UID FETCH (RFC 3501 6.4.5, RFC 7162 CHANGEDSINCE and MODSEQ).

fetch           = "FETCH" SP sequence-set SP ("ALL" / "FULL" / "FAST" /
                  fetch-att / "(" fetch-att *(SP fetch-att) ")") [fetch-modifiers]
fetch-att       = "ENVELOPE" / "FLAGS" / "INTERNALDATE" / "RFC822" [".HEADER" / ".SIZE" /
                  ".TEXT"] / "BODY" ["STRUCTURE"] / "UID" / "MODSEQ" /
                  "BODY" section ["<" number "." nz-number ">"] /
                  "BODY.PEEK" section ["<" number "." nz-number ">"]
fetch-modifier  = "CHANGEDSINCE" SP mod-sequence-value
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import Message
from typing import TYPE_CHECKING

from securemail.core.model import MessageSummary, ReadState
from securemail.protocols.imap import structure
from securemail.protocols.imap.errors import Bad
from securemail.protocols.imap.state import Outcome, ok
from securemail.protocols.imap.view import flag_names
from securemail.wire.imap.parser import Command, atom, number, sequence_set, token_list

if TYPE_CHECKING:
    from securemail.protocols.imap.session import Session

MACROS = {
    "ALL": ["FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"],
    "FAST": ["FLAGS", "INTERNALDATE", "RFC822.SIZE"],
    "FULL": ["FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"],
}
SIMPLE = {"FLAGS", "UID", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODYSTRUCTURE", "BODY"}
SIMPLE |= {"RFC822", "RFC822.HEADER", "RFC822.TEXT", "MODSEQ"}
SECTION = re.compile(r"(BODY|BODY\.PEEK)\[([^\]]*)\](?:<(\d{1,10})\.(\d{1,10})>)?\Z")
SECTION_TEXT = re.compile(
    r"((?:\d{1,5}\.)*)(HEADER\.FIELDS\.NOT|HEADER\.FIELDS|HEADER|TEXT|MIME|\d{1,5})?\Z"
)
BATCH = 500  # messages per read_many call and per write to the client (<= MAX_READ_BATCH)
BATCH_BYTES = 4 * 1024 * 1024  # and no more octets than this in one run (beyond its first)
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


@dataclass(frozen=True)
class Item:
    """One fetch-att: its name, and for BODY[...] the section, field list and partial range."""

    name: str
    section: str = ""
    fields: tuple[str, ...] = ()
    partial: tuple[int, int] | None = None
    peek: bool = True

    @property
    def needs_content(self) -> bool:
        return self.name not in ("FLAGS", "UID", "INTERNALDATE", "RFC822.SIZE", "MODSEQ")

    @property
    def sets_seen(self) -> bool:
        return not self.peek


def parse_item(word: str) -> Item:
    upper = word.upper()
    if upper in SIMPLE:
        return Item(upper, peek=upper not in ("RFC822", "RFC822.TEXT"))
    match = SECTION.match(upper)
    if match is None:
        raise Bad(f"unknown FETCH item {word[:40]}")
    kind, spec, origin, count = match.groups()
    spec, _, rest = spec.partition(" ")
    if SECTION_TEXT.match(spec) is None:
        raise Bad("bad section")
    fields = tuple(f.strip('"') for f in rest.strip("()").split()) if rest else ()
    if spec.endswith(("HEADER.FIELDS", "HEADER.FIELDS.NOT")) and not fields:
        raise Bad("HEADER.FIELDS needs a field list")
    partial = (int(origin), int(count)) if origin is not None else None
    return Item("BODY[]", spec, fields, partial, peek=kind.endswith("PEEK"))


def parse_items(token: object) -> list[Item]:
    if isinstance(token, list):
        words = [atom(t) for t in token]
    else:
        word = atom(token)
        words = MACROS.get(word.upper(), [word])
    if not words:
        raise Bad("nothing to fetch")
    return [parse_item(w) for w in words]


def changed_since(args: list[object]) -> int | None:
    if not args:
        return None
    modifiers = token_list(args[0])
    if len(args) > 1 or len(modifiers) != 2 or atom(modifiers[0]).upper() != "CHANGEDSINCE":
        raise Bad("unknown FETCH modifier")
    return number(modifiers[1])


async def fetch(s: Session, cmd: Command) -> Outcome:
    by_uid = cmd.name == "UID FETCH"
    if len(cmd.args) < 2:
        raise Bad("FETCH takes a sequence set and items")
    seqset = sequence_set(cmd.args[0])
    items = parse_items(cmd.args[1])
    since = changed_since(cmd.args[2:])
    if since is not None or any(i.name == "MODSEQ" for i in items):
        s.state.enabled.add("CONDSTORE")
    if by_uid and not any(i.name == "UID" for i in items):
        items.insert(0, Item("UID"))
    if since is not None and not any(i.name == "MODSEQ" for i in items):
        items.append(Item("MODSEQ"))
    picked = s.view.select(seqset, by_uid)
    if since is not None:
        picked = [(seq, m) for seq, m in picked if m.modseq > since]
    if not any(i.needs_content for i in items):
        for first in range(0, len(picked), BATCH):
            out: list[bytes] = []
            for seq, m in picked[first : first + BATCH]:
                render_message(out, seq, m, b"", items)
            await s.send(b"".join(out))
        return ok(f"{cmd.name} completed")
    await _fetch_contents(s, list(batches(picked)), items)
    return ok(f"{cmd.name} completed")


def batches(
    picked: list[tuple[int, MessageSummary]],
) -> Iterator[list[tuple[int, MessageSummary]]]:
    """The picked messages in runs of at most BATCH messages and BATCH_BYTES octets (a
    larger message goes alone): what one read_many call loads and one write sends."""
    batch: list[tuple[int, MessageSummary]] = []
    size = 0
    for entry in picked:
        octets = entry[1].size
        if batch and (len(batch) >= BATCH or size + octets > BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(entry)
        size += octets
    if batch:
        yield batch


async def _fetch_contents(
    s: Session, runs: list[list[tuple[int, MessageSummary]]], items: list[Item]
) -> None:
    """Load, render and send run after run; the next run is loaded while this one is written
    and drained, so the store and the client work at the same time. Should the connection
    drop, the run being loaded is still waited for (never cancelled mid-transaction): its
    read is recorded like that of a run sent."""
    mark = not s.view.readonly and any(i.sets_seen for i in items)
    pending: asyncio.Task[list[tuple[ReadState, bytes]]] | None = None
    try:
        for index, run in enumerate(runs):
            got = await pending if pending is not None else await _load(s, run, mark)
            pending = None
            if index + 1 < len(runs):
                pending = asyncio.create_task(_load(s, runs[index + 1], mark))
            await s.send(render_run(s, run, got, items))
    finally:
        if pending is not None:
            with contextlib.suppress(Exception):
                await pending


async def _load(
    s: Session, run: list[tuple[int, MessageSummary]], mark: bool
) -> list[tuple[ReadState, bytes]]:
    """One read_many call (one read transaction; one write for the run if \\Seen is set or
    the mailbox is a group's)."""
    ids = [m.id for _seq, m in run]
    return await s.services.messages.read_many(s.login.ctx, s.view.folder.id, ids, mark_seen=mark)


def render_run(
    s: Session,
    run: list[tuple[int, MessageSummary]],
    got: list[tuple[ReadState, bytes]],
    items: list[Item],
) -> bytes:
    """The FETCH responses of one run, as one bytes object (each message copied once). A
    message expunged by another session meanwhile is left out."""
    contents = {m.id: (m, raw) for m, raw in got}
    out: list[bytes] = []
    with_flags: list[Item] | None = None
    for seq, summary in run:
        found = contents.get(summary.id)
        if found is None:
            continue
        fresh, raw = found
        these = items
        if fresh.seen and not summary.seen:  # marked by this FETCH: say so (RFC 3501 6.4.5)
            summary = dataclasses.replace(summary, seen=True, modseq=fresh.modseq)
            s.view.replace(summary)
            if not any(i.name == "FLAGS" for i in items):
                if with_flags is None:
                    with_flags = [*items, Item("FLAGS")]
                these = with_flags
        render_message(out, seq, summary, raw, these)
    return b"".join(out)


def render_message(
    out: list[bytes], seq: int, summary: MessageSummary, raw: bytes, items: list[Item]
) -> None:
    """Append one message's FETCH response to `out` (a literal's data as its own piece, so
    the run's one join copies it once)."""
    parsed: list[Message] = []

    def message() -> Message:
        if not parsed:
            parsed.append(structure.parse(raw))
        return parsed[0]

    out.append(b"* %d FETCH (" % seq)
    for index, item in enumerate(items):
        if index:
            out.append(b" ")
        if item.needs_content and item.name not in ("ENVELOPE", "BODYSTRUCTURE", "BODY"):
            head, data = _content(item, raw)
            out.append(head)
            out.append(data)
        else:
            out.append(render(item, summary, raw, message))
    out.append(b")\r\n")


def render(item: Item, m: MessageSummary, raw: bytes, get: Callable[[], Message]) -> bytes:
    """One fetch-att of the response; `get` parses the message at most once."""
    name = item.name
    if name == "FLAGS":
        return f"FLAGS ({' '.join(flag_names(m))})".encode()
    if name == "UID":
        return b"UID %d" % m.uid
    if name == "MODSEQ":
        return b"MODSEQ (%d)" % m.modseq
    if name == "INTERNALDATE":
        return f'INTERNALDATE "{internal_date(m)}"'.encode()
    if name == "RFC822.SIZE":
        return b"RFC822.SIZE %d" % m.size
    if name == "ENVELOPE":
        return b"ENVELOPE " + structure.envelope(get())
    if name in ("BODYSTRUCTURE", "BODY"):
        extended = name == "BODYSTRUCTURE"
        return name.encode() + b" " + structure.bodystructure(get(), extended=extended)
    head, data = _content(item, raw)
    return head + data


def _content(item: Item, raw: bytes) -> tuple[bytes, bytes]:
    """(the item's name with the literal's "{n}" CRLF, the literal's octets)."""
    if item.name == "BODY[]" and not item.section and item.partial is None:
        return b"BODY[] {%d}\r\n" % len(raw), raw  # the whole message: nothing to cut
    if item.name == "RFC822":
        return _literal(b"RFC822", raw)
    if item.name == "RFC822.HEADER":
        return _literal(b"RFC822.HEADER", structure.split_header(raw)[0])
    if item.name == "RFC822.TEXT":
        return _literal(b"RFC822.TEXT", structure.split_header(raw)[1])
    data = structure.section(raw, item.section, list(item.fields))
    label = item.section
    if item.fields:
        label += " (" + " ".join(f.upper() for f in item.fields) + ")"
    key = f"BODY[{label}]"
    if item.partial is not None:
        origin, count = item.partial
        data = data[origin : origin + count]
        key += f"<{origin}>"
    return _literal(key.encode(), data)


def _literal(key: bytes, data: bytes) -> tuple[bytes, bytes]:
    return key + b" {%d}\r\n" % len(data), data


def internal_date(m: MessageSummary) -> str:
    """date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone DQUOTE."""
    d = m.internal_date
    return f"{d.day:2d}-{MONTHS[d.month - 1]}-{d.year:04d} {d:%H:%M:%S} +0000"
