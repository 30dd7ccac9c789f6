"""SMTP replies (RFC 5321 section 4.2) with enhanced status codes (RFC 3463, RFC 2034)."""

from dataclasses import dataclass

MAX_REPLY_TEXT = 400


@dataclass(frozen=True, slots=True)
class Reply:
    code: int
    text: str
    enhanced: str = ""  # "2.1.0"; empty for replies that carry none (greeting, EHLO)
    lines: tuple[str, ...] = ()  # extra lines of a multi-line reply (EHLO keywords)

    def encode(self) -> bytes:
        """`code SP [enhanced SP] text CRLF`, or `code-...` continuation lines (4.2.1)."""
        first = f"{self.enhanced} {self.text}" if self.enhanced else self.text
        texts = [first, *self.lines]
        out = []
        for i, text in enumerate(texts):
            clean = "".join(c if 32 <= ord(c) < 127 else "?" for c in text)[:MAX_REPLY_TEXT]
            sep = " " if i == len(texts) - 1 else "-"
            out.append(f"{self.code}{sep}{clean}\r\n")
        return "".join(out).encode("ascii")

    @property
    def is_error(self) -> bool:
        return self.code >= 400


def reply(code: int, enhanced: str, text: str) -> Reply:
    return Reply(code, text, enhanced)


OK = reply(250, "2.0.0", "OK")
SYNTAX = reply(500, "5.5.2", "syntax error, command unrecognised")
BAD_SEQUENCE = reply(503, "5.5.1", "bad sequence of commands")
NOT_IMPLEMENTED = reply(502, "5.5.1", "command not implemented")
LINE_TOO_LONG = reply(500, "5.5.2", "line too long")
BARE_NEWLINE = reply(500, "5.5.2", "bare CR or LF not allowed: lines end in CRLF")
BYE = reply(221, "2.0.0", "bye")
TOO_MANY_ERRORS = reply(421, "4.7.0", "too many errors, closing connection")
TOO_MANY_COMMANDS = reply(421, "4.7.0", "too many commands without mail, closing connection")
TIMEOUT = reply(421, "4.4.2", "idle timeout, closing connection")
TOO_MANY_CONNECTIONS = reply(421, "4.7.0", "too many connections from your address")
AUTH_REQUIRED = reply(530, "5.7.0", "authentication required")
TLS_REQUIRED = reply(530, "5.7.0", "must issue a STARTTLS command first")
SHUTTING_DOWN = reply(421, "4.3.2", "service shutting down, try again later")
