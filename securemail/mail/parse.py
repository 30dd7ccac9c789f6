"""Extract the indexed fields of an RFC 5322 message (RFC 5322 section 3.6, RFC 2045-2047).

Every access to the stdlib parser is wrapped: malformed headers, unknown charsets and
boundary-less multiparts degrade to empty fields, never to an exception. Parts and depth are
capped so a hostile message cannot make indexing slow.
"""

import email
import email.policy
import email.utils
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage, Message
from email.parser import BytesHeaderParser

MAX_PARTS = 200
MAX_DEPTH = 10
MAX_HEADER_FIELD = 2000
MAX_INDEXED_TEXT = 256 * 1024


@dataclass(frozen=True, slots=True)
class ParsedFields:
    from_addr: str
    to_addrs: str
    cc_addrs: str
    subject: str
    date: datetime | None
    message_id: str
    in_reply_to: str
    references: str
    has_attachments: bool
    text: str


def _clean(value: object) -> str:
    """A header value as one safe line: no CR, LF or NUL, bounded length."""
    text = str(value) if value is not None else ""
    # Raw header text may carry undecodable bytes as surrogates: make them visible U+FFFD.
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    text = text.replace("\r", " ").replace("\n", " ").replace("\0", "")
    return " ".join(text.split())[:MAX_HEADER_FIELD]


def _header(msg: Message, name: str) -> str:
    try:
        return _clean(msg.get(name, ""))
    except Exception:  # the stdlib raises many kinds on hostile headers: use the raw text
        for key, value in msg.raw_items():
            if key.lower() == name.lower():
                return _clean(value)
        return ""


def _date(msg: Message) -> datetime | None:
    """The Date: field (RFC 5322 section 3.3) in UTC, or None if absent or unparsable."""
    raw = _header(msg, "Date")
    if not raw:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _walk(msg: Message) -> list[tuple[Message, int]]:
    """Depth-first parts with their depth, capped at MAX_PARTS and MAX_DEPTH."""
    out: list[tuple[Message, int]] = []
    stack: list[tuple[Message, int]] = [(msg, 0)]
    while stack and len(out) < MAX_PARTS:
        part, depth = stack.pop()
        out.append((part, depth))
        payload = part.get_payload() if part.is_multipart() else None
        if isinstance(payload, list) and depth < MAX_DEPTH:
            stack.extend((p, depth + 1) for p in reversed(payload) if isinstance(p, Message))
    return out


def _is_attachment(part: Message) -> bool:
    try:
        disposition = (part.get_content_disposition() or "").lower()
    except Exception:
        return False
    return disposition == "attachment" or (
        disposition == "inline" and bool(part.get_filename(None))
    )


def _part_text(part: Message) -> str:
    """A text part's content; never a string the store cannot hold (a declared charset such as
    `unicode_escape` can decode to lone surrogates: they become U+FFFD)."""
    try:
        if isinstance(part, EmailMessage):
            content = part.get_content()
            text = content if isinstance(content, str) else ""
        else:
            payload = part.get_payload(decode=True)
            text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    except Exception:  # unknown charset, bad transfer encoding
        payload = part.get_payload(decode=True)
        text = payload.decode("latin-1") if isinstance(payload, bytes) else ""
    return text.encode("utf-8", "replace").decode("utf-8").replace("\x00", "")


def _message(raw: bytes, policy: email.policy.Policy) -> Message:
    try:
        return email.message_from_bytes(raw, policy=policy)
    except RecursionError:  # absurd MIME nesting: index the header fields only
        return BytesHeaderParser(policy=policy).parsebytes(raw)


def parse_fields(raw: bytes) -> ParsedFields:
    """Parse `raw` once, at delivery, into the fields lists and search need. The modern
    policy's header parsers raise on some hostile fields (IndexError on `Content-Type:
    multipart/;x; a*`, found by fuzzing), even while parsing: then the legacy policy, which
    keeps fields as text, reads the message instead. Delivery must never fail here."""
    try:
        return _fields(_message(raw, email.policy.default))
    except Exception:
        return _fields(_message(raw, email.policy.compat32))


def _fields(msg: Message) -> ParsedFields:
    texts: list[str] = []
    size = 0
    has_attachments = False
    for part, _depth in _walk(msg):
        if part.is_multipart():
            continue
        if _is_attachment(part):
            has_attachments = True
            continue
        if part.get_content_maintype() == "text" and size < MAX_INDEXED_TEXT:
            text = _part_text(part)[: MAX_INDEXED_TEXT - size]
            texts.append(text)
            size += len(text)
    return ParsedFields(
        from_addr=_header(msg, "From"),
        to_addrs=_header(msg, "To"),
        cc_addrs=_header(msg, "Cc"),
        subject=_header(msg, "Subject"),
        date=_date(msg),
        message_id=_header(msg, "Message-ID"),
        in_reply_to=_header(msg, "In-Reply-To"),
        references=_header(msg, "References"),
        has_attachments=has_attachments,
        text="\n".join(texts).replace("\0", ""),
    )
