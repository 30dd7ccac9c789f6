"""Delivery status: SMTP reply classes (RFC 5321 section 4.2.1), enhanced status codes
(RFC 3463) and the delivery status notification that reports a failure (RFC 3464, RFC 6522)."""

import dataclasses
import email.utils
import enum
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

MAX_DIAGNOSTIC = 500  # characters of a remote reply kept (a DSN field line stays < 998)
MAX_ORIGINAL_HEADERS = 64 * 1024  # bytes of the failed message's header block returned

# RFC 3463 section 2: class "." subject "." detail, the class matching the reply's first digit.
_ENHANCED = re.compile(r"^([245])\.(\d{1,3})\.(\d{1,3})(?=\s|$)")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


class Outcome(enum.StrEnum):
    SENT = "sent"
    TEMPORARY = "temporary"  # 4yz, no answer, policy deferral: try again later
    PERMANENT = "permanent"  # 5yz: give up and tell the sender


@dataclass(frozen=True, slots=True)
class DeliveryStatus:
    """What happened to one recipient in one attempt."""

    outcome: Outcome
    code: int | None  # the SMTP reply code; None when no reply (connection, DNS, TLS policy)
    status: str  # RFC 3463 enhanced status code, e.g. "5.1.1"
    text: str  # one safe line: the remote reply text, or our own explanation
    remote_host: str = ""
    tls: str = ""  # TLS version of the session ("TLSv1.3"), "" when in clear or not connected

    @property
    def diagnostic(self) -> str:
        """The reply as the remote gave it (RFC 3464 section 2.3.6 smtp diagnostic)."""
        return f"{self.code} {self.text}" if self.code is not None else self.text


def one_line(text: str, limit: int = MAX_DIAGNOSTIC) -> str:
    """Control characters (CR, LF, NUL...) folded to spaces, ASCII only, bounded."""
    clean = _CONTROL.sub(" ", text).encode("ascii", "replace").decode("ascii")
    return " ".join(clean.split())[:limit]


def from_reply(code: int, text: str, remote_host: str = "", tls: str = "") -> DeliveryStatus:
    """Classify an SMTP reply (RFC 5321 section 4.2.1): 2yz sent, 5yz permanent, anything else
    (4yz, or a reply code that makes no sense here) temporary. The enhanced code is taken from
    the text when its class agrees with the reply code (RFC 3463 section 2, RFC 2034)."""
    line = one_line(text)
    first = code // 100
    outcome = {2: Outcome.SENT, 5: Outcome.PERMANENT}.get(first, Outcome.TEMPORARY)
    default = {2: "2.0.0", 5: "5.0.0"}.get(first, "4.0.0")
    match = _ENHANCED.match(line)
    status = match.group(0) if match and match.group(1) == default[0] else default
    return DeliveryStatus(outcome, code, status, line, remote_host, tls)


def local_status(outcome: Outcome, status: str, text: str, remote_host: str = "") -> DeliveryStatus:
    """A status we decided ourselves (no SMTP reply): DNS, connection, TLS policy."""
    return DeliveryStatus(outcome, None, status, one_line(text), remote_host)


@dataclass(frozen=True, slots=True)
class FailedRecipient:
    recipient: str
    status: DeliveryStatus
    last_attempt: datetime | None


@dataclass(frozen=True, slots=True)
class Notification:
    """Everything a DSN says; `original` is the failed message (only its header block is used)."""

    reporting_mta: str
    sender: str
    recipients: Sequence[FailedRecipient]
    original: bytes
    arrival: datetime
    now: datetime


def _address(text: str) -> str:
    """An address fit for a header or DSN field: no line breaks, brackets or spaces."""
    return re.sub(r"[\x00-\x20<>\x7f]", "", text)[:254]


def _date(when: datetime) -> str:
    return email.utils.format_datetime(when)  # RFC 5322 section 3.3


def original_headers(raw: bytes) -> bytes:
    """The header block of `raw` (RFC 5322 section 2.1), CRLF line ends, cut on a line end."""
    text = raw.replace(b"\r\n", b"\n")
    end = text.find(b"\n\n")
    head = text if end < 0 else text[: end + 1]
    if len(head) > MAX_ORIGINAL_HEADERS:
        head = head[: head.rfind(b"\n", 0, MAX_ORIGINAL_HEADERS) + 1]
    return head.replace(b"\n", b"\r\n")


def _human_part(note: Notification) -> str:
    lines = [
        f"This is the mail system at {note.reporting_mta}.",
        "",
        "Your message could not be delivered to one or more recipients.",
        "It has been returned below (headers only).",
        "",
    ]
    for failed in note.recipients:
        lines.append(f"<{_address(failed.recipient)}>: {failed.status.diagnostic}")
    return "\r\n".join(lines) + "\r\n"


def _per_recipient(failed: FailedRecipient) -> list[str]:
    """RFC 3464 section 2.3: the per-recipient fields of one failed recipient."""
    status = failed.status
    fields = [
        f"Final-Recipient: rfc822; {_address(failed.recipient)}",
        "Action: failed",
        f"Status: {status.status}",
    ]
    if status.remote_host:
        fields.append(f"Remote-MTA: dns; {_address(status.remote_host)}")
    kind = "smtp" if status.code is not None else "X-securemail"
    fields.append(f"Diagnostic-Code: {kind}; {one_line(status.diagnostic)}")
    if failed.last_attempt is not None:
        fields.append(f"Last-Attempt-Date: {_date(failed.last_attempt)}")
    return fields


def _status_part(note: Notification) -> str:
    """RFC 3464 section 2.2 per-message fields, then a blank line before each recipient."""
    blocks = [[f"Reporting-MTA: dns; {note.reporting_mta}", f"Arrival-Date: {_date(note.arrival)}"]]
    blocks.extend(_per_recipient(failed) for failed in note.recipients)
    return "\r\n\r\n".join("\r\n".join(block) for block in blocks) + "\r\n"


def build_dsn(note: Notification) -> bytes:
    """A multipart/report; report-type=delivery-status message (RFC 6522 section 3, RFC 3464
    section 2) with a human part, the machine-readable status and the original's headers."""
    note = dataclasses.replace(note, reporting_mta=_address(note.reporting_mta) or "localhost")
    headers = original_headers(note.original)
    boundary = f"dsn-{secrets.token_hex(12)}"
    eight_bit = any(b > 127 for b in headers)
    top = [
        f"From: Mail Delivery System <MAILER-DAEMON@{note.reporting_mta}>",
        f"To: <{_address(note.sender)}>",
        "Subject: Undelivered Mail Returned to Sender",
        f"Date: {_date(note.now)}",
        f"Message-ID: {email.utils.make_msgid('dsn', domain=note.reporting_mta)}",
        "Auto-Submitted: auto-replied",  # RFC 3834 section 5: never answer this automatically
        "MIME-Version: 1.0",
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"',
        "",
        "This is a MIME-encapsulated delivery status notification.",
        "",
    ]
    parts = [
        ("text/plain; charset=us-ascii", "Notification", _human_part(note)),
        ("message/delivery-status", "Delivery report", _status_part(note)),
    ]
    out = "\r\n".join(top)
    for content_type, description, body in parts:
        out += f"--{boundary}\r\nContent-Type: {content_type}\r\n"
        out += f"Content-Description: {description}\r\n\r\n{body}"
    tail = f"--{boundary}\r\nContent-Type: text/rfc822-headers\r\n"
    tail += "Content-Transfer-Encoding: 8bit\r\n" if eight_bit else ""
    tail += "Content-Description: Undelivered message headers\r\n\r\n"
    return (out + tail).encode("ascii") + headers + f"\r\n--{boundary}--\r\n".encode("ascii")
