"""IMAP response building (RFC 3501 section 7, RFC 9051 section 7): strings, lists, names.

nstring         = string / nil
string          = quoted / literal
mailbox         = "INBOX" / astring      ; modified UTF-7 unless UTF8=ACCEPT (RFC 6855)
"""

import base64
from collections.abc import Iterable

MAX_QUOTED = 200  # longer strings go as literals


def quoted_or_literal(value: str | bytes, *, utf8: bool = False) -> bytes:
    """A string: quoted when short and plain ASCII (or UTF-8 after ENABLE UTF8=ACCEPT, RFC
    6855), otherwise a literal."""
    data = value.encode("utf-8") if isinstance(value, str) else value
    plain = all(0x20 <= c < 0x7F or (utf8 and c >= 0x80) for c in data)
    if plain and len(data) <= MAX_QUOTED:
        return b'"' + data.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
    return b"{%d}\r\n" % len(data) + data


ATOM_SPECIALS = frozenset('(){ %*"\\]')


def astring(value: str) -> bytes:
    """astring = 1*ASTRING-CHAR / string: a bare atom when it can be one."""
    plain = value and all(0x20 < ord(c) < 0x7F and c not in ATOM_SPECIALS for c in value)
    return value.encode("ascii") if plain else quoted_or_literal(value)


def nstring(value: str | bytes | None) -> bytes:
    if value is None:
        return b"NIL"
    return quoted_or_literal(value)


def plist(items: Iterable[bytes]) -> bytes:
    return b"(" + b" ".join(items) + b")"


def atom_list(items: Iterable[str]) -> bytes:
    return plist(i.encode("ascii") for i in items)


def tagged(tag: str, status: str, text: str, code: str = "") -> bytes:
    """resp-cond-state with an optional [resp-text-code]."""
    prefix = f"[{code}] " if code else ""
    return f"{tag} {status} {prefix}{_line(text)}\r\n".encode()


def untagged(text: str) -> bytes:
    return f"* {text}\r\n".encode()


def _line(text: str) -> str:
    clean = text.replace("\r", " ").replace("\n", " ")
    return clean[:500] or "done"


# --- modified UTF-7 (RFC 3501 section 5.1.3) -------------------------------------------


def encode_utf7(name: str) -> str:
    """Mailbox name to modified UTF-7: printable ASCII stays, `&` is `&-`, the rest `&...-`."""
    out: list[str] = []
    run: list[str] = []
    for char in name:
        if 0x20 <= ord(char) < 0x7F:
            if run:
                out.append(_b64("".join(run)))
                run = []
            out.append("&-" if char == "&" else char)
        else:
            run.append(char)
    if run:
        out.append(_b64("".join(run)))
    return "".join(out)


def _b64(text: str) -> str:
    data = base64.b64encode(text.encode("utf-16-be")).decode("ascii").rstrip("=")
    return "&" + data.replace("/", ",") + "-"


def decode_utf7(name: str) -> str:
    """Modified UTF-7 back to text; raises ValueError when malformed."""
    out, i = [], 0
    while i < len(name):
        if name[i] != "&":
            out.append(name[i])
            i += 1
            continue
        end = name.index("-", i)
        chunk = name[i + 1 : end]
        if not chunk:
            out.append("&")
        else:
            padded = chunk.replace(",", "/") + "=" * (-len(chunk) % 4)
            out.append(base64.b64decode(padded, validate=True).decode("utf-16-be"))
        i = end + 1
    return "".join(out)
