"""DATA framing (RFC 5321 section 4.1.1.4, 4.5.2): end marker, dot-unstuffing, size and line
limits, and the bare CR / bare LF detection that defeats SMTP smuggling.

The end of data is only ever `CRLF . CRLF`. A line that ends in a bare LF, or holds a bare CR,
marks the message as unacceptable (post-2023 guidance, as Postfix's smtpd_forbid_bare_newline):
the session refuses it after the real end of data, so a smuggled second message that a
non-conforming relay would have split off is swallowed inside the refused one.
"""

from dataclasses import dataclass, field


@dataclass
class DataReader:
    """Feed it lines as read from the wire (each with its line ending); it assembles the body."""

    max_bytes: int
    max_line: int
    size: int = 0
    too_big: bool = False
    line_too_long: bool = False
    bare_newline: bool = False
    done: bool = False
    _parts: list[bytes] = field(default_factory=list)

    def feed(self, line: bytes, overlong: bool = False) -> None:
        """One line including its terminator; `overlong` when the reader cut it short."""
        if overlong:
            self.line_too_long = True
            return
        if line == b".\r\n":
            self.done = True
            return
        if not line.endswith(b"\r\n") or b"\r" in line[:-2]:
            self.bare_newline = True
        if len(line) > self.max_line:
            self.line_too_long = True
        if line.startswith(b"."):  # transparency (4.5.2): remove the added dot
            line = line[1:]
        self.size += len(line)
        if self.size > self.max_bytes:
            self.too_big = True
            self._parts.clear()
        elif not self.too_big:
            self._parts.append(line)

    def message(self) -> bytes:
        return b"".join(self._parts)
