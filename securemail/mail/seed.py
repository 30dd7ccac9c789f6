"""Seed a reply or a forward from a received message: recipients, subject, thread ids and
quoted text (RFC 5322 sections 3.6.3 and 3.6.4, RFC 2045, 2046, 2183).

Everything taken from the received message is cleaned to one line and re-validated (STACK.md
gotcha 4), so a seed always goes through compose.build_message.
"""

import email
import email.policy
import re
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from email.message import EmailMessage, Message
from email.parser import BytesHeaderParser
from html.parser import HTMLParser

from securemail.core.addresses import parse_address
from securemail.core.errors import InvalidInput
from securemail.mail import parse
from securemail.mail.compose import (
    CONTROL_CHARS,
    MAX_ATTACHMENTS,
    MAX_FILENAME,
    MAX_SUBJECT,
    Upload,
)
from securemail.mail.threads import MAX_REFERENCES, message_id_tokens, own_message_id

_REPLY_PREFIX = re.compile(r"(?:re|aw|sv|antw)(?:\[\d{1,5}\])?\s*:\s*", re.IGNORECASE)
_ENCODED_WORD = re.compile(r"=\?[^?\s]{1,75}\?[bBqQ]\?[^?\s]{0,998}\?=")  # RFC 2047 section 2
_HTML_SPACE = re.compile(r"[ \t\r\n\f]+")  # HTML's ASCII whitespace; &nbsp; stays
_FORWARD_PREFIX = re.compile(r"(?:fwd?|wg|tr)\s*:\s*", re.IGNORECASE)
MAX_QUOTED_TEXT = 256 * 1024  # characters of the original quoted in a reply or forward


@dataclass(frozen=True, slots=True)
class ReplySeed:
    to: tuple[str, ...]
    cc: tuple[str, ...]
    subject: str
    in_reply_to: str
    references: str
    body: str


# --- reading the original -------------------------------------------------------------------


def _parse(raw: bytes) -> Message:
    """The stdlib parse of a received message; header fields only if the body defeats it."""
    try:
        return email.message_from_bytes(raw, policy=email.policy.default)
    except Exception:  # RecursionError on absurd nesting, and whatever else hostile mail finds
        try:
            return BytesHeaderParser(policy=email.policy.default).parsebytes(raw)
        except Exception:
            return EmailMessage()


def _clean(value: str, limit: int = parse.MAX_HEADER_FIELD) -> str:
    """One safe line from received text: controls become spaces, runs of space one."""
    return " ".join(CONTROL_CHARS.sub(" ", value).split())[:limit]


def _field(msg: Message, name: str) -> str:
    return _clean(parse._header(msg, name))


def _field_addr_specs(name: str, value: str) -> list[str]:
    """The addr-specs of one raw address field, by the header registry parser, never by
    getaddresses() (CVE-2023-27043 class). If the stdlib refuses the field because an
    encoded-word decodes to CR LF (CVE-2024-6923 class), the encoded-words are replaced by a
    quoted placeholder and it is read again: they may only stand in phrases (RFC 2047
    section 5), and in an addr-spec the placeholder makes a quoted local part we refuse."""
    for text in (value, _ENCODED_WORD.sub('"x"', value)):
        try:
            field: object = email.policy.default.header_factory(name, text)
        except Exception:  # the stdlib raises many kinds on hostile headers
            field = None
        if field is not None:
            return [str(a.addr_spec) for a in getattr(field, "addresses", ())]
    return []


def _addresses(msg: Message, name: str) -> list[str]:
    """Valid addresses of every `name` field; an unreadable field gives nothing, not a guess."""
    out: list[str] = []
    for key, value in msg.raw_items():
        if key.lower() != name.lower():
            continue
        for spec in _field_addr_specs(name, str(value)):
            try:
                out.append(str(parse_address(spec)))
            except InvalidInput:
                continue
    return out


def _parts(msg: Message) -> Iterator[Message]:
    """Parts depth-first, descending into multipart/* only (an attached message/rfc822 is a
    unit), capped at parse.MAX_PARTS and parse.MAX_DEPTH."""
    stack: list[tuple[Message, int]] = [(msg, 0)]
    count = 0
    while stack and count < parse.MAX_PARTS:
        part, depth = stack.pop()
        count += 1
        yield part
        if part.get_content_maintype() == "multipart" and depth < parse.MAX_DEPTH:
            payload = part.get_payload()
            if isinstance(payload, list):
                stack.extend((p, depth + 1) for p in reversed(payload) if isinstance(p, Message))


class _TextOfHtml(HTMLParser):
    """Crude HTML to text: character data, a line break at block elements, no script/style."""

    BLOCKS = frozenset({"br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6"})
    HIDDEN = frozenset({"script", "style", "head", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.HIDDEN:
            self.hidden += 1
        elif tag in self.BLOCKS:
            self.chunks.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.HIDDEN:
            self.hidden = max(self.hidden - 1, 0)
        elif tag in self.BLOCKS:
            self.chunks.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.chunks.append(_HTML_SPACE.sub(" ", data))


def _html_text(html: str) -> str:
    parser = _TextOfHtml()
    parser.feed(html)
    parser.close()
    lines = (line.strip() for line in "".join(parser.chunks).split("\n"))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")


def _text_body(msg: Message) -> str:
    """The readable text of a message: its inline text/plain parts, else its text/html parts
    stripped of tags; "" when there is none or the message defeats the parser."""
    try:
        plain: list[str] = []
        html: list[str] = []
        for part in _parts(msg):
            kind = part.get_content_type()
            if kind in ("text/plain", "text/html") and not parse._is_attachment(part):
                (plain if kind == "text/plain" else html).append(parse._part_text(part))
        text = "\n".join(plain) if plain else "\n".join(_html_text(h) for h in html)
        text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\0", "")
        return text[:MAX_QUOTED_TEXT]
    except Exception:
        return ""


# --- reply and forward ----------------------------------------------------------------------


def _strip_prefixes(subject: str, prefix: re.Pattern[str]) -> str:
    rest = subject.strip()
    while match := prefix.match(rest):
        rest = rest[match.end() :]
    return rest


def _dedupe(addresses: Iterable[str], exclude: Collection[str] = ()) -> list[str]:
    out: dict[str, str] = {}
    for address in addresses:
        if address.lower() not in exclude:
            out.setdefault(address.lower(), address)
    return list(out.values())


def _reply_to(msg: Message, mine: set[str]) -> list[str]:
    """Reply-To, else From (RFC 5322 section 3.6.2); when that is only ourselves (a reply to
    a message in Sent) the original recipients, as mail clients do."""
    targets = _dedupe(_addresses(msg, "Reply-To") or _addresses(msg, "From"))
    others = [a for a in targets if a.lower() not in mine]
    if others:
        return others
    return _dedupe(_addresses(msg, "To"), mine) or targets


def _thread_ids(msg: Message) -> tuple[str, str]:
    """In-Reply-To and References of a reply (RFC 5322 section 3.6.4): the parent's
    References (or its single In-Reply-To) followed by the parent's Message-ID."""
    parent = own_message_id(_field(msg, "Message-ID"))
    chain = message_id_tokens(_field(msg, "References"), limit=MAX_REFERENCES)
    if not chain:
        in_reply_to = message_id_tokens(_field(msg, "In-Reply-To"))
        chain = in_reply_to if len(in_reply_to) == 1 else []
    ids = [i for i in chain if i != parent] + ([parent] if parent else [])
    ids = message_id_tokens(" ".join(ids), limit=MAX_REFERENCES)
    return parent, " ".join(ids)


def _quote(text: str) -> str:
    lines = text.rstrip("\n").split("\n") if text.strip() else []
    return "\n".join(f"> {line}" if line else ">" for line in lines)


def reply_seed(raw: bytes, *, me: Collection[str], reply_all: bool) -> ReplySeed:
    """What a reply to `raw` starts with. `me` are the addresses of the mailbox worked in and
    of the user: never put in Cc by reply-all. Never raises: garbage gives empty fields."""
    msg = _parse(raw)
    mine = {m.strip().lower() for m in me}
    to = _reply_to(msg, mine)
    cc: list[str] = []
    if reply_all:
        exclude = mine | {a.lower() for a in to}
        cc = _dedupe([*_addresses(msg, "To"), *_addresses(msg, "Cc")], exclude)
    subject = _strip_prefixes(_field(msg, "Subject"), _REPLY_PREFIX)
    in_reply_to, references = _thread_ids(msg)
    author, date = _field(msg, "From"), _field(msg, "Date")
    intro = f"On {date}, {author} wrote:" if date else f"{author or 'Someone'} wrote:"
    quoted = _quote(_text_body(msg))
    return ReplySeed(
        to=tuple(to),
        cc=tuple(cc),
        subject=f"Re: {subject}".strip()[:MAX_SUBJECT],
        in_reply_to=in_reply_to,
        references=references,
        body=f"\n\n{intro}\n{quoted}" if quoted else f"\n\n{intro}\n",
    )


def _upload(part: Message) -> Upload | None:
    """An attachment of the original as an Upload; an attached message keeps its bytes."""
    try:
        name = _clean(str(part.get_filename("") or ""), MAX_FILENAME)
        name = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
        if part.get_content_type() == "message/rfc822":
            inner = part.get_payload()
            body = inner[0] if isinstance(inner, list) and inner else None
            if not isinstance(body, Message):
                return None
            data = body.as_bytes(policy=email.policy.compat32)
            return Upload(name or "message.eml", "message/rfc822", data)
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            return None
        return Upload(name or "attachment", part.get_content_type(), payload)
    except Exception:
        return None


def _attachments(msg: Message) -> tuple[Upload, ...]:
    out: list[Upload] = []
    try:
        for part in _parts(msg):
            if part is msg or len(out) >= MAX_ATTACHMENTS:
                continue
            embedded = part.get_content_type() == "message/rfc822"
            if embedded or (not part.is_multipart() and parse._is_attachment(part)):
                upload = _upload(part)
                if upload is not None:
                    out.append(upload)
    except Exception:
        return tuple(out)
    return tuple(out)


def forward_seed(raw: bytes) -> tuple[str, str, tuple[Upload, ...]]:
    """(subject, body, attachments) a forward of `raw` starts with: "Fwd: " once, a header
    summary and the original text, and the original's attachments. Never raises."""
    msg = _parse(raw)
    subject = _field(msg, "Subject")
    summary = "\n".join(
        [
            "---------- Forwarded message ----------",
            f"From: {_field(msg, 'From')}",
            f"Date: {_field(msg, 'Date')}",
            f"Subject: {subject}",
            f"To: {_field(msg, 'To')}",
        ]
    )
    fwd_subject = f"Fwd: {_strip_prefixes(subject, _FORWARD_PREFIX)}".strip()[:MAX_SUBJECT]
    return fwd_subject, f"{summary}\n\n{_text_body(msg)}", _attachments(msg)
