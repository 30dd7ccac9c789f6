"""Request and response bodies of the mail part of /api/v1, and the constrained types every
part shares (so the OpenAPI document states exactly what is accepted)."""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from securemail.core.model import Flag, Folder, Mailbox, MessageSummary
from securemail.core.rights import RIGHT_NAMES, Right
from securemail.mail.render import AttachmentInfo

MAX_ID = 2**63 - 1  # BIGINT: larger ids cannot exist and would overflow the store
LINE = r"^[^\x00-\x1f\x7f]*$"  # one line of text: no control characters
MAX_IDS = 1000  # messages one move, copy or delete names at most
MAX_RECIPIENTS = 100
MAX_BODY = 5_000_000  # characters of a message text sent through the API

Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Line = Annotated[str, Field(max_length=1000, pattern=LINE)]
AddressText = Annotated[str, Field(min_length=3, max_length=254, pattern=LINE)]
RightName = Literal["read", "write", "mail", "delete", "manage"]
FlagName = Literal["answered", "flagged", "deleted", "draft"]
Keyword = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[!#$&'+-Z^-z|~]+$")]
SpecialUseName = Literal["inbox", "sent", "drafts", "trash"]

FLAG_NAMES: dict[str, Flag] = {
    "answered": Flag.ANSWERED,
    "flagged": Flag.FLAGGED,
    "deleted": Flag.DELETED,
    "draft": Flag.DRAFT,
}


class Body(BaseModel):
    """Request bodies refuse unknown members: a typo is an error, not a silent no-op."""

    model_config = ConfigDict(extra="forbid")


def right_names(rights: Right) -> list[RightName]:
    out: list[RightName] = []
    for name in ("read", "write", "mail", "delete", "manage"):
        if RIGHT_NAMES[name] in rights:
            out.append(name)
    return out


def flag_names(flags: Flag) -> list[FlagName]:
    out: list[FlagName] = []
    for name in ("answered", "flagged", "deleted", "draft"):
        if FLAG_NAMES[name] in flags:
            out.append(name)
    return out


class MailboxOut(BaseModel):
    id: int
    org_id: int
    kind: Literal["personal", "group"]
    address: str
    display_name: str
    rights: list[RightName] = Field(description="the caller's rights on this mailbox")

    @classmethod
    def of(cls, m: Mailbox) -> "MailboxOut":
        kind: Literal["personal", "group"] = "group" if m.kind.value == "group" else "personal"
        return cls(
            id=m.id,
            org_id=m.org_id,
            kind=kind,
            address=m.address,
            display_name=m.display_name,
            rights=right_names(m.rights),
        )


class FolderOut(BaseModel):
    id: int
    mailbox_id: int
    name: str
    special_use: SpecialUseName | None
    total: int
    unseen: int

    @classmethod
    def of(cls, f: Folder) -> "FolderOut":
        use: SpecialUseName | None = None
        if f.special_use is not None:
            use = f.special_use.value
        return cls(
            id=f.id,
            mailbox_id=f.mailbox_id,
            name=f.name,
            special_use=use,
            total=f.total,
            unseen=f.unseen,
        )


class FolderName(Body):
    name: Annotated[str, Field(min_length=1, max_length=1000)]


class MessageOut(BaseModel):
    id: int
    folder_id: int
    uid: int
    subject: str
    from_addr: str = Field(serialization_alias="from")
    to: str
    date: datetime | None
    received_at: datetime
    size: int
    seen: bool
    flags: list[FlagName]
    keywords: list[str]
    has_attachments: bool
    message_id: str
    in_reply_to: str
    sent_by: str | None

    @classmethod
    def of(cls, s: MessageSummary) -> "MessageOut":
        return cls(
            id=s.id,
            folder_id=s.folder_id,
            uid=s.uid,
            subject=s.subject,
            from_addr=s.from_addr,
            to=s.to_addrs,
            date=s.date,
            received_at=s.internal_date,
            size=s.size,
            seen=s.seen,
            flags=flag_names(s.flags),
            keywords=list(s.keywords),
            has_attachments=s.has_attachments,
            message_id=s.message_id,
            in_reply_to=s.in_reply_to,
            sent_by=s.sent_by,
        )


class MessagePage(BaseModel):
    items: list[MessageOut]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null: end")


class SearchResult(BaseModel):
    items: list[MessageOut]
    truncated: bool = Field(description="true when more messages match than one answer holds")


class HeaderOut(BaseModel):
    name: str
    value: str


class AttachmentOut(BaseModel):
    index: int
    filename: str
    content_type: str
    size: int
    inline: bool

    @classmethod
    def of(cls, a: AttachmentInfo) -> "AttachmentOut":
        return cls(
            index=a.index,
            filename=a.filename,
            content_type=a.content_type,
            size=a.size,
            inline=a.inline,
        )


class MessageDetail(BaseModel):
    message: MessageOut
    headers: list[HeaderOut]
    text: str | None = Field(description="the text/plain body")
    html: str | None = Field(description="the text/html body, sanitised")
    remote_blocked: int
    attachments: list[AttachmentOut]
    read_by: list[str] = Field(description="members who have read it (group mailboxes)")


class MessagePatch(Body):
    seen: bool | None = Field(None, description="the caller's own read state")
    flags: list[FlagName] | None = Field(None, max_length=4, description="replaces the flags")
    flagged: bool | None = Field(None, description="sets or clears `flagged` alone")
    keywords: list[Keyword] | None = Field(None, max_length=50)


class Transfer(Body):
    ids: list[Id] = Field(min_length=1, max_length=MAX_IDS)
    folder_id: Id


class IdList(BaseModel):
    ids: list[int]


class SendRequest(Body):
    from_addr: AddressText = Field(alias="from")
    from_name: Line | None = None
    to: list[AddressText] = Field(default_factory=list, max_length=MAX_RECIPIENTS)
    cc: list[AddressText] = Field(default_factory=list, max_length=MAX_RECIPIENTS)
    bcc: list[AddressText] = Field(default_factory=list, max_length=MAX_RECIPIENTS)
    subject: Line = ""
    body: Annotated[str, Field(max_length=MAX_BODY)] = ""
    in_reply_to: Line = ""
    references: Annotated[str, Field(max_length=10_000, pattern=LINE)] = ""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class SendResult(BaseModel):
    sent_copy_id: int = Field(description="the copy kept in the sending mailbox's Sent")
    sender: str
    local: list[str]
    queued: list[str]


class Me(BaseModel):
    id: int
    address: str
    role: Literal["user", "org_admin", "service_admin"]
    org_id: int | None
    via: Literal["token", "session"]
    scope: Literal["read", "write"]
    personal_mailbox_id: int | None
