"""Fuzz target: POP3 command lines and numbers, and the byte-stuffed RETR/TOP responses."""

from __future__ import annotations

from fuzz.harness import Harness, tolerate
from securemail.wire import pop3
from securemail.wire.pop3 import Pop3SyntaxError, parse_command, parse_number

MAX_LINES = 16


def _command(line: bytes) -> None:
    """Any line parses or raises Pop3SyntaxError; numbers are what their digits say."""
    command = tolerate((Pop3SyntaxError,), parse_command, line)
    if command is None:
        return
    assert 3 <= len(command.verb) <= 4 and command.verb.isupper(), command
    for param in command.params():
        value = tolerate((Pop3SyntaxError,), parse_number, param)
        assert value is None or str(value) == param.lstrip("0").rjust(1, "0"), (param, value)


def _responses(data: bytes) -> None:
    """stuffed() is documented to give the octets of message_body(_lines(raw))."""
    body = pop3.stuffed(data)
    assert body == pop3.message_body(pop3._lines(data)), data
    assert body.endswith(b".\r\n")
    top = pop3.top_response(data, len(data) % 5)
    assert top.startswith(b"+OK ") and top.endswith(b"\r\n.\r\n")
    text = data.decode("utf-8", "replace")
    for line in (pop3.ok(text), pop3.err(text, "SYS/TEMP")):
        assert line.endswith(b"\r\n") and b"\n" not in line[:-2] and b"\r" not in line[:-2]


def check(data: bytes) -> None:
    for line in data.split(b"\r\n")[:MAX_LINES]:
        _command(line)
    _responses(data)


HARNESS = Harness(
    name="pop3",
    check=check,
    expected=(Pop3SyntaxError,),
    tokens=(
        b"USER ",
        b"PASS ",
        b"RETR ",
        b"TOP ",
        b"LIST ",
        b"UIDL",
        b"AUTH PLAIN",
        b"\r\n",
        b"\n.",
        b".\r\n",
        b"\r",
        b"\n",
        b" ",
        b"0",
        b"4294967296",
    ),
)
