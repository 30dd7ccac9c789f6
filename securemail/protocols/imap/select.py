"""Opening and closing folders: SELECT, EXAMINE (with CONDSTORE, RFC 7162), CLOSE, UNSELECT."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from securemail.core.errors import PermissionDenied
from securemail.core.rights import Right
from securemail.protocols.imap import names
from securemail.protocols.imap.errors import Bad
from securemail.protocols.imap.state import Outcome, ok
from securemail.protocols.imap.view import SYSTEM_FLAGS, View, open_view
from securemail.wire.imap.parser import Command, astring, atom, token_list

if TYPE_CHECKING:
    from securemail.protocols.imap.session import Session


def permanent_flags(rights: Right) -> str:
    """What this user may change: \\Seen with Read; \\Deleted with Delete; the rest with Write."""
    flags = ["\\Seen"]
    if Right.DELETE in rights:
        flags.append("\\Deleted")
    if Right.WRITE in rights:
        flags += ["\\Answered", "\\Flagged", "\\Draft", "\\*"]
    return " ".join(flags)


async def select(s: Session, cmd: Command) -> Outcome:
    return await _open(s, cmd, readonly=False)


async def examine(s: Session, cmd: Command) -> Outcome:
    return await _open(s, cmd, readonly=True)


async def _open(s: Session, cmd: Command, *, readonly: bool) -> Outcome:
    """select = "SELECT" SP mailbox [SP "(" select-param *(SP select-param) ")"]."""
    if not cmd.args or len(cmd.args) > 2:
        raise Bad(f"{cmd.name} takes a mailbox name")
    if len(cmd.args) == 2:
        params = [atom(p).upper() for p in token_list(cmd.args[1])]
        if any(p != "CONDSTORE" for p in params):
            raise Bad("unknown SELECT parameter")
        s.state.enabled.add("CONDSTORE")
    s.state.view = None  # a failed SELECT leaves no folder selected (RFC 3501 6.3.1)
    name = names.decode_name(s, astring(cmd.args[0]))
    mailbox, folder = await names.resolve(s, name)
    view = await open_view(s, mailbox, folder, name, readonly)
    await _describe(s, view)
    s.state.view = view
    code = "READ-ONLY" if readonly else "READ-WRITE"
    return ok(f"{cmd.name} completed", code)


async def _describe(s: Session, view: View) -> None:
    flags = " ".join(name for _flag, name in SYSTEM_FLAGS) + " \\Seen"
    keywords = sorted({k for m in view.messages.values() for k in m.keywords})
    await s.untagged(f"FLAGS ({' '.join([flags, *keywords])})")
    permanent = "" if view.readonly else permanent_flags(view.mailbox.rights)
    await s.untagged(f"OK [PERMANENTFLAGS ({permanent})] flags you may change")
    await s.untagged(f"{view.exists} EXISTS")
    await s.untagged("0 RECENT")
    unseen = next((i for i, u in enumerate(view.uids, 1) if not view.messages[u].seen), 0)
    if unseen:
        await s.untagged(f"OK [UNSEEN {unseen}] first unseen message")
    await s.untagged(f"OK [UIDVALIDITY {view.folder.uidvalidity}] UIDs valid")
    await s.untagged(f"OK [UIDNEXT {view.folder.uidnext}] predicted next UID")
    await s.untagged(f"OK [HIGHESTMODSEQ {view.folder.highestmodseq}] highest")


async def close(s: Session, cmd: Command) -> Outcome:
    """CLOSE expunges \\Deleted messages silently when the user may delete (RFC 3501 6.4.2)."""
    if cmd.args:
        raise Bad("CLOSE takes no arguments")
    view = s.view
    s.state.view = None
    if not view.readonly and Right.DELETE in view.mailbox.rights:
        with contextlib.suppress(PermissionDenied):
            await s.services.messages.expunge(s.login.ctx, view.folder.id)
    return ok("CLOSE completed")


async def unselect(s: Session, cmd: Command) -> Outcome:
    if cmd.args:
        raise Bad("UNSELECT takes no arguments")
    s.state.view = None
    return ok("UNSELECT completed")
