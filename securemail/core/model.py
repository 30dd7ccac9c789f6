"""Dataclasses the store returns and services hand to every channel."""

import enum
from dataclasses import dataclass, field
from datetime import datetime

from securemail.core.rights import MailboxKind, Right, Role


class SpecialUse(enum.StrEnum):
    """The folders every mailbox has (RFC 6154 names for the IMAP SPECIAL-USE mapping)."""

    INBOX = "inbox"
    SENT = "sent"
    DRAFTS = "drafts"
    TRASH = "trash"


STANDARD_FOLDERS: tuple[tuple[str, SpecialUse], ...] = (
    ("INBOX", SpecialUse.INBOX),
    ("Sent", SpecialUse.SENT),
    ("Drafts", SpecialUse.DRAFTS),
    ("Trash", SpecialUse.TRASH),
)
FOLDER_SEPARATOR = "/"


class Flag(enum.Flag):
    """Shared system flags stored per message. \\Seen is per user and lives elsewhere."""

    NONE = 0
    ANSWERED = enum.auto()
    FLAGGED = enum.auto()
    DELETED = enum.auto()
    DRAFT = enum.auto()


@dataclass(frozen=True, slots=True)
class Organisation:
    id: int
    name: str
    domains: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class User:
    id: int
    org_id: int | None
    address: str
    display_name: str
    role: Role
    disabled: bool
    last_login_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Mailbox:
    """A mailbox as the caller sees it, with the caller's effective rights on it."""

    id: int
    org_id: int
    kind: MailboxKind
    address: str
    display_name: str
    owner_user_id: int | None
    disabled: bool
    rights: Right = Right.NONE


@dataclass(frozen=True, slots=True)
class Folder:
    id: int
    mailbox_id: int
    name: str
    special_use: SpecialUse | None
    uidvalidity: int
    uidnext: int
    highestmodseq: int
    total: int = 0
    unseen: int = 0


@dataclass(frozen=True, slots=True)
class Grant:
    mailbox_id: int
    mailbox_address: str
    user_id: int
    user_address: str
    rights: Right


@dataclass(frozen=True, slots=True)
class MessageSummary:
    """One message in one folder: what a message list needs, with the caller's \\Seen."""

    id: int
    folder_id: int
    uid: int
    modseq: int
    flags: Flag
    keywords: tuple[str, ...]
    seen: bool
    internal_date: datetime
    size: int
    from_addr: str
    to_addrs: str
    subject: str
    date: datetime | None
    message_id: str
    in_reply_to: str
    references: str
    has_attachments: bool
    blob_id: str
    sent_by: str | None = None


@dataclass(frozen=True, slots=True)
class ReadState:
    """What a bulk read of contents (IMAP FETCH, SEARCH HEADER) needs of a message: where its
    content is and the caller's \\Seen, without the fields of a full summary."""

    id: int
    blob_id: str
    seen: bool
    modseq: int


@dataclass(frozen=True, slots=True)
class Message:
    """An opened message: its summary, raw bytes and who of the team has read it."""

    summary: MessageSummary
    raw: bytes
    read_by: tuple[str, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    org_id: int | None
    action: str
    mailbox: str
    target: str
    detail: str
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True)
class OrgPolicy:
    """An organisation's own limits; None means the server-wide setting applies."""

    org_id: int
    recipient_allowlist: tuple[str, ...] = ()  # closed community: mail only to these domains
    max_message_bytes: int | None = None
    session_idle_minutes: int | None = None
    min_password_length: int | None = None
    require_second_factor: bool = False
