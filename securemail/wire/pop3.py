"""POP3 codec (RFC 1939, RFC 2449, RFC 2595, RFC 5034): command parsing and response building.

RFC 1939 section 3 and RFC 2449 section 3 give the command syntax:

    command   = keyword *(SP param) CRLF      ; RFC 2449 4: 255 octets; [pop3] max_line_length
    keyword   = 3*4VCHAR
    param     = 1*VCHAR                       ; RFC 1939: up to 40 characters each
    response  = ("+OK" / "-ERR") [SP [resp-code SP] text] CRLF
    resp-code = "[" resp-level *("/" resp-level) "]"   ; RFC 2449 section 8

Multi-line responses end with a line holding one "."; lines that begin with "." get another
"." in front (byte-stuffing, RFC 1939 section 3).
"""

import re
from dataclasses import dataclass

MAX_KEYWORD = 4  # RFC 1939 3: keywords are three or four characters
MIN_KEYWORD = 3
MAX_MESSAGE_NUMBER_DIGITS = 10  # a message number longer than this cannot name a message
CRLF = b"\r\n"
IMPLEMENTATION = "securemail"  # RFC 2449 6.9: the server software, no version

# RFC 2449 section 8 and RFC 3206: the response codes this server sends.
AUTH = "AUTH"
SYS_TEMP = "SYS/TEMP"
SYS_PERM = "SYS/PERM"
IN_USE = "IN-USE"


class Pop3SyntaxError(ValueError):
    """The command line breaks the syntax of RFC 1939 section 3."""


@dataclass(frozen=True, slots=True)
class Command:
    verb: str  # upper case
    arg: str  # everything after the first space, as sent ("" when none)

    def params(self) -> list[str]:
        """The arguments split on single spaces (RFC 1939 3); [] when there are none."""
        return self.arg.split(" ") if self.arg else []


_CONTROL = re.compile(rb"[\x00-\x1f\x7f]")  # C0 controls and DEL (UTF-8 never uses these bytes)
_BARE_LINE_END = re.compile(rb"\r?\n")


def _text(line: bytes) -> str:
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise Pop3SyntaxError("command is not valid UTF-8") from None
    if _CONTROL.search(line) is not None:
        raise Pop3SyntaxError("control characters in command")
    return text


def parse_command(line: bytes) -> Command:
    """Parse one command line without its line end (RFC 1939 section 3).

    The argument stays one string so PASS may hold spaces (RFC 1939 section 7, PASS).
    """
    text = _text(line)
    keyword, _, arg = text.partition(" ")
    if not MIN_KEYWORD <= len(keyword) <= MAX_KEYWORD or not keyword.isascii():
        raise Pop3SyntaxError("unknown command")
    if not keyword.isalpha():
        raise Pop3SyntaxError("unknown command")
    return Command(keyword.upper(), arg)


def parse_number(param: str) -> int:
    """A positive decimal message number or line count (RFC 1939 section 5: `msg`)."""
    if not (param.isascii() and param.isdigit()) or len(param) > MAX_MESSAGE_NUMBER_DIGITS:
        raise Pop3SyntaxError(f"not a number: {param[:20]!r}")
    return int(param)


def ok(text: str = "") -> bytes:
    return b"+OK" + (b" " + _printable(text).encode("utf-8") if text else b"") + CRLF


def err(text: str, code: str | None = None) -> bytes:
    """A negative response, with an RFC 2449 response code when `code` is given."""
    prefix = f"[{code}] " if code else ""
    return f"-ERR {prefix}{_printable(text)}".encode() + CRLF


def _printable(text: str) -> str:
    """Reply text never carries a line end or other control character."""
    return "".join(c if c.isprintable() else " " for c in text)


def multiline(first: str, lines: list[str]) -> bytes:
    """A multi-line response of short text lines (CAPA, LIST, UIDL), dot-stuffed."""
    body = b"".join(_stuff(line.encode("utf-8")) + CRLF for line in lines)
    return ok(first) + body + b"." + CRLF


def _stuff(line: bytes) -> bytes:
    return b"." + line if line.startswith(b".") else line


def _lines(raw: bytes) -> list[bytes]:
    """The message's lines without their ends; CRLF, or a bare LF, ends a line."""
    lines = raw.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return [line[:-1] if line.endswith(b"\r") else line for line in lines]


def message_body(lines: list[bytes]) -> bytes:
    """Message lines as a multi-line response body: CRLF ends, dot-stuffed, "." at the end."""
    return b"".join(_stuff(line) + CRLF for line in lines) + b"." + CRLF


RETR_OK = b"+OK message follows" + CRLF
END = b"." + CRLF


def stuffed(raw: bytes) -> bytes:
    """The whole message as a multi-line response body, in a few passes over the bytes, not a
    loop over lines: every line end (CRLF, or a bare LF) becomes CRLF, the last line gets one
    if it has none, a "." starts every line that began with "." (RFC 1939 section 3), and
    the terminating "." line follows. The same octets as message_body(_lines(raw))."""
    if not raw:
        return END
    crlf = raw.count(CRLF)
    if crlf != raw.count(b"\n"):  # a bare LF somewhere: normalise the line ends
        raw = _BARE_LINE_END.sub(CRLF, raw)
    if raw.endswith(b"\r"):  # a last line without LF loses one CR, as every line does
        raw = raw[:-1] + CRLF
    elif not raw.endswith(b"\n"):
        raw += CRLF
    if b"\n." in raw:
        raw = raw.replace(b"\n.", b"\n..")
    if raw.startswith(b"."):
        return b"." + raw + END
    return raw + END


def retr_response(raw: bytes) -> bytes:
    """The RETR reply for a whole message (RFC 1939 section 7, RETR)."""
    return RETR_OK + stuffed(raw)


def top_response(raw: bytes, body_lines: int) -> bytes:
    """The TOP reply: the header, the blank line, then `body_lines` lines of the body
    (RFC 1939 section 7, TOP)."""
    lines = _lines(raw)
    try:
        header_end = lines.index(b"")
    except ValueError:
        header_end = len(lines)  # no body: all of it is header
    return ok("top of message follows") + message_body(lines[: header_end + 1 + body_lines])


def capabilities(*, stls: bool, user: bool, sasl: bool, implementation: str) -> list[str]:
    """The CAPA lines (RFC 2449 section 6) for the session's state."""
    caps = ["TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING"]
    if user:
        caps.append("USER")
    if sasl:
        caps.append("SASL PLAIN")
    if stls:
        caps.append("STLS")
    caps.append(f"IMPLEMENTATION {implementation}")
    return caps


def is_unique_id(uid: str) -> bool:
    """RFC 1939 section 7, UIDL: 1 to 70 characters from 0x21 to 0x7E."""
    return 1 <= len(uid) <= 70 and all(0x21 <= ord(c) <= 0x7E for c in uid)
