"""Parse SMTP command lines (RFC 5321 section 4.1) and their ESMTP parameters.

command    = verb [SP arguments] CRLF                 ; RFC 5321 4.1.1
Mail       = "MAIL FROM:" Reverse-path [SP Mail-parameters]   ; 4.1.1.2
Rcpt       = "RCPT TO:" ( "<Postmaster@" Domain ">" / "<Postmaster>" / Forward-path )
             [SP Rcpt-parameters]                     ; 4.1.1.3
Path       = "<" [ A-d-l ":" ] Mailbox ">"            ; 4.1.2, source route ignored
esmtp-param = esmtp-keyword ["=" esmtp-value]        ; 4.1.2
"""

import re
from dataclasses import dataclass, field

MAX_COMMAND_LINE = 4096  # 512 (RFC 5321 4.5.3.1.4) plus room for parameters and AUTH
MAX_PARAMS = 10

_KEYWORD = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*$")
_VALUE = re.compile(r"^[\x21-\x3c\x3e-\x7e]+$")  # esmtp-value: %d33-60 / %d62-126


class SyntaxProblem(ValueError):
    """The command is malformed; str() is the reply text."""


@dataclass(frozen=True, slots=True)
class Command:
    verb: str  # upper case
    arg: str  # everything after the first space, unstripped of inner spaces


@dataclass(frozen=True, slots=True)
class PathCommand:
    """MAIL FROM or RCPT TO: the address (empty for the null reverse-path) and parameters."""

    address: str
    params: dict[str, str] = field(default_factory=dict)


def parse_command(line: bytes) -> Command:
    """Split a command line (CRLF already removed) into verb and argument."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise SyntaxProblem("command is not valid UTF-8") from None
    verb, _, arg = text.partition(" ")
    if not verb.isascii() or not verb.isalpha() or len(verb) > 12:
        raise SyntaxProblem("syntax error, command unrecognised")
    return Command(verb.upper(), arg.strip(" "))


def _params(text: str) -> dict[str, str]:
    params: dict[str, str] = {}
    words = text.split()
    if len(words) > MAX_PARAMS:
        raise SyntaxProblem("too many parameters")
    for word in words:
        key, eq, value = word.partition("=")
        if not _KEYWORD.match(key) or (eq and not _VALUE.match(value)):
            raise SyntaxProblem(f"bad parameter {word[:40]!r}")
        params[key.upper()] = value
    return params


def _path(text: str, allow_null: bool) -> tuple[str, str]:
    """Take `<path>` off the front of text; return (mailbox, rest)."""
    if not text.startswith("<"):
        raise SyntaxProblem("address must be enclosed in <>")
    end = text.find(">")
    if end < 0:
        raise SyntaxProblem("address must be enclosed in <>")
    inner, rest = text[1:end], text[end + 1 :]
    if rest and not rest.startswith(" "):
        raise SyntaxProblem("expected a space after the address")
    if inner.startswith("@"):  # A-d-l source route (RFC 5321 4.1.2, C): ignore it
        _, colon, inner = inner.partition(":")
        if not colon:
            raise SyntaxProblem("bad source route")
    if not inner:
        if not allow_null:
            raise SyntaxProblem("empty address")
        return "", rest
    if any(c in inner for c in " <>\t") or any(ord(c) < 32 for c in inner):
        raise SyntaxProblem("bad character in address")
    if "@" not in inner and inner.lower() != "postmaster":
        raise SyntaxProblem("address needs a domain")
    return inner, rest


def parse_mail(arg: str) -> PathCommand:
    """MAIL argument: `FROM:<reverse-path> [params]` (RFC 5321 4.1.1.2)."""
    if arg[:5].upper() != "FROM:":
        raise SyntaxProblem("syntax: MAIL FROM:<address>")
    address, rest = _path(arg[5:].lstrip(" "), allow_null=True)
    return PathCommand(address, _params(rest))


def parse_rcpt(arg: str) -> PathCommand:
    """RCPT argument: `TO:<forward-path> [params]` (RFC 5321 4.1.1.3)."""
    if arg[:3].upper() != "TO:":
        raise SyntaxProblem("syntax: RCPT TO:<address>")
    address, rest = _path(arg[3:].lstrip(" "), allow_null=False)
    return PathCommand(address, _params(rest))
