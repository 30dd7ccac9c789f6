"""Fuzz target: SMTP command lines, MAIL/RCPT paths and parameters, DATA framing, reply text."""

from __future__ import annotations

from fuzz.harness import Harness, tolerate
from securemail.wire.smtp.commands import SyntaxProblem, parse_command, parse_mail, parse_rcpt
from securemail.wire.smtp.data import DataReader
from securemail.wire.smtp.replies import Reply

MAX_LINES = 16
DATA_MAX_BYTES = 300
DATA_MAX_LINE = 80


def _command(line: bytes) -> None:
    """Any line parses or raises SyntaxProblem; a parsed path holds no delimiter."""
    command = tolerate((SyntaxProblem,), parse_command, line)
    if command is None:
        return
    assert command.verb.isascii() and command.verb.isupper()
    for parse in (parse_mail, parse_rcpt):
        path = tolerate((SyntaxProblem,), parse, command.arg)
        if path is None:
            continue
        assert not any(c in path.address for c in " <>\t\r\n\0"), path
        assert all(key == key.upper() and key for key in path.params), path


def _bare(data: bytes) -> bool:
    """True when `data` holds a CR or LF that is not part of a CRLF."""
    rest = data.replace(b"\r\n", b"")
    return b"\r" in rest or b"\n" in rest


def _data(data: bytes) -> None:
    """DATA framing: size cap honoured, and a message not flagged holds only CRLF line ends."""
    reader = DataReader(max_bytes=DATA_MAX_BYTES, max_line=DATA_MAX_LINE)
    for line in data.splitlines(keepends=True):
        reader.feed(line)
        if reader.done:
            break
    message = reader.message()
    assert len(message) <= DATA_MAX_BYTES
    assert not (reader.too_big and message)
    assert reader.bare_newline or not _bare(message), message


def _reply(data: bytes) -> None:
    """Reply text from anywhere is sent as ASCII lines, each ending in its own CRLF."""
    text = data.decode("utf-8", "replace")
    encoded = Reply(250, text, "2.0.0", lines=(text, text[:10])).encode()
    lines = encoded.split(b"\r\n")
    assert lines[-1] == b"" and len(lines) == 4, encoded
    assert all(line[:3] == b"250" and line[3:4] in b" -" for line in lines[:-1]), encoded
    assert not _bare(encoded)


def check(data: bytes) -> None:
    for line in data.split(b"\r\n")[:MAX_LINES]:
        _command(line)
    _data(data)
    _reply(data)


HARNESS = Harness(
    name="smtp",
    check=check,
    expected=(SyntaxProblem,),
    tokens=(
        b"MAIL FROM:",
        b"RCPT TO:",
        b"<",
        b">",
        b"@",
        b"SIZE=",
        b"BODY=8BITMIME",
        b"\r\n",
        b".\r\n",
        b"\r\n.\r\n",
        b"\n",
        b"\r",
        b"EHLO ",
        b"AUTH PLAIN ",
        b"<@a,@b:x@y>",
        b"=",
        b" ",
    ),
)
