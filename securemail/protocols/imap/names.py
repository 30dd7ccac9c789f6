"""Folder names: the personal namespace, and `Shared/<group address>/<folder>` for groups."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from securemail.core.errors import NotFound
from securemail.core.model import FOLDER_SEPARATOR, Folder, Mailbox
from securemail.protocols.imap.errors import Bad
from securemail.wire.imap.responses import decode_utf7, encode_utf7, quoted_or_literal

if TYPE_CHECKING:
    from securemail.protocols.imap.session import Session

SHARED_PREFIX = "Shared"
SEP = FOLDER_SEPARATOR


@dataclass(frozen=True)
class Entry:
    """One name LIST may show: a folder, or a \\Noselect container of the shared namespace."""

    name: str
    mailbox: Mailbox
    folder: Folder | None


def decode_name(s: Session, raw: str) -> str:
    """A client's mailbox name: UTF-8 after ENABLE UTF8=ACCEPT, else modified UTF-7."""
    if "UTF8=ACCEPT" in s.state.enabled:
        name = raw
    else:
        try:
            name = decode_utf7(raw)
        except (ValueError, UnicodeDecodeError):
            raise Bad("mailbox name is not modified UTF-7") from None
    name = name.rstrip(SEP)
    return "INBOX" if name.upper() == "INBOX" else name


def encode_name(s: Session, name: str) -> str:
    return name if "UTF8=ACCEPT" in s.state.enabled else encode_utf7(name)


def quote(s: Session, name: str) -> str:
    """A mailbox name as it goes on the wire."""
    utf8 = "UTF8=ACCEPT" in s.state.enabled
    return quoted_or_literal(encode_name(s, name), utf8=utf8).decode("utf-8")


async def mailboxes(s: Session) -> list[tuple[str, Mailbox]]:
    """(prefix, mailbox): the home mailbox at the top, readable groups under Shared/."""
    login = s.login
    if login.group_login:  # rights as they are now, not as they were at login
        return [("", await s.services.mailboxes.get_mailbox(login.ctx, login.home.id))]
    out = [("", login.home)]
    for mailbox in await s.services.mailboxes.list_mailboxes(login.ctx):
        if mailbox.id != login.home.id:
            out.append((f"{SHARED_PREFIX}{SEP}{mailbox.address}{SEP}", mailbox))
    return out


async def entries(s: Session) -> list[Entry]:
    """Every name of the session's hierarchy, containers included."""
    out: list[Entry] = []
    shared_seen = False
    for prefix, mailbox in await mailboxes(s):
        if prefix:
            if not shared_seen:
                out.append(Entry(SHARED_PREFIX, mailbox, None))
                shared_seen = True
            out.append(Entry(prefix.rstrip(SEP), mailbox, None))
        for folder in await s.services.mailboxes.list_folders(s.login.ctx, mailbox.id):
            out.append(Entry(prefix + folder.name, mailbox, folder))
    return out


async def split(s: Session, name: str) -> tuple[Mailbox, str]:
    """The mailbox a name lives in and the folder path inside it (which may not exist)."""
    for prefix, mailbox in reversed(await mailboxes(s)):
        if prefix and name.lower().startswith(prefix.lower()):
            rest = name[len(prefix) :]
            return mailbox, "INBOX" if rest.upper() == "INBOX" else rest
        if not prefix:
            shared = name == SHARED_PREFIX or name.startswith(SHARED_PREFIX + SEP)
            if shared and not s.login.group_login:
                raise NotFound("no such mailbox")
            return mailbox, name
    raise NotFound("no such mailbox")


async def resolve(s: Session, name: str) -> tuple[Mailbox, Folder]:
    """The folder a name denotes; NotFound when absent or not visible."""
    mailbox, path = await split(s, name)
    if not path:
        raise NotFound("no such mailbox")
    folder = await s.services.mailboxes.find_folder_by_name(s.login.ctx, mailbox.id, path)
    return mailbox, folder


def name_of(prefix_map: list[tuple[str, Mailbox]], mailbox_id: int, folder: str) -> str | None:
    for prefix, mailbox in prefix_map:
        if mailbox.id == mailbox_id:
            return prefix + folder
    return None
