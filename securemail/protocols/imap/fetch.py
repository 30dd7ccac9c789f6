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

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from typing import TYPE_CHECKING

from securemail.core.model import MessageSummary
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
BATCH = 200  # messages per read_many call and per write to the client
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
    picked = [
        (seq, m) for seq, m in s.view.select(seqset, by_uid) if since is None or m.modseq > since
    ]
    for first in range(0, len(picked), BATCH):
        await s.send(await fetch_batch(s, picked[first : first + BATCH], items))
    return ok(f"{cmd.name} completed")


async def fetch_batch(
    s: Session, batch: list[tuple[int, MessageSummary]], items: list[Item]
) -> bytes:
    """The FETCH responses of up to BATCH messages: their contents come from one read_many
    call (one read transaction; one write for the batch if \\Seen is set or it is audited).
    A message expunged by another session meanwhile is left out."""
    if not any(i.needs_content for i in items):
        return b"".join(render_message(seq, m, b"", items) for seq, m in batch)
    mark = not s.view.readonly and any(i.sets_seen for i in items)
    ids = [m.id for _seq, m in batch]
    got = await s.services.messages.read_many(s.login.ctx, s.view.folder.id, ids, mark_seen=mark)
    contents = {m.id: (m, raw) for m, raw in got}
    out: list[bytes] = []
    for seq, summary in batch:
        if summary.id not in contents:
            continue
        fresh, raw = contents[summary.id]
        these = items
        if fresh.seen and not summary.seen:  # marked by this FETCH: say so (RFC 3501 6.4.5)
            summary = dataclasses.replace(summary, seen=True, modseq=fresh.modseq)
            s.view.replace(summary)
            if not any(i.name == "FLAGS" for i in items):
                these = [*items, Item("FLAGS")]
        out.append(render_message(seq, summary, raw, these))
    return b"".join(out)


def render_message(seq: int, summary: MessageSummary, raw: bytes, items: list[Item]) -> bytes:
    parsed: list[Message] = []

    def message() -> Message:
        if not parsed:
            parsed.append(structure.parse(raw))
        return parsed[0]

    parts = [render(item, summary, raw, message) for item in items]
    return b"* %d FETCH (" % seq + b" ".join(parts) + b")\r\n"


def render(item: Item, m: MessageSummary, raw: bytes, get: Callable[[], Message]) -> bytes:
    """One fetch-att of the response; `get` parses the message at most once."""
    name = item.name
    if name == "FLAGS":
        return f"FLAGS ({' '.join(flag_names(m))})".encode()
    if name == "UID":
        return f"UID {m.uid}".encode()
    if name == "MODSEQ":
        return f"MODSEQ ({m.modseq})".encode()
    if name == "INTERNALDATE":
        return f'INTERNALDATE "{internal_date(m)}"'.encode()
    if name == "RFC822.SIZE":
        return f"RFC822.SIZE {m.size}".encode()
    if name == "ENVELOPE":
        return b"ENVELOPE " + structure.envelope(get())
    if name in ("BODYSTRUCTURE", "BODY"):
        extended = name == "BODYSTRUCTURE"
        return name.encode() + b" " + structure.bodystructure(get(), extended=extended)
    return _content(item, raw)


def _content(item: Item, raw: bytes) -> bytes:
    header, body = structure.split_header(raw)
    if item.name == "RFC822":
        return _literal(b"RFC822", raw)
    if item.name == "RFC822.HEADER":
        return _literal(b"RFC822.HEADER", header)
    if item.name == "RFC822.TEXT":
        return _literal(b"RFC822.TEXT", body)
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


def _literal(key: bytes, data: bytes) -> bytes:
    return key + b" {%d}\r\n" % len(data) + data


def internal_date(m: MessageSummary) -> str:
    """date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone DQUOTE."""
    d = m.internal_date
    return f"{d.day:2d}-{MONTHS[d.month - 1]}-{d.year:04d} {d:%H:%M:%S} +0000"
