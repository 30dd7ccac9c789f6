"""Rights on mailboxes and the single function that says what a user may do in one."""

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from securemail.core.errors import InvalidInput


class Right(enum.Flag):
    """What a user may do in a mailbox. Everything but READ takes effect only with READ."""

    NONE = 0
    READ = enum.auto()  # see the mailbox, list, open and search its messages
    WRITE = enum.auto()  # move/copy mail into it, file between its folders, manage its folders
    MAIL = enum.auto()  # send as its address; save into its Sent and Drafts
    DELETE = enum.auto()  # move to its Trash, expunge, set \Deleted
    MANAGE = enum.auto()  # grant and revoke rights on this one mailbox


ALL_RIGHTS = Right.READ | Right.WRITE | Right.MAIL | Right.DELETE | Right.MANAGE
OWNER_RIGHTS = Right.READ | Right.WRITE | Right.MAIL | Right.DELETE
RIGHT_NAMES: dict[str, Right] = {
    "read": Right.READ,
    "write": Right.WRITE,
    "mail": Right.MAIL,
    "delete": Right.DELETE,
    "manage": Right.MANAGE,
}


class Role(enum.StrEnum):
    """A user's administrative role, separate from rights on mailboxes."""

    USER = "user"
    ORG_ADMIN = "org_admin"
    SERVICE_ADMIN = "service_admin"


class MailboxKind(enum.StrEnum):
    """A personal mailbox belongs to one user; a group mailbox is opened through grants."""

    PERSONAL = "personal"
    GROUP = "group"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking: the facts effective_rights needs about a user."""

    user_id: int
    org_id: int | None
    role: Role


@dataclass(frozen=True, slots=True)
class MailboxFacts:
    """The facts effective_rights needs about a mailbox."""

    mailbox_id: int
    org_id: int
    kind: MailboxKind
    owner_user_id: int | None
    disabled: bool = False


def parse_rights(text: str) -> Right:
    """Parse a comma list such as `read,write`; raise InvalidInput naming an unknown right."""
    rights = Right.NONE
    words = [w.strip().lower() for w in text.split(",")]
    if not any(words):
        raise InvalidInput("no rights given: use a comma list of read,write,mail,delete,manage")
    for word in words:
        if word not in RIGHT_NAMES:
            raise InvalidInput(f"unknown right {word!r}: use read,write,mail,delete,manage")
        rights |= RIGHT_NAMES[word]
    return rights


def format_rights(rights: Right) -> str:
    """Return the canonical comma list of `rights` (empty string for none)."""
    return ",".join(name for name, flag in RIGHT_NAMES.items() if flag in rights)


def rights_from_bits(bits: int) -> Right:
    """Turn a stored integer back into rights, ignoring bits no right uses."""
    return Right(bits & ALL_RIGHTS.value)


def effective_rights(
    principal: Principal, mailbox: MailboxFacts, granted: Iterable[Right] = ()
) -> Right:
    """The single answer to "what may this user do in this mailbox".

    A user's own personal mailbox gives every right but MANAGE (personal mailboxes are not
    shared). A group mailbox gives what was granted to the user in the same organisation, and
    nothing unless READ is among it. Administrative roles give no access to mail: an
    administrator reads a group mailbox only when granted READ like anyone else.
    """
    if mailbox.disabled:
        return Right.NONE
    if mailbox.kind is MailboxKind.PERSONAL:
        return OWNER_RIGHTS if mailbox.owner_user_id == principal.user_id else Right.NONE
    if principal.org_id != mailbox.org_id:
        return Right.NONE
    rights = Right.NONE
    for grant in granted:
        rights |= grant
    return rights if Right.READ in rights else Right.NONE


def may_administer_org(principal: Principal, org_id: int) -> bool:
    """True for the service administrator and for an administrator of `org_id`."""
    if principal.role is Role.SERVICE_ADMIN:
        return True
    return principal.role is Role.ORG_ADMIN and principal.org_id == org_id


def may_manage_grants(principal: Principal, mailbox: MailboxFacts, rights: Right) -> bool:
    """Grants on a group mailbox: its organisation's administrators, or a holder of MANAGE."""
    if mailbox.kind is not MailboxKind.GROUP:
        return False
    return may_administer_org(principal, mailbox.org_id) or Right.MANAGE in rights
