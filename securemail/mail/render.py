"""Turn a raw message into what webmail shows: display headers, body and attachment list."""

import base64
import binascii
import codecs
import email
import email.policy
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.generator import BytesGenerator
from email.message import Message
from email.parser import BytesHeaderParser
from io import BytesIO

from securemail.core.errors import NotFound
from securemail.mail.sanitize import sanitise, sanitise_html

__all__ = ["AttachmentInfo", "RenderedMessage", "attachment", "render", "sanitise_html"]

HARD_MAX_DEPTH = 100  # whatever the caller asks, the walk never goes deeper than this
MAX_HEADER_DISPLAY = 2000
MAX_FILENAME = 200
DISPLAY_HEADERS = ("From", "To", "Cc", "Date", "Subject")
_ADDRESS_HEADERS = frozenset({"from", "to", "cc"})
_TOKEN_TYPE = re.compile(r"^[a-z0-9!#$&^_.+\-]+/[a-z0-9!#$&^_.+\-]+$")
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_SPECIALS = frozenset('<>@,;:"()[]\\')
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


@dataclass(frozen=True, slots=True)
class AttachmentInfo:
    index: int  # this leaf's position in a depth-first walk of the MIME tree
    filename: str  # decoded and made safe: no path separators or control characters, never empty
    content_type: str  # "type/subtype" as declared, or application/octet-stream
    size: int  # decoded bytes
    content_id: str | None  # without the angle brackets
    inline: bool  # Content-Disposition inline, or referenced by cid: from the HTML body


@dataclass(frozen=True, slots=True)
class RenderedMessage:
    headers: tuple[tuple[str, str], ...]  # From, To, Cc, Date, Subject: those present, decoded
    text: str | None  # the text/plain body
    html: str | None  # the text/html body, sanitised: a fragment for a sandboxed iframe
    remote_blocked: int  # remote resources removed because allow_remote was False
    attachments: tuple[AttachmentInfo, ...]  # every leaf part that is not the body


# --- text helpers -------------------------------------------------------------------------------


def _valid_text(data: bytes, charset: str) -> str | None:
    """`data` decoded with `charset` (replacing bad bytes), or None if it is no text codec."""
    try:
        if not codecs.lookup(charset)._is_text_encoding:
            return None
        text = data.decode(charset, "replace")
    except Exception:  # LookupError, and odd codecs that raise something else
        return None
    return text.encode("utf-8", "replace").decode("utf-8")  # no lone surrogates


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Bytes in a declared charset; an unknown charset falls back to UTF-8 with replacement and
    an undeclared one to UTF-8, then Latin-1 (RFC 2045 says US-ASCII; real mail says otherwise)."""
    if charset:
        text = _valid_text(data, charset.strip().strip('"').lower())
        return text if text is not None else data.decode("utf-8", "replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _raw_to_str(value: str) -> str:
    """A raw header value from the parser (8-bit bytes kept as surrogates) as real text."""
    data = value.encode("utf-8", "surrogateescape")
    return decode_bytes(data, None)


def _decode_word(charset: str, encoding: str, text: str) -> str | None:
    """One RFC 2047 encoded word; RFC 2231 section 5 allows a language after '*'."""
    try:
        if encoding in "bB":
            padded = text + "=" * (-len(text) % 4)
            data = base64.b64decode(padded.encode("ascii"), validate=False)
        else:
            data = binascii.a2b_qp(text.encode("ascii"), header=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return None
    return decode_bytes(data, charset.split("*", 1)[0] or "utf-8")


def decode_words(value: str, *, quote_specials: bool = False) -> str:
    """Decode RFC 2047 encoded words; whitespace between two adjacent words is dropped (6.2).

    With `quote_specials` (address fields) a decoded word holding RFC 5322 specials is shown
    quoted, so an encoded display name cannot pass itself off as an address."""
    out: list[str] = []
    pos = 0
    for match in _ENCODED_WORD.finditer(value):
        between = value[pos : match.start()]
        if pos == 0 or between.strip():
            out.append(between)
        decoded = _decode_word(*match.groups())
        if decoded is not None and quote_specials and any(c in decoded for c in _SPECIALS):
            decoded = '"' + decoded.replace("\\", "\\\\").replace('"', '\\"') + '"'
        out.append(match.group(0) if decoded is None else decoded)
        pos = match.end()
    out.append(value[pos:])
    return "".join(out)


def display_line(value: str, limit: int = MAX_HEADER_DISPLAY) -> str:
    """One line for display: no control or bidi-override characters, spaces collapsed."""
    chars = (
        " " if unicodedata.category(c) == "Cc" else c
        for c in value.encode("utf-8", "replace").decode("utf-8")
        if c not in _BIDI
    )
    return " ".join("".join(chars).split())[:limit]


def safe_filename(name: str, index: int) -> str:
    """A filename without path separators, control or format characters; never empty."""
    name = name.replace("/", "_").replace("\\", "_")
    name = "".join(c for c in name if unicodedata.category(c) not in ("Cc", "Cf"))
    name = display_line(name, limit=len(name)).strip(" .")
    if len(name) > MAX_FILENAME:
        stem, dot, ext = name.rpartition(".")
        keep = ext if dot and stem and len(ext) <= 16 else ""
        name = name[: MAX_FILENAME - len(keep) - 1].rstrip(". ") + ("." + keep if keep else "")
    return name or f"attachment-{index}"


# --- header access (RFC 5322 section 2.2 unfolding) ---------------------------------------------


def raw_headers(part: Message, name: str) -> list[str]:
    """Every value of header `name`, unfolded and decoded from raw bytes, encoded words intact."""
    try:
        values = [v for k, v in part.raw_items() if k.strip().lower() == name.lower()]
    except Exception:
        return []
    return [_raw_to_str(str(v)).replace("\r", "").replace("\n", "") for v in values]


def _first(part: Message, name: str) -> str:
    values = raw_headers(part, name)
    return values[0] if values else ""


def display_headers(msg: Message) -> tuple[tuple[str, str], ...]:
    """From, To, Cc, Date and Subject as present; repeated address fields are all shown."""
    out: list[tuple[str, str]] = []
    for name in DISPLAY_HEADERS:
        values = raw_headers(msg, name)
        if not values:
            continue
        address = name.lower() in _ADDRESS_HEADERS
        values = values if address else values[:1]
        shown = [display_line(decode_words(v, quote_specials=address)) for v in values]
        out.append((name, display_line(", ".join(s for s in shown if s))))
    return tuple(out)


# --- the MIME tree (RFC 2045, RFC 2046) ---------------------------------------------------------


@dataclass(slots=True)
class _Node:
    part: Message
    ctype: str  # the effective type used to pick the body (RFC 2045 defaults applied)
    children: list["_Node"] | None = None  # None for a leaf
    index: int = -1  # leaf index in depth-first order

    def leaves(self) -> Iterator["_Node"]:
        stack = [self]
        while stack:
            node = stack.pop()
            if node.children is None:
                yield node
            else:
                stack.extend(reversed(node.children))


def _parse(raw: bytes) -> Message:
    """The stdlib parser (compat32 keeps raw header text); header-only if the MIME is absurd."""
    try:
        return email.message_from_bytes(raw, policy=email.policy.compat32)
    except Exception:  # RecursionError on absurd nesting, anything else on absurd input
        return BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw)


def _content_type(part: Message) -> str:
    try:
        ctype = part.get_content_type().lower()
    except Exception:
        ctype = "text/plain"
    return ctype if _TOKEN_TYPE.match(ctype) else "text/plain"


def _children(part: Message) -> list[Message] | None:
    """Sub-parts of a multipart (RFC 2046 5.1); message/rfc822 is a leaf for us (listed as .eml)."""
    try:
        if not part.is_multipart() or part.get_content_maintype() == "message":
            return None
        payload = part.get_payload()
    except Exception:
        return None
    return [p for p in payload if isinstance(p, Message)] if isinstance(payload, list) else None


def build_tree(msg: Message, max_parts: int, max_depth: int) -> _Node:
    """The part tree in depth-first order; beyond `max_parts` or `max_depth` the walk stops."""
    max_depth = min(max_depth, HARD_MAX_DEPTH)
    root = _Node(msg, _content_type(msg))
    count, leaf = 1, 0
    stack: list[tuple[_Node, int]] = [(root, 0)]
    while stack:
        node, depth = stack.pop()
        subparts = _children(node.part)
        if subparts is None:
            node.index, leaf = leaf, leaf + 1
            continue
        node.children = []
        if depth >= max_depth:
            continue
        for sub in subparts[: max(0, max_parts - count)]:
            node.children.append(_Node(sub, _content_type(sub)))
        count += len(node.children)
        stack.extend((child, depth + 1) for child in reversed(node.children))
    return root


def _disposition(part: Message) -> str:
    """RFC 2183 disposition type, lower case, or '' if absent."""
    return _first(part, "Content-Disposition").split(";", 1)[0].strip().lower()


def _body(node: _Node) -> tuple[_Node | None, _Node | None]:
    """The (text/plain, text/html) body parts under `node` (RFC 2046 5.1.3-5.1.4, RFC 2387)."""
    if node.children is None:
        if _disposition(node.part) == "attachment":
            return None, None
        if node.ctype == "text/html":
            return None, node
        if node.ctype == "text/plain" or node.ctype.startswith("multipart/"):
            return node, None  # a multipart without a boundary: show its raw text
        return None, None
    if node.ctype == "multipart/alternative":
        text = html = None
        for child in node.children:  # the last alternative is the preferred one
            sub_text, sub_html = _body(child)
            text, html = sub_text or text, sub_html or html
        return text, html
    if node.ctype == "multipart/related":
        return _body(node.children[0]) if node.children else (None, None)
    for child in node.children:
        found = _body(child)
        if found != (None, None):
            return found
    return None, None


def _flatten(msg: Message) -> bytes:
    buffer = BytesIO()
    BytesGenerator(buffer, mangle_from_=False, policy=email.policy.compat32).flatten(msg)
    return buffer.getvalue()


def _payload(node: _Node) -> bytes:
    """The decoded bytes of a leaf (RFC 2045 section 6); a message/rfc822 part as bytes."""
    part = node.part
    try:
        if node.ctype.startswith("message/") and part.is_multipart():
            inner = part.get_payload()
            return b"\n".join(_flatten(m) for m in inner if isinstance(m, Message))
        data = part.get_payload(decode=True)
    except Exception:
        data = None
    if isinstance(data, bytes):
        return data
    try:
        text = part.get_payload()
    except Exception:
        return b""
    return text.encode("utf-8", "surrogateescape") if isinstance(text, str) else b""


def _text(node: _Node) -> str:
    try:
        charset = node.part.get_content_charset()
    except Exception:
        charset = None
    return decode_bytes(_payload(node), charset if isinstance(charset, str) else None)


def _declared_type(node: _Node) -> str:
    if node.ctype.startswith("message/"):
        return node.ctype
    declared = _first(node.part, "Content-Type").split(";", 1)[0].strip().lower()
    return declared if _TOKEN_TYPE.match(declared) else "application/octet-stream"


def _filename(node: _Node) -> str:
    """RFC 2183 filename, else the Content-Type name; RFC 2231 and encoded words decoded."""
    try:
        name = node.part.get_filename(None)
    except Exception:
        name = None
    text = decode_words(_raw_to_str(name)) if isinstance(name, str) else ""
    if node.ctype == "message/rfc822" and not text:
        inner = node.part.get_payload(0) if node.part.is_multipart() else None
        subject = _first(inner, "Subject") if isinstance(inner, Message) else ""
        text = decode_words(subject)
        return safe_filename(text, node.index) + ".eml"
    return safe_filename(text, node.index)


def _info(node: _Node, size: int, cids_used: frozenset[int]) -> AttachmentInfo:
    cid = display_line(_first(node.part, "Content-ID"), limit=500).strip("<> ") or None
    inline = _disposition(node.part) == "inline" or node.index in cids_used
    return AttachmentInfo(node.index, _filename(node), _declared_type(node), size, cid, inline)


# --- putting it together ------------------------------------------------------------------------


@dataclass(slots=True)
class _Analysis:
    msg: Message
    leaves: list[_Node]
    text: _Node | None
    html: _Node | None


def _analyse(raw: bytes, max_parts: int, max_depth: int) -> _Analysis:
    msg = _parse(raw)
    tree = build_tree(msg, max_parts, max_depth)
    text, html = _body(tree)
    return _Analysis(msg, list(tree.leaves()), text, html)


def _cid_index(leaves: list[_Node]) -> dict[str, int]:
    index: dict[str, int] = {}
    for node in leaves:
        cid = display_line(_first(node.part, "Content-ID"), limit=500).strip("<> ").lower()
        if cid:
            index.setdefault(cid, node.index)
    return index


def _sanitised(
    found: _Analysis, allow_remote: bool, cid_url: Callable[[int], str] | None
) -> tuple[str | None, int, frozenset[int]]:
    if found.html is None:
        return None, 0, frozenset()
    result = sanitise(
        _text(found.html),
        allow_remote=allow_remote,
        cid_url=cid_url,
        cid_index=_cid_index(found.leaves),
    )
    return result.html, result.remote_blocked, result.cids_used


def render(
    raw: bytes,
    *,
    allow_remote: bool = False,
    cid_url: Callable[[int], str] | None = None,
    max_parts: int = 200,
    max_depth: int = 20,
) -> RenderedMessage:
    """Everything webmail shows of `raw` (RFC 5322 with MIME, RFC 2045-2047, 2183, 2231, 2392).

    multipart/alternative prefers text/html and keeps text/plain too; in multipart/mixed the first
    part holding text is the body and the rest are attachments; multipart/related shows its root
    with its cid: images; message/rfc822 is an attachment named after its Subject. Beyond
    `max_parts` or `max_depth` the walk stops. Hostile input never raises.
    """
    found = _analyse(raw, max_parts, max_depth)
    html, blocked, cids_used = _sanitised(found, allow_remote, cid_url)
    body = {id(found.text), id(found.html)}
    attachments = tuple(
        _info(node, len(_payload(node)), cids_used) for node in found.leaves if id(node) not in body
    )
    text = None if found.text is None else _text(found.text).replace("\0", "\ufffd")
    return RenderedMessage(display_headers(found.msg), text, html, blocked, attachments)


def attachment(
    raw: bytes, index: int, *, max_parts: int = 200, max_depth: int = 20
) -> tuple[AttachmentInfo, bytes]:
    """The leaf part numbered `index` by render() and its decoded bytes; NotFound if none."""
    found = _analyse(raw, max_parts, max_depth)
    for node in found.leaves:
        if node.index == index:
            _, _, cids_used = _sanitised(found, False, None)
            data = _payload(node)
            return _info(node, len(data), cids_used), data
    raise NotFound(f"no part {index} in this message")
