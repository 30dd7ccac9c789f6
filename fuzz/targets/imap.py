"""Fuzz target: IMAP command framing with literals, tokenising, argument helpers, mailbox names."""

from __future__ import annotations

from collections.abc import Callable

from fuzz.harness import Harness, tolerate
from securemail.wire.imap import parser
from securemail.wire.imap.parser import ParseError, literal_at_end, parse_command, tag_of
from securemail.wire.imap.responses import decode_utf7, encode_utf7

MAX_LITERALS = 8
_HELPERS: tuple[Callable[[object], object], ...] = (
    parser.astring,
    parser.atom,
    parser.number,
    parser.token_list,
    parser.sequence_set,
    parser.search_date,
    parser.date_time,
)


def frame(data: bytes) -> list[bytes]:
    """Cut `data` into command segments as the session's _frame does: a line announcing a
    literal, the literal's octets, ..., the last line without its line end."""
    segments: list[bytes] = []
    end = data.find(b"\n") + 1 or len(data)
    line, rest = data[:end], data[end:]
    while (announced := literal_at_end(line)) is not None and len(segments) < 2 * MAX_LITERALS:
        size = announced[0]
        segments += [line, rest[:size]]
        rest = rest[size:]
        end = rest.find(b"\n") + 1 or len(rest)
        line, rest = rest[:end], rest[end:]
    segments.append(line.rstrip(b"\n").rstrip(b"\r"))
    return segments


def _arguments(tokens: list[object], depth: int = 0) -> None:
    """Every argument helper on every token: a value or ParseError, nothing else."""
    for token in tokens:
        for helper in _HELPERS:
            tolerate((ParseError,), helper, token)
        if isinstance(token, list) and depth < parser.MAX_DEPTH:
            _arguments(token, depth + 1)
    sequence = tolerate((ParseError,), parser.sequence_set, tokens[0]) if tokens else None
    if sequence is not None:
        for low, high in sequence.resolve(7):
            assert 1 <= low <= high, sequence


def _mailbox_names(data: bytes) -> None:
    """Modified UTF-7 (RFC 3501 5.1.3): any text round-trips; bad input is a ValueError."""
    text = data.decode("utf-8", "replace")
    assert decode_utf7(encode_utf7(text)) == text
    tolerate((ValueError,), decode_utf7, text)


def check(data: bytes) -> None:
    segments = frame(data)
    tag = tag_of(segments[0])
    assert tag == "*" or (tag and " " not in tag), tag
    command = tolerate((ParseError,), parse_command, segments)
    if command is not None:
        assert command.tag and "+" not in command.tag, command
        _arguments(command.args)
    _mailbox_names(data)


HARNESS = Harness(
    name="imap",
    check=check,
    expected=(ParseError,),
    tokens=(
        b"a1 ",
        b"UID ",
        b"FETCH ",
        b"1:*",
        b"BODY[HEADER.FIELDS (FROM)]",
        b"{3}\r\n",
        b"{0+}\r\n",
        b"(",
        b")",
        b'"',
        b"\\",
        b"*",
        b",",
        b":",
        b"NIL",
        b"\r\n",
        b'"1-Jan-2024 10:00:00 +0000"',
        b"1-Feb-2020",
        b"&-",
        b"&AOk-",
        b"4294967296",
    ),
)
