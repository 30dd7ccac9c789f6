"""ACL (RFC 4314): MYRIGHTS, GETACL, LISTRIGHTS, SETACL, DELETEACL mapped onto our rights.

Rights are per mailbox, not per folder: every folder of a group mailbox shows the same ACL.
Read = lrs, Write = iwk, Mail = p, Delete = tex, Manage = a (the one mapping table below).

    setacl          = "SETACL" SP mailbox SP identifier SP mod-rights
    mod-rights      = astring     ; +rights to add, -rights to remove, rights to replace
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from securemail.core.model import Mailbox
from securemail.core.rights import OWNER_RIGHTS, MailboxKind, Right
from securemail.protocols.imap import names
from securemail.protocols.imap.errors import Bad, No
from securemail.protocols.imap.state import Outcome, ok
from securemail.wire.imap.parser import Command, astring
from securemail.wire.imap.responses import astring as astring_out

if TYPE_CHECKING:
    from securemail.protocols.imap.session import Session

LETTERS: tuple[tuple[Right, str], ...] = (
    (Right.READ, "lrs"),
    (Right.WRITE, "iwk"),
    (Right.MAIL, "p"),
    (Right.DELETE, "tex"),
    (Right.MANAGE, "a"),
)
OBSOLETE = {"c": Right.WRITE, "d": Right.DELETE}  # RFC 4314 2.1.1
CANONICAL = "lrswipkxtea"


def to_letters(rights: Right) -> str:
    letters = "".join(text for right, text in LETTERS if right in rights)
    return "".join(c for c in CANONICAL if c in letters)


def from_letters(text: str) -> Right:
    rights = Right.NONE
    for char in text:
        found = [right for right, letters in LETTERS if char in letters]
        if not found and char not in OBSOLETE:
            raise Bad(f"unknown right {char!r}")
        rights |= found[0] if found else OBSOLETE[char]
    return rights


async def _mailbox(s: Session, token: object) -> tuple[str, Mailbox]:
    name = names.decode_name(s, astring(token))
    mailbox, _folder = await names.resolve(s, name)
    return name, mailbox


def _quoted(s: Session, name: str) -> str:
    return names.quote(s, name)


async def myrights(s: Session, cmd: Command) -> Outcome:
    if len(cmd.args) != 1:
        raise Bad("MYRIGHTS takes a mailbox name")
    name, mailbox = await _mailbox(s, cmd.args[0])
    await s.untagged(f"MYRIGHTS {_quoted(s, name)} {to_letters(mailbox.rights)}")
    return ok("MYRIGHTS completed")


async def getacl(s: Session, cmd: Command) -> Outcome:
    if len(cmd.args) != 1:
        raise Bad("GETACL takes a mailbox name")
    name, mailbox = await _mailbox(s, cmd.args[0])
    if mailbox.kind is MailboxKind.PERSONAL:
        pairs = [(s.login.ctx.address, OWNER_RIGHTS)]
    else:
        grants = await s.services.sharing.list_grants(s.login.ctx, mailbox.address)
        pairs = [(g.user_address, g.rights) for g in grants if Right.READ in g.rights]
    body = "".join(f" {_q(user)} {to_letters(rights)}" for user, rights in pairs)
    await s.untagged(f"ACL {_quoted(s, name)}{body}")
    return ok("GETACL completed")


def _q(text: str) -> str:
    return astring_out(text).decode()


async def listrights(s: Session, cmd: Command) -> Outcome:
    if len(cmd.args) != 2:
        raise Bad("LISTRIGHTS takes a mailbox name and an identifier")
    name, _found = await _mailbox(s, cmd.args[0])
    who = astring(cmd.args[1])
    groups = " ".join(letters for _right, letters in LETTERS)
    await s.untagged(f'LISTRIGHTS {_quoted(s, name)} {_q(who)} "" {groups}')
    return ok("LISTRIGHTS completed")


async def _group(s: Session, token: object) -> Mailbox:
    _name, mailbox = await _mailbox(s, token)
    if mailbox.kind is not MailboxKind.GROUP:
        raise No("personal mailboxes are not shared", "CANNOT")
    return mailbox


async def setacl(s: Session, cmd: Command) -> Outcome:
    if len(cmd.args) != 3:
        raise Bad("SETACL takes a mailbox, an identifier and rights")
    mailbox = await _group(s, cmd.args[0])
    who, text = astring(cmd.args[1]), astring(cmd.args[2])
    sharing, ctx = s.services.sharing, s.login.ctx
    mode = text[:1] if text[:1] in "+-" else ""
    rights = from_letters(text.lstrip("+-"))
    if mode == "-":
        if rights:
            await sharing.revoke(ctx, mailbox.address, who, rights)
    elif mode == "+":
        if rights:
            await sharing.grant(ctx, mailbox.address, who, rights)
    else:
        if rights and Right.READ not in rights:
            raise No("every right needs read (lrs) as well", "CANNOT")
        await sharing.revoke(ctx, mailbox.address, who)
        if rights:
            await sharing.grant(ctx, mailbox.address, who, rights)
    return ok("SETACL completed")


async def deleteacl(s: Session, cmd: Command) -> Outcome:
    if len(cmd.args) != 2:
        raise Bad("DELETEACL takes a mailbox and an identifier")
    mailbox = await _group(s, cmd.args[0])
    await s.services.sharing.revoke(s.login.ctx, mailbox.address, astring(cmd.args[1]))
    return ok("DELETEACL completed")
