"""Build the messages webmail sends and saves (RFC 5322 sections 3.6.2-3.6.5, RFC 2045,
2046, 2047, 2183, 2231); seed.py seeds replies and forwards from received mail.

Everything a user typed is refused if it could break out of its header (CR, LF, NUL or any
other control character: header injection); everything taken from a received message is
cleaned to one line and re-validated (STACK.md gotcha 4), so a seed is always buildable.
"""

import email
import email.policy
import email.utils
import re
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage

from securemail.core.addresses import Address, parse_address
from securemail.core.errors import InvalidInput
from securemail.mail.threads import MAX_REFERENCES, message_id_tokens, own_message_id

MAX_SUBJECT = 998  # characters; RFC 5322 section 2.1.1 line limit as a sane bound
MAX_DISPLAY_NAME = 256
MAX_FILENAME = 255
MAX_ATTACHMENTS = 100
MAX_RECIPIENT_ENTRY = 512  # characters of one "Name <addr>" entry
DEFAULT_RECIPIENT_LIMIT = 100
FOLD_AT = 78  # RFC 5322 section 2.1.1 SHOULD

# Generation policy: CRLF, and raw (set_raw) fields are written exactly as given, so the
# msg-id lists we fold ourselves are never turned into encoded-words by the refolder.
_POLICY = email.policy.SMTP.clone(refold_source="none")
# Line breaks and controls str.splitlines() and MUAs honour: refused in every header value.
CONTROL_CHARS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\x85\u2028\u2029]")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"  # RFC 1035 section 2.3.1, RFC 1123
_HOSTNAME = re.compile(rf"(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*")
_MIME_NAME = r"[a-z0-9!#$&^_.+-]{1,127}"  # RFC 2045 section 5.1 token, lower-cased
_CONTENT_TYPE = re.compile(rf"({_MIME_NAME})/({_MIME_NAME})")


@dataclass(frozen=True, slots=True)
class Upload:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class Draft:
    from_addr: str
    from_name: str = ""
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()
    subject: str = ""
    body: str = ""
    in_reply_to: str = ""
    references: str = ""
    attachments: tuple[Upload, ...] = ()


# --- recipients ---------------------------------------------------------------------------


def _split_entries(text: str) -> Iterator[str]:
    """Split on "," and ";" outside quoted strings, comments and angle brackets (RFC 5322
    section 3.4 address-list, with ";" accepted as people type it)."""
    start, quoted, escaped, depth, angle = 0, False, False, 0, False
    for i, c in enumerate(text):
        if escaped:
            escaped = False
        elif c == "\\":
            escaped = True
        elif quoted:
            quoted = c != '"'
        elif c == '"':
            quoted = True
        elif c in "()":
            depth = max(depth + (1 if c == "(" else -1), 0)
        elif c in "<>" and not depth:
            angle = c == "<"
        elif c in ",;" and not depth and not angle:
            yield text[start:i]
            start = i + 1
    yield text[start:]


def _entry_address(entry: str, what: str = "recipient") -> Address:
    """`addr` or `Display Name <addr>` to a validated address (RFC 5322 section 3.4)."""
    shown = entry if len(entry) <= 80 else entry[:77] + "..."
    if len(entry) > MAX_RECIPIENT_ENTRY:
        raise InvalidInput(f"{what} {shown!r}: too long")
    spec = entry
    if "<" in entry or ">" in entry:
        opened, closed = entry.rfind("<"), entry.rfind(">")
        if opened < 0 or closed < opened or entry[closed + 1 :].strip():
            raise InvalidInput(f"{what} {shown!r}: expected Name <local@domain>")
        spec = entry[opened + 1 : closed]
    try:
        return parse_address(spec)
    except InvalidInput as exc:
        raise InvalidInput(f"{what} {shown!r}: {exc}") from exc


def parse_recipients(text: str, *, limit: int = DEFAULT_RECIPIENT_LIMIT) -> tuple[str, ...]:
    """`"a@x, B <b@y>; c@z"` to bare addresses, validated, without duplicates (compared
    case-insensitively), in the order typed. Display names are dropped."""
    out: dict[str, str] = {}
    for raw_entry in _split_entries(text):
        entry = raw_entry.strip()
        if not entry:
            continue
        address = _entry_address(entry)
        out.setdefault(address.key, str(address))
        if len(out) > limit:
            raise InvalidInput(f"too many recipients: at most {limit}")
    return tuple(out.values())


def envelope_recipients(draft: Draft) -> tuple[str, ...]:
    """To, Cc and Bcc (RFC 5321 RCPT TO), validated, without case-insensitive duplicates."""
    out: dict[str, str] = {}
    for text in (*draft.to, *draft.cc, *draft.bcc):
        address = _entry_address(text.strip())
        out.setdefault(address.key, str(address))
    return tuple(out.values())


# --- building -------------------------------------------------------------------------------


def _one_line(what: str, value: str, limit: int) -> str:
    """A header value typed by the user: refused, never repaired, if it could inject."""
    if CONTROL_CHARS.search(value):
        raise InvalidInput(f"{what} contains a line break or control character")
    if len(value) > limit:
        raise InvalidInput(f"{what} is longer than {limit} characters")
    return value


def _header_addresses(field: str, values: Iterable[str]) -> list[HeaderAddress]:
    out = []
    for value in values:
        address = _entry_address(_one_line(field, value.strip(), MAX_RECIPIENT_ENTRY), field)
        out.append(HeaderAddress(username=address.local, domain=address.domain))
    return out


def _fold_ids(name: str, ids: list[str]) -> str:
    """msg-id list folded between identifiers (RFC 5322 sections 2.2.3 and 3.6.4)."""
    lines: list[list[str]] = [[]]
    width = len(name) + 1  # "Name:", then " <id>" per identifier
    for token in ids:
        if lines[-1] and width + 1 + len(token) > FOLD_AT:
            lines.append([])
            width = 0
        lines[-1].append(token)
        width += 1 + len(token)
    return "\n ".join(" ".join(line) for line in lines)


def _set_ids(msg: EmailMessage, name: str, text: str) -> None:
    ids = message_id_tokens(_one_line(name, text, 64 * 1024), limit=MAX_REFERENCES)
    if ids:
        msg.set_raw(name, _fold_ids(name, ids))


def _set_originator(msg: EmailMessage, draft: Draft, sender: str | None) -> None:
    """From with its display name (encoded-word when non-ASCII, RFC 2047) and, when a user
    sends as a group mailbox, Sender: the user (RFC 5322 section 3.6.2)."""
    name = _one_line("sender name", draft.from_name.strip(), MAX_DISPLAY_NAME)
    (author,) = _header_addresses("From address", [draft.from_addr])
    msg["From"] = HeaderAddress(display_name=name, username=author.username, domain=author.domain)
    if sender is not None:
        (agent,) = _header_addresses("Sender address", [sender])
        if agent.addr_spec.lower() != author.addr_spec.lower():
            msg["Sender"] = agent


def _set_identity(
    msg: EmailMessage, hostname: str, now: datetime | None, message_id: str | None
) -> None:
    """Date (RFC 5322 section 3.6.1) and Message-ID (section 3.6.4)."""
    when = now or datetime.now(UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    msg["Date"] = email.utils.format_datetime(when)
    if message_id is None:
        if not _HOSTNAME.fullmatch(hostname):
            raise InvalidInput(f"invalid hostname {hostname[:80]!r} for a Message-ID")
        message_id = f"<{secrets.token_hex(16)}@{hostname}>"
    wanted = _one_line("Message-ID", message_id, 256).strip()
    if not wanted or own_message_id(wanted) != wanted:
        raise InvalidInput("Message-ID must look like <id@host>")
    msg["Message-ID"] = wanted


def _content_type(text: str) -> tuple[str, str]:
    """An upload's declared type if it is a valid leaf type; application/octet-stream else.
    message/* and multipart/* may not be base64-encoded (RFC 2046 sections 5.1, 5.2)."""
    match = _CONTENT_TYPE.fullmatch(text.split(";", 1)[0].strip().lower())
    if not match or match.group(1) in ("message", "multipart"):
        return "application", "octet-stream"
    return match.group(1), match.group(2)


def _filename(text: str) -> str:
    """The last path segment of an upload's name (RFC 2183 section 2.3: no paths)."""
    _one_line("attachment name", text, 4096)
    name = text.replace("\\", "/").rsplit("/", 1)[-1].strip()
    return name[:MAX_FILENAME].strip() or "attachment"


def _attach(msg: EmailMessage, uploads: tuple[Upload, ...]) -> None:
    """multipart/mixed (RFC 2046 section 5.1.3) of the text and each upload, base64, with
    Content-Disposition: attachment (RFC 2183) and the filename RFC 2231-encoded if needed."""
    if len(uploads) > MAX_ATTACHMENTS:
        raise InvalidInput(f"too many attachments: at most {MAX_ATTACHMENTS}")
    if not uploads:
        return
    msg.make_mixed()
    for upload in uploads:
        part = EmailMessage(policy=_POLICY)
        maintype, subtype = _content_type(upload.content_type)
        part.set_content(
            bytes(upload.data),
            maintype,
            subtype,
            disposition="attachment",
            filename=_filename(upload.filename),
        )
        del part["MIME-Version"]  # a body part needs none (RFC 2045 section 4)
        msg.attach(part)


def _set_body(msg: EmailMessage, body: str) -> None:
    """text/plain; charset=utf-8 (RFC 2046 section 4.1): 7bit when it is plain short-lined
    ASCII, quoted-printable otherwise (RFC 2045 sections 2.7, 6.7)."""
    text = body.replace("\r\n", "\n").replace("\r", "\n")
    plain = all(c == "\t" or c == "\n" or " " <= c <= "~" for c in text)
    short = all(len(line) <= 998 for line in text.split("\n"))
    cte = "7bit" if plain and short else "quoted-printable"
    msg.set_content(text, subtype="plain", charset="utf-8", cte=cte)


def build_message(
    draft: Draft,
    *,
    hostname: str,
    sender: str | None = None,
    now: datetime | None = None,
    message_id: str | None = None,
    draft_flag: bool = False,
) -> bytes:
    """The RFC 5322 message for `draft`, CRLF line endings. Bcc is never written (RFC 5322
    section 3.6.3 allows either; we keep blind copies blind): use envelope_recipients().
    Without recipients only a draft being saved (`draft_flag`) may be built."""
    if not envelope_recipients(draft) and not draft_flag:
        raise InvalidInput("at least one recipient")
    msg = EmailMessage(policy=_POLICY)
    _set_originator(msg, draft, sender)
    for name, values in (("To", draft.to), ("Cc", draft.cc)):
        if values:
            msg[name] = _header_addresses(f"{name} address", values)
    subject = _one_line("subject", draft.subject, MAX_SUBJECT)
    if subject.strip():
        msg["Subject"] = subject
    _set_identity(msg, hostname, now, message_id)
    _set_ids(msg, "In-Reply-To", draft.in_reply_to)
    _set_ids(msg, "References", draft.references)
    _set_body(msg, draft.body)
    _attach(msg, draft.attachments)
    return msg.as_bytes(policy=_POLICY)
