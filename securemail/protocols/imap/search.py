"""SEARCH and UID SEARCH (RFC 3501 6.4.4, RFC 7162 MODSEQ): flags, dates, sizes and sets are
evaluated on the session's view; BODY and TEXT go to the full-text index through
services.messages.search_ids; CC, BCC and HEADER read stored headers in batches (read_many).

    search          = "SEARCH" [SP "CHARSET" SP charset] 1*(SP search-key)
    search-key      = "ALL" / "ANSWERED" / "BCC" SP astring / "BEFORE" SP date /
                      "BODY" SP astring / "CC" SP astring / "DELETED" / "FLAGGED" /
                      "FROM" SP astring / "KEYWORD" SP flag-keyword / "NEW" / "OLD" /
                      "ON" SP date / "RECENT" / "SEEN" / "SINCE" SP date /
                      "SUBJECT" SP astring / "TEXT" SP astring / "TO" SP astring /
                      "UNANSWERED" / "UNDELETED" / "UNFLAGGED" / "UNKEYWORD" SP flag-keyword /
                      "UNSEEN" / "DRAFT" / "HEADER" SP header-fld-name SP astring /
                      "LARGER" SP number / "NOT" SP search-key /
                      "OR" SP search-key SP search-key / "SENTBEFORE" SP date /
                      "SENTON" SP date / "SENTSINCE" SP date / "SMALLER" SP number /
                      "UID" SP sequence-set / "UNDRAFT" / sequence-set /
                      "(" search-key *(SP search-key) ")" / "MODSEQ" SP mod-sequence-valzer
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from securemail.core.model import Flag, MessageSummary
from securemail.core.search import SearchQuery
from securemail.protocols.imap import structure
from securemail.protocols.imap.errors import Bad, No
from securemail.protocols.imap.state import Outcome, ok
from securemail.wire.imap.parser import (
    Atom,
    Command,
    astring,
    atom,
    number,
    search_date,
    sequence_set,
)

if TYPE_CHECKING:
    from securemail.protocols.imap.session import Session

FLAG_KEYS = {
    "ANSWERED": (Flag.ANSWERED, True),
    "UNANSWERED": (Flag.ANSWERED, False),
    "DELETED": (Flag.DELETED, True),
    "UNDELETED": (Flag.DELETED, False),
    "FLAGGED": (Flag.FLAGGED, True),
    "UNFLAGGED": (Flag.FLAGGED, False),
    "DRAFT": (Flag.DRAFT, True),
    "UNDRAFT": (Flag.DRAFT, False),
}
ONE_ARG = {"BCC", "BODY", "CC", "FROM", "SUBJECT", "TEXT", "TO", "KEYWORD", "UNKEYWORD"}
DATE_KEYS = {"BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE"}
MAX_KEYS = 200
HEADER_BATCH = 200  # messages whose headers one read_many call loads (CC, BCC, HEADER keys)
Node = tuple[object, ...]


@dataclass
class Context:
    """What evaluation needs: the session, and results fetched once per search."""

    s: Session
    text_hits: dict[tuple[str, str], set[int]] = field(default_factory=dict)
    raws: dict[int, bytes] = field(default_factory=dict)  # message id -> header block
    modseq_used: bool = False


def parse_keys(tokens: list[object]) -> list[Node]:
    nodes, rest = [], list(tokens)
    while rest:
        nodes.append(_key(rest))
    if not nodes or len(nodes) > MAX_KEYS:
        raise Bad("SEARCH needs between 1 and 200 keys")
    return nodes


def _take(rest: list[object]) -> object:
    if not rest:
        raise Bad("search key is missing an argument")
    return rest.pop(0)


def _key(rest: list[object]) -> Node:
    if not rest:  # OR or NOT at the end of the command (RFC 3501 6.4.4: both need keys)
        raise Bad("search key is missing")
    token = rest.pop(0)
    if isinstance(token, list):
        return ("AND", parse_keys(token))
    word = atom(token).upper()
    if word in ("ALL", "NEW", "OLD", "RECENT", "SEEN", "UNSEEN") or word in FLAG_KEYS:
        return (word,)
    if word in ONE_ARG:
        return (word, astring(_take(rest)))
    if word in DATE_KEYS:
        return (word, search_date(_take(rest)))
    if word in ("LARGER", "SMALLER", "MODSEQ"):
        return (word, number(_take(rest)))
    if word == "HEADER":
        return (word, astring(_take(rest)), astring(_take(rest)))
    if word == "NOT":
        return (word, _key(rest))
    if word == "OR":
        return (word, _key(rest), _key(rest))
    if word == "UID":
        return (word, sequence_set(_take(rest)))
    if (word[:1].isascii() and word[:1].isdigit()) or word[:1] == "*":
        return ("SEQ", sequence_set(Atom(word)))
    raise Bad(f"unknown search key {word[:40]}")


async def _text(c: Context, kind: str, value: str, m: MessageSummary) -> bool:
    if kind in ("FROM", "TO", "SUBJECT"):
        field_value = {"FROM": m.from_addr, "TO": m.to_addrs, "SUBJECT": m.subject}[kind]
        return value.lower() in field_value.lower()
    if not value.strip():
        return True
    key = (kind, value)
    if key not in c.text_hits:
        view = c.s.view
        query = SearchQuery(text=value)
        c.text_hits[key] = await c.s.services.messages.search_ids(
            c.s.login.ctx, view.folder.id, query
        )
    return m.id in c.text_hits[key]


async def _load_headers(c: Context, m: MessageSummary) -> None:
    """Headers of `m` and of the next messages in the view, HEADER_BATCH at a time through
    one read_many call each (evaluation walks the view in order)."""
    view = c.s.view
    start = view.seq_of(m.uid) - 1
    ahead = [view.messages[u].id for u in view.uids[start : start + HEADER_BATCH]]
    ids = [m.id, *(i for i in ahead if i not in c.raws and i != m.id)]
    got = await c.s.services.messages.read_many(c.s.login.ctx, view.folder.id, ids)
    c.raws.update(dict.fromkeys(ids, b""))  # expunged meanwhile: no header matches
    c.raws.update((found.id, structure.split_header(raw)[0]) for found, raw in got)


async def _header(c: Context, name: str, value: str, m: MessageSummary) -> bool:
    if m.id not in c.raws:
        await _load_headers(c, m)
    data = structure.section(c.raws[m.id], "HEADER.FIELDS", [name])
    found = data.decode("utf-8", "replace").lower()
    return value.lower() in found if value else bool(found.strip())


def _day(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def _date(word: str, day: datetime, m: MessageSummary) -> bool:
    when = _day(m.date if word.startswith("SENT") else m.internal_date)
    if when is None:
        return False
    base = word.removeprefix("SENT")
    if base == "BEFORE":
        return when < day
    if base == "ON":
        return day <= when < day + timedelta(days=1)
    return when >= day


async def matches(c: Context, node: Node, seq: int, m: MessageSummary) -> bool:
    word = str(node[0])
    if word == "AND":
        return all([await matches(c, n, seq, m) for n in node[1]])  # type: ignore[attr-defined]
    if word == "NOT":
        return not await matches(c, node[1], seq, m)  # type: ignore[arg-type]
    if word == "OR":
        return await matches(c, node[1], seq, m) or await matches(c, node[2], seq, m)  # type: ignore[arg-type]
    if word in ("BODY", "TEXT", "FROM", "TO", "SUBJECT"):
        return await _text(c, word, str(node[1]), m)
    if word in ("CC", "BCC"):
        return await _header(c, word, str(node[1]), m)
    if word == "HEADER":
        return await _header(c, str(node[1]), str(node[2]), m)
    return _simple(c, node, seq, m)


def _simple(c: Context, node: Node, seq: int, m: MessageSummary) -> bool:
    word = str(node[0])
    if word in FLAG_KEYS:
        flag, wanted = FLAG_KEYS[word]
        return (flag in m.flags) == wanted
    view = c.s.view
    checks: dict[str, Callable[[], object]] = {
        "ALL": lambda: True,
        "SEEN": lambda: m.seen,
        "UNSEEN": lambda: not m.seen,
        "NEW": lambda: False,
        "RECENT": lambda: False,
        "OLD": lambda: True,
        "KEYWORD": lambda: node[1] in m.keywords,
        "UNKEYWORD": lambda: node[1] not in m.keywords,
        "LARGER": lambda: m.size > node[1],  # type: ignore[operator]
        "SMALLER": lambda: m.size < node[1],  # type: ignore[operator]
        "MODSEQ": lambda: m.modseq >= node[1],  # type: ignore[operator]
        "UID": lambda: node[1].contains(m.uid, view.uids[-1]),  # type: ignore[attr-defined]
        "SEQ": lambda: node[1].contains(seq, view.exists),  # type: ignore[attr-defined]
    }
    if word in DATE_KEYS:
        return _date(word, node[1], m)  # type: ignore[arg-type]
    return bool(checks[word]())


def _charset(args: list[object]) -> list[object]:
    if args and isinstance(args[0], Atom) and args[0].upper() == "CHARSET":
        if len(args) < 2 or astring(args[1]).upper() not in ("UTF-8", "US-ASCII"):
            raise No("only UTF-8 and US-ASCII are supported", "BADCHARSET (UTF-8 US-ASCII)")
        return args[2:]
    return args


async def search(s: Session, cmd: Command) -> Outcome:
    by_uid = cmd.name == "UID SEARCH"
    nodes = parse_keys(_charset(list(cmd.args)))
    root: Node = ("AND", nodes)
    c = Context(s)
    found: list[tuple[int, MessageSummary]] = []
    for seq, uid in enumerate(list(s.view.uids), 1):
        m = s.view.messages[uid]
        if await matches(c, root, seq, m):
            found.append((seq, m))
    numbers = " ".join(str(m.uid if by_uid else seq) for seq, m in found)
    modseq = any(str(n[0]) == "MODSEQ" for n in nodes)
    suffix = f" (MODSEQ {max(m.modseq for _s, m in found)})" if modseq and found else ""
    await s.untagged(f"SEARCH{' ' if numbers else ''}{numbers}{suffix}")
    return ok(f"{cmd.name} completed")
