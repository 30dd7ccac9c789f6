"""IMAP command parsing (RFC 3501 / RFC 9051 section 9): tokens, literals, sequence sets, dates.

    command         = tag SP (command-any / command-auth / command-nonauth /
                      command-select) CRLF
    tag             = 1*<any ASTRING-CHAR except "+">
    astring         = 1*ASTRING-CHAR / string
    string          = quoted / literal
    quoted          = DQUOTE *QUOTED-CHAR DQUOTE
    literal         = "{" number ["+"] "}" CRLF *CHAR8      ; "+" is LITERAL+ (RFC 7888)
    sequence-set    = (seq-number / seq-range) ["," sequence-set]
    seq-range       = seq-number ":" seq-number
    seq-number      = nz-number / "*"

A command arrives as segments: text, literal, text, literal, ..., text. The session frames them
(it owns the socket); this module only turns segments into tokens.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

MAX_TOKENS = 10_000  # tokens in one command
MAX_DEPTH = 20  # nesting of parenthesised lists
LITERAL_TAIL = re.compile(rb"\{(\d{1,10})(\+?)\}\r?\n\Z")
_ATOM_STOP = frozenset(b' ()"{\r\n')
_QUOTED_SPECIALS = b'"\\'


class ParseError(ValueError):
    """The command is malformed: the session answers BAD."""


class Atom(str):
    """An unquoted atom (distinguished from a quoted string: NIL, flags, keywords)."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Command:
    tag: str
    name: str
    args: list[object]


def literal_at_end(line: bytes) -> tuple[int, bool] | None:
    """(size, non_synchronising) when the line ends with a literal announcement."""
    match = LITERAL_TAIL.search(line)
    if match is None:
        return None
    return int(match.group(1)), match.group(2) == b"+"


class _Reader:
    def __init__(self, segments: list[bytes]) -> None:
        self.segments = segments
        self.index = 0
        self.pos = 0
        self.count = 0

    @property
    def text(self) -> bytes:
        return self.segments[self.index]

    def peek(self) -> int | None:
        return self.text[self.pos] if self.pos < len(self.text) else None

    def at_end(self) -> bool:
        return self.index >= len(self.segments) - 1 and self.pos >= len(self.text)


def tokenize(segments: list[bytes]) -> list[object]:
    """All tokens of a framed command (tag and command name included)."""
    reader = _Reader(segments)
    tokens = _tokens(reader, 0)
    if not reader.at_end():
        raise ParseError("unbalanced parenthesis")
    return tokens


def _tokens(r: _Reader, depth: int) -> list[object]:
    if depth > MAX_DEPTH:
        raise ParseError("lists nested too deeply")
    out: list[object] = []
    while True:
        char = r.peek()
        if char is None:
            if r.index >= len(r.segments) - 1:
                if depth:
                    raise ParseError("unclosed parenthesis")
                return out
            raise ParseError("literal not announced")
        r.count += 1
        if r.count > MAX_TOKENS:
            raise ParseError("too many tokens")
        if char == 0x20:
            r.pos += 1
        elif char == ord("("):
            r.pos += 1
            out.append(_tokens(r, depth + 1))
        elif char == ord(")"):
            if not depth:
                raise ParseError("unexpected )")
            r.pos += 1
            return out
        elif char == ord('"'):
            out.append(_quoted(r))
        elif char == ord("{"):
            out.append(_literal(r))
        elif char in (0x0D, 0x0A):
            raise ParseError("line breaks belong at the end of a command")
        else:
            out.append(_atom(r))


def _quoted(r: _Reader) -> str:
    """quoted = DQUOTE *QUOTED-CHAR DQUOTE; QUOTED-CHAR excludes CR, LF; `\\` escapes `"` `\\`."""
    text, i = r.text, r.pos + 1
    out = bytearray()
    while i < len(text):
        c = text[i]
        if c == ord('"'):
            r.pos = i + 1
            return _utf8(bytes(out))
        if c == ord("\\"):
            if i + 1 >= len(text) or text[i + 1] not in _QUOTED_SPECIALS:
                raise ParseError("bad escape in quoted string")
            out.append(text[i + 1])
            i += 2
            continue
        if c in (0x0D, 0x0A, 0):
            raise ParseError("line break inside a quoted string")
        out.append(c)
        i += 1
    raise ParseError("unterminated quoted string")


def _literal(r: _Reader) -> bytes:
    """literal = "{" number ["+"] "}" CRLF *CHAR8 (the session has read the octets)."""
    match = LITERAL_TAIL.match(r.text, r.pos)
    if match is None or r.index + 2 > len(r.segments) - 1:
        raise ParseError("bad literal")
    data = r.segments[r.index + 1]
    r.index += 2
    r.pos = 0
    return data


def _atom(r: _Reader) -> Atom:
    """ATOM-CHAR run; a `[...]` section (FETCH BODY[...], response codes) may hold spaces."""
    text, start, i = r.text, r.pos, r.pos
    while i < len(text) and text[i] not in _ATOM_STOP:
        if text[i] == ord("["):
            end = text.find(b"]", i)
            if end < 0:
                raise ParseError("unclosed [")
            i = end + 1
            continue
        if text[i] < 0x20 or text[i] == 0x7F:
            raise ParseError("control character in atom")
        i += 1
    r.pos = i
    return Atom(_utf8(text[start:i]))


def _utf8(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ParseError("text is not UTF-8") from None


def parse_command(segments: list[bytes]) -> Command:
    """tag SP command-name [SP arguments]; the command name upper-cased (UID FETCH joined)."""
    tokens = tokenize(segments)
    if not tokens or not isinstance(tokens[0], Atom) or not tokens[0] or "+" in tokens[0]:
        raise ParseError("missing or bad tag")
    tag = str(tokens[0])
    if len(tokens) < 2 or not isinstance(tokens[1], Atom):
        raise ParseError("missing command name")
    name, args = str(tokens[1]).upper(), tokens[2:]
    if name == "UID" and args and isinstance(args[0], Atom):
        name, args = "UID " + str(args[0]).upper(), args[1:]
    return Command(tag, name, args)


def tag_of(line: bytes) -> str:
    """Best-effort tag of a line that failed to parse (for the BAD reply), else `*`."""
    word = line.split(b" ", 1)[0].strip()
    ok = word and all(0x21 <= c < 0x7F and c not in b'(){%*"\\]+' for c in word)
    return word.decode("ascii") if ok and len(word) <= 64 else "*"


# --- argument helpers -----------------------------------------------------------------


def astring(token: object) -> str:
    """astring / string argument as text."""
    if isinstance(token, bytes):
        return _utf8(token)
    if isinstance(token, str):
        return str(token)
    raise ParseError("expected a string")


def atom(token: object) -> str:
    if not isinstance(token, Atom):
        raise ParseError("expected an atom")
    return str(token)


def number(token: object, *, nonzero: bool = False) -> int:
    """number = 1*DIGIT (at most 63 bits, RFC 9051 mod-sequence-value)."""
    if not isinstance(token, Atom) or not _digits(token) or len(token) > 19:
        raise ParseError("expected a number")
    value = int(token)
    if value >= 2**63 or (nonzero and value == 0):
        raise ParseError("number out of range")
    return value


def _digits(text: str) -> bool:
    """1*DIGIT (RFC 5234 DIGIT is %x30-39): str.isdigit alone also takes "²" or "٣"."""
    return text.isascii() and text.isdigit()


def token_list(token: object) -> list[object]:
    if not isinstance(token, list):
        raise ParseError("expected a parenthesised list")
    return token


@dataclass(frozen=True, slots=True)
class SequenceSet:
    """sequence-set with `*` resolved at use; ranges kept as (low, high), `*` as 0."""

    ranges: tuple[tuple[int, int], ...]
    saved: bool = False  # "$" (RFC 5182): not supported, always refused by the parser

    def resolve(self, largest: int) -> list[tuple[int, int]]:
        out = []
        for low, high in self.ranges:
            a, b = (low or largest), (high or largest)
            out.append((min(a, b), max(a, b)))
        return out

    def contains(self, value: int, largest: int) -> bool:
        return any(a <= value <= b for a, b in self.resolve(largest))


MAX_SEQUENCE_PARTS = 1000


def sequence_set(token: object) -> SequenceSet:
    """sequence-set (RFC 3501 section 9); `*` is stored as 0."""
    text = atom(token)
    parts = text.split(",")
    if len(parts) > MAX_SEQUENCE_PARTS:
        raise ParseError("sequence set too long")
    ranges = []
    for part in parts:
        low, _, high = part.partition(":")
        ranges.append((_seq_number(low), _seq_number(high) if high else _seq_number(low)))
    return SequenceSet(tuple(ranges))


def _seq_number(text: str) -> int:
    if text == "*":
        return 0
    if not _digits(text) or text.startswith("0") or len(text) > 10:
        raise ParseError(f"bad sequence number {text!r}")
    value = int(text)
    if value > 0xFFFFFFFF:
        raise ParseError("sequence number out of range")
    return value


_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def search_date(token: object) -> datetime:
    """date = date-text / DQUOTE date-text DQUOTE; date-text = date-day "-" date-month "-"
    date-year (RFC 3501 section 9)."""
    text = astring(token)
    try:
        day, month, year = text.split("-")
        return datetime(int(year), _MONTHS.index(month.capitalize()) + 1, int(day), tzinfo=UTC)
    except (ValueError, OverflowError):  # a year past the C int range overflows
        raise ParseError(f"bad date {text!r}") from None


def date_time(token: object) -> datetime:
    """date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone DQUOTE."""
    text = astring(token).strip()
    try:
        return datetime.strptime(text, "%d-%b-%Y %H:%M:%S %z").astimezone(UTC)
    except ValueError:
        raise ParseError(f"bad date-time {text!r}") from None
