"""Domain events that services publish after commit for live sessions (IDLE, webmail)."""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class MailboxChanged:
    """Something in a folder changed: new mail, flags, expunge."""

    mailbox_id: int
    folder_id: int
    kind: str  # "new", "flags", "expunge", "folders"


@dataclass(frozen=True, slots=True)
class GrantsChanged:
    """Rights on a mailbox changed; sessions re-check what they show."""

    mailbox_id: int
    user_id: int


Event = MailboxChanged | GrantsChanged
