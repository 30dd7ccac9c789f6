"""ENVELOPE, BODYSTRUCTURE and body sections of a stored message (RFC 3501 7.4.2, 6.4.5).

    envelope  = "(" env-date SP env-subject SP env-from SP env-sender SP env-reply-to SP
                env-to SP env-cc SP env-bcc SP env-in-reply-to SP env-message-id ")"
    address   = "(" addr-name SP addr-adl SP addr-mailbox SP addr-host ")"
    section-spec = section-msgtext / (section-part ["." section-text])
    section-msgtext = "HEADER" / "HEADER.FIELDS" [".NOT"] SP header-list / "TEXT"

Every access to the stdlib parser is guarded: a hostile header degrades to NIL, never to an
exception that would cost the client its whole FETCH.
"""

from __future__ import annotations

import email
import email.policy
import email.utils
from email.errors import HeaderParseError
from email.message import Message

from securemail.wire.imap.responses import nstring, plist

MAX_DEPTH = 20
MAX_PARTS = 500
_COMPAT = email.policy.compat32
_CRLF = email.policy.compat32.clone(linesep="\r\n")


def parse(raw: bytes) -> Message:
    return email.message_from_bytes(raw, policy=_COMPAT)


def split_header(raw: bytes) -> tuple[bytes, bytes]:
    """(header block with its blank line, body)."""
    for sep in (b"\r\n\r\n", b"\n\n"):
        index = raw.find(sep)
        if index >= 0:
            return raw[: index + len(sep)], raw[index + len(sep) :]
    return raw, b""


def _flatten(msg: Message) -> bytes:
    """The part as CRLF bytes. The stdlib's writer raises on some hostile parts (a boundary or
    header decoding to non-ASCII text, RFC 2231; a header holding a character that
    str.splitlines breaks at, such as \\x1d; a charset name holding a NUL, which
    bytes.decode refuses with ValueError): then its raw header fields and raw body."""
    try:
        return msg.as_bytes(policy=_CRLF)
    except (UnicodeEncodeError, HeaderParseError, ValueError):
        fields = "".join(f"{name}: {value}\r\n" for name, value in msg.raw_items())
        return fields.encode("utf-8", "surrogateescape") + b"\r\n" + _payload_bytes(msg)


def _raw_header(msg: Message, name: str) -> str | None:
    try:
        value = msg.get(name)
    except Exception:  # hostile header: treat as absent
        return None
    if value is None:
        return None
    return " ".join(str(value).replace("\r", " ").replace("\n", " ").split())


def _addresses(msg: Message, name: str) -> bytes:
    value = _raw_header(msg, name)
    if not value:
        return b"NIL"
    try:
        pairs = email.utils.getaddresses([value])
    except Exception:
        return b"NIL"
    items = []
    for display, addr in pairs[:100]:
        local, _, host = addr.rpartition("@") if "@" in addr else (addr, "", "")
        parts = [nstring(display or None), b"NIL", nstring(local or None), nstring(host or None)]
        items.append(plist(parts))
    return plist(items) if items else b"NIL"


def envelope(msg: Message) -> bytes:
    """The ENVELOPE of a message (sender and reply-to default to from, RFC 3501 7.4.2)."""
    sender = "Sender" if _raw_header(msg, "Sender") else "From"
    reply_to = "Reply-To" if _raw_header(msg, "Reply-To") else "From"
    fields = [
        nstring(_raw_header(msg, "Date")),
        nstring(_raw_header(msg, "Subject")),
        _addresses(msg, "From"),
        _addresses(msg, sender),
        _addresses(msg, reply_to),
        _addresses(msg, "To"),
        _addresses(msg, "Cc"),
        _addresses(msg, "Bcc"),
        nstring(_raw_header(msg, "In-Reply-To")),
        nstring(_raw_header(msg, "Message-ID")),
    ]
    return plist(fields)


def _params(msg: Message, header: str) -> bytes:
    try:
        params = msg.get_params(header=header) or []
    except Exception:
        return b"NIL"
    pairs = [(k, v) for k, v in params[1:] if isinstance(v, str)]
    if not pairs:
        return b"NIL"
    return plist(b for k, v in pairs for b in (nstring(k.upper()), nstring(v)))


def _payload_bytes(msg: Message) -> bytes:
    """The body octets as received. Not get_payload(): it decodes 8-bit octets with the declared
    charset (U+FFFD for bad ones), so the sizes and BODY[n] octets would be wrong."""
    payload = vars(msg).get("_payload")  # compat32 keeps non-ASCII octets as surrogates
    if isinstance(payload, str):
        return payload.encode("utf-8", "surrogateescape")
    return b""


def _disposition(msg: Message) -> bytes:
    value = _raw_header(msg, "Content-Disposition")
    if not value:
        return b"NIL"
    kind = value.split(";", 1)[0].strip().upper() or "ATTACHMENT"
    return plist([nstring(kind), _params(msg, "content-disposition")])


def bodystructure(msg: Message, depth: int = 0, *, extended: bool = True) -> bytes:
    """body = "(" (body-type-1part / body-type-mpart) ")"; extension data for BODYSTRUCTURE,
    none for BODY (RFC 3501 7.4.2)."""
    nested = _content_type(msg) == ("message", "rfc822")
    parts = msg.get_payload() if msg.is_multipart() and not nested and depth < MAX_DEPTH else None
    listed = parts[:MAX_PARTS] if isinstance(parts, list) else []
    children = [p for p in listed if isinstance(p, Message)]
    if not children:
        return _single(msg, depth, extended)
    inner = b"".join(bodystructure(p, depth + 1, extended=extended) for p in children)
    out = inner + b" " + nstring(_content_type(msg)[1].upper())
    if extended:
        out += b" " + b" ".join([_params(msg, "content-type"), _disposition(msg), b"NIL", b"NIL"])
    return b"(" + out + b")"


def _content_type(msg: Message) -> tuple[str, str]:
    try:
        main, _, sub = msg.get_content_type().partition("/")
    except Exception:
        return "text", "plain"
    return (main, sub) if main and sub else ("text", "plain")


def _single(msg: Message, depth: int, extended: bool) -> bytes:
    """body-type-basic / body-type-msg / body-type-text."""
    main, sub = _content_type(msg)
    if msg.is_multipart():  # message/rfc822, or a multipart too deep to descend into
        body = split_header(_flatten(msg))[1]
        if main != "message":
            main, sub = "application", "octet-stream"
    else:
        body = _payload_bytes(msg)
    fields = [
        nstring(main.upper()),
        nstring(sub.upper()),
        _params(msg, "content-type"),
        nstring(_raw_header(msg, "Content-ID")),
        nstring(_raw_header(msg, "Content-Description")),
        nstring((_raw_header(msg, "Content-Transfer-Encoding") or "7BIT").upper()),
        str(len(body)).encode(),
    ]
    enclosed = (main, sub) == ("message", "rfc822") and depth < MAX_DEPTH
    if enclosed:
        inner = parse(body)
        fields += [envelope(inner), bodystructure(inner, depth + 1, extended=extended)]
    if main == "text" or enclosed:
        fields.append(str(body.count(b"\n")).encode())
    if extended:
        fields += [nstring(_raw_header(msg, "Content-MD5")), _disposition(msg), b"NIL", b"NIL"]
    return plist(fields)


def _part(msg: Message, path: list[int]) -> Message | None:
    """section-part = nz-number *("." nz-number): descend through multiparts."""
    for number in path:
        if msg.is_multipart():
            parts = msg.get_payload()
            assert isinstance(parts, list)
            chosen = parts[number - 1] if number <= len(parts) else None
            if not isinstance(chosen, Message):
                return None
            msg = chosen
        elif number == 1:
            continue
        else:
            return None
    return msg


def _fields(header: bytes, wanted: set[str], keep: bool) -> bytes:
    """header-fld-name filtering; folded lines stay with their field."""
    out, take = [], False
    for line in header.splitlines(keepends=True):
        if not line.strip():
            continue
        if line[:1] in (b" ", b"\t"):
            if take:
                out.append(line)
            continue
        name = line.split(b":", 1)[0].strip().decode("ascii", "replace").upper()
        take = (name in wanted) == keep
        if take:
            out.append(line)
    return b"".join(out) + b"\r\n"


def section(raw: bytes, spec: str, fields: list[str]) -> bytes:
    """The octets of BODY[spec] (spec upper-cased, without the field list)."""
    parts = spec.split(".") if spec else []
    path: list[int] = []
    while parts and (parts[0].isascii() and parts[0].isdigit()):
        path.append(int(parts.pop(0)))
    text = ".".join(parts)
    if path:
        msg = _part(parse(raw), path)
        if msg is None:
            return b""
        if text == "MIME":
            return split_header(_flatten(msg))[0]
        data = _payload_bytes(msg) if not msg.is_multipart() else split_header(_flatten(msg))[1]
        if not text:
            return data
        if msg.get_content_type() != "message/rfc822":
            return b""
        raw = data
    header, body = split_header(raw)
    if text == "":
        return raw
    if text == "HEADER":
        return header
    if text == "TEXT":
        return body
    if text in ("HEADER.FIELDS", "HEADER.FIELDS.NOT"):
        return _fields(header, {f.upper() for f in fields}, text == "HEADER.FIELDS")
    return b""
