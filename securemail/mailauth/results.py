"""The Authentication-Results header field (RFC 8601): built, folded, and stamped on a message.

Only checked values reach it, one result per folded line; fields of a message that claim our
authserv-id are forgeries and are removed before ours goes on top (RFC 8601 section 5).
"""

import re
from dataclasses import dataclass

from securemail.mailauth.lookup import host_name
from securemail.mailauth.message import field_name, field_value, split_header

FIELD = "Authentication-Results"
RESULTS = frozenset({"pass", "fail", "softfail", "neutral", "none", "temperror", "permerror"})
_AUTHSERV_ID = re.compile(r"^[A-Za-z0-9._-]{1,253}$")  # RFC 8601 section 2.2 value, as a token
_COMMENT_UNSAFE = re.compile(r"[^A-Za-z0-9 =.,:/_-]")


@dataclass(frozen=True)
class ResInfo:
    """One method's result (RFC 8601 section 2.2 resinfo) with an optional comment."""

    method: str  # spf, dkim, dmarc
    result: str
    comment: str = ""
    properties: tuple[tuple[str, str], ...] = ()  # (ptype.property, domain)


def require_authserv_id(authserv_id: str) -> str:
    """The configured host name as the authserv-id; ValueError for anything else."""
    if not _AUTHSERV_ID.match(authserv_id):
        raise ValueError(f"authserv-id must be a host name, got {authserv_id!r}")
    return authserv_id


def format_field(authserv_id: str, results: list[ResInfo]) -> str:
    """`Authentication-Results: id;` then each resinfo on a folded line (section 2.2).

    Only our own words reach the field: result keywords from RESULTS, comments stripped to a
    safe alphabet, property values that are plain host names (others are left out).
    """
    lines = [f"{FIELD}: {require_authserv_id(authserv_id)}"]
    lines.extend(_resinfo(info) for info in results)
    return ";\r\n\t".join(lines)


def _resinfo(info: ResInfo) -> str:
    result = info.result if info.result in RESULTS else "temperror"
    words = [f"{info.method}={result}"]
    comment = _COMMENT_UNSAFE.sub("", info.comment).strip()
    if comment:
        words.append(f"({comment})")
    for name, value in info.properties:
        if host_name(value):
            words.append(f"{name}={value.lower()}")
    return " ".join(words)


def authserv_id_of(value: str) -> str:
    """The authserv-id an existing field claims: its first word, comments and quotes dropped."""
    depth = 0
    kept: list[str] = []
    for char in value:
        if char == "(":
            depth += 1
        elif char == ")" and depth:
            depth -= 1
        elif not depth:
            kept.append(char)
    first = "".join(kept).split(";", 1)[0].split()
    return first[0].strip('"').rstrip(".").lower() if first else ""


def stamp(raw: bytes, field: str, authserv_id: str) -> bytes:
    """Drop fields claiming our authserv-id (RFC 8601 section 5), then put `field` on top."""
    block = split_header(raw, limit=len(raw) + 1)
    ours = authserv_id.lower()
    kept = [
        f
        for f in block.fields
        if field_name(f) != FIELD.lower() or authserv_id_of(field_value(f)) != ours
    ]
    first = raw.find(b"\n")
    newline = b"\n" if first >= 0 and raw[first - 1 : first] != b"\r" else b"\r\n"
    top = field.encode("ascii").replace(b"\r\n", newline) + newline
    return top + b"".join(kept) + raw[block.end :]
