"""The header fields authentication needs, read from raw bytes without the stdlib parser.

STACK.md gotcha 4: Python 3.11.7's `parseaddr` can be fooled by crafted addresses, so the
RFC 5322 From domain that DMARC protects is found by a small, strict tokenizer instead. When the
From field cannot be read without guessing, the answer is "no domain" with a reason, never a
guess.
"""

import re
from dataclasses import dataclass

from securemail.mailauth.lookup import host_name, normalise

MAX_HEADER_BYTES = 1024 * 1024  # a larger header block is not read for authentication
MAX_FROM_LENGTH = 16 * 1024
# A line end followed by another: the blank line ending the header block starts after it.
_BLANK_LINE = re.compile(rb"(?:\r\n|\r(?!\n)|\n)(?=[\r\n])")
# One field: a line, then its continuation lines (RFC 5322 section 2.2.3), line ends kept.
_FIELD = re.compile(rb"[^\r\n]*(?:\r\n|\r|\n|\Z)(?:[ \t][^\r\n]*(?:\r\n|\r|\n|\Z))*")


@dataclass(frozen=True)
class HeaderBlock:
    """Raw fields (continuation lines included, line ends kept); raw[end:] is all that follows
    them (the blank separator line and the body), so the fields and it rebuild the message."""

    fields: list[bytes]
    end: int
    complete: bool  # False when the block was larger than MAX_HEADER_BYTES


def split_header(raw: bytes, limit: int = MAX_HEADER_BYTES) -> HeaderBlock:
    """Split the header block (RFC 5322 section 2.2) into fields.

    A bare CR or LF ends a line too, as it does for the stdlib parser behind our webmail and
    many mail clients: a field hidden after a bare CR is seen here as the reader will see it.
    A block longer than `limit` is not split at all (complete=False).
    """
    if raw[:1] in (b"\r", b"\n"):
        return HeaderBlock([], 0, complete=True)  # no header fields at all
    blank = _BLANK_LINE.search(raw, 0, limit + 2)
    if blank is None and len(raw) > limit:
        return HeaderBlock([], 0, complete=False)
    end = len(raw) if blank is None else blank.end()
    fields = [f for f in _FIELD.findall(raw, 0, end) if f]
    return HeaderBlock(fields, end, complete=True)


def field_name(field: bytes) -> str:
    """The field name in lower case; "" for a line that is not a field (no colon)."""
    name, colon, _value = field.partition(b":")
    if not colon:
        return ""
    return name.strip().decode("ascii", "replace").lower()


def field_value(field: bytes) -> str:
    """The unfolded value as one line: CR and LF become spaces (RFC 5322 section 2.2.3)."""
    value = field.partition(b":")[2].decode("utf-8", "replace")
    return value.replace("\r", " ").replace("\n", " ").strip()


@dataclass(frozen=True)
class FromDomain:
    """The RFC 5322 From domain (RFC 7489 section 3.1), or "" and why it could not be found."""

    domain: str
    problem: str


def from_domain(block: HeaderBlock) -> FromDomain:
    """Exactly one From field whose addresses all share one domain (RFC 7489 section 6.6.1)."""
    if not block.complete:
        return FromDomain("", "header too large")
    values = [field_value(f) for f in block.fields if field_name(f) == "from"]
    if not values:
        return FromDomain("", "no From field")
    if len(values) > 1:
        return FromDomain("", "several From fields")
    domains = mailbox_domains(values[0])
    if not domains:
        return FromDomain("", "unreadable From field")
    if len(set(domains)) > 1:
        return FromDomain("", "From addresses in several domains")
    return FromDomain(domains[0], "")


def mailbox_domains(value: str) -> list[str]:
    """Domains of a mailbox-list (RFC 5322 section 3.4); [] if any part is unreadable."""
    if len(value) > MAX_FROM_LENGTH:
        return []
    mailboxes = _split_mailboxes(value)
    if mailboxes is None:
        return []
    domains: list[str] = []
    for outside, angles in mailboxes:
        if not outside.strip() and not angles:
            continue  # an empty list element (RFC 5322 section 4.4 obs-mbox-list)
        domain = _mailbox_domain(outside, angles)
        if not domain:
            return []
        domains.append(domain)
    return domains


def _mailbox_domain(outside: str, angles: list[str]) -> str:
    """The domain of one mailbox: `name-addr` (one angle-addr) or a bare `addr-spec`."""
    if len(angles) > 1:
        return ""
    # In an angle-addr, drop an obsolete route (section 4.4) before the address.
    addr = (angles[0].rsplit(":", 1)[-1] if angles else outside).strip()
    local, at, domain = addr.rpartition("@")
    if not at or not local or any(c.isspace() for c in addr):
        return ""
    domain = normalise(domain)
    return domain if host_name(domain) else ""


def _split_mailboxes(value: str) -> list[tuple[str, list[str]]] | None:
    """Split at top-level commas, keeping text outside comments and the angle-addr contents.

    Quoted strings (with backslash escapes) become a placeholder, comments are dropped (nested
    ones too); group syntax, unbalanced delimiters or "<" inside an angle-addr give None.
    """
    result: list[tuple[str, list[str]]] = []
    outside: list[str] = []
    angles: list[str] = []
    angle: list[str] | None = None
    depth = 0  # comment nesting
    quoted = escaped = False
    for char in value:
        if escaped:
            escaped = False
            continue
        if char == "\\" and (quoted or depth):
            escaped = True
        elif quoted:
            quoted = char != '"'
        elif depth:
            depth += {"(": 1, ")": -1}.get(char, 0)
        elif char == "(":
            depth = 1
        elif angle is not None:
            if char == ">":
                angles.append("".join(angle))
                angle = None
            elif char == "<":
                return None
            else:
                quoted = char == '"'
                angle.append("x" if quoted else char)  # a quoted local part: content irrelevant
        elif char == '"':
            quoted = True
            outside.append("x")  # a display name; its content is not needed
        elif char == "<":
            angle = []
        elif char in ">:;":
            return None
        elif char == ",":
            result.append(("".join(outside), angles))
            outside, angles = [], []
        else:
            outside.append(char)
    if quoted or escaped or depth or angle is not None:
        return None
    result.append(("".join(outside), angles))
    return result
