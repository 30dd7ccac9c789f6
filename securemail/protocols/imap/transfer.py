"""Adding and removing messages: APPEND, COPY, MOVE (RFC 6851), EXPUNGE and UID EXPUNGE with
UIDPLUS responses (RFC 4315: APPENDUID, COPYUID).

    append          = "APPEND" SP mailbox [SP flag-list] [SP date-time] SP literal
    copy            = "COPY" SP sequence-set SP mailbox
    move            = "MOVE" SP sequence-set SP mailbox
    uid-expunge     = "UID" SP "EXPUNGE" SP sequence-set
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import TYPE_CHECKING

from securemail.core.errors import NotFound, PermissionDenied
from securemail.core.model import Flag, Folder, Mailbox
from securemail.protocols.imap import names
from securemail.protocols.imap.errors import Bad, No
from securemail.protocols.imap.flags import parse_flags
from securemail.protocols.imap.state import Outcome, ok
from securemail.wire.imap.parser import Command, astring, date_time, sequence_set, token_list

if TYPE_CHECKING:
    from securemail.protocols.imap.session import Session


async def _target(s: Session, token: object) -> tuple[Mailbox, Folder]:
    """The destination folder; a missing one answers NO [TRYCREATE] (RFC 3501 6.3.11)."""
    try:
        return await names.resolve(s, names.decode_name(s, astring(token)))
    except NotFound:
        raise No("no such mailbox", "TRYCREATE") from None


async def append(s: Session, cmd: Command) -> Outcome:
    args = list(cmd.args)
    if len(args) < 2 or not isinstance(args[-1], bytes):
        raise Bad("APPEND takes a mailbox, optional flags and date, and a literal")
    raw = args.pop()
    assert isinstance(raw, bytes)
    flags = None
    if len(args) > 1 and isinstance(args[1], list):
        flags = parse_flags(token_list(args.pop(1)))
    when: datetime | None = date_time(args.pop(1)) if len(args) > 1 else None
    if len(args) != 1:
        raise Bad("unexpected APPEND arguments")
    _mailbox, folder = await _target(s, args[0])
    messages, ctx = s.services.messages, s.login.ctx
    summary = await messages.append(
        ctx,
        folder.id,
        raw,
        flags=flags.flags if flags else Flag.NONE,
        seen=bool(flags and flags.seen),
        internal_date=when,
    )
    if flags and flags.keywords:
        with contextlib.suppress(PermissionDenied):
            await messages.set_flags(ctx, summary.id, summary.flags, sorted(flags.keywords))
    return ok("APPEND completed", f"APPENDUID {folder.uidvalidity} {summary.uid}")


async def copy(s: Session, cmd: Command) -> Outcome:
    if len(cmd.args) != 2:
        raise Bad(f"{cmd.name} takes a sequence set and a mailbox")
    picked = s.view.select(sequence_set(cmd.args[0]), cmd.name.startswith("UID"))
    _mailbox, folder = await _target(s, cmd.args[1])
    if not picked:
        return ok(f"{cmd.name} completed, nothing to copy")
    messages, ctx = s.services.messages, s.login.ctx
    new_ids = await messages.copy(ctx, [m.id for _seq, m in picked], folder.id)
    new_uids = [(await messages.get_summary(ctx, i)).uid for i in new_ids]
    code = _copyuid(folder, [m.uid for _seq, m in picked], new_uids)
    return ok(f"{cmd.name} completed", code)


async def move(s: Session, cmd: Command) -> Outcome:
    if len(cmd.args) != 2:
        raise Bad(f"{cmd.name} takes a sequence set and a mailbox")
    view = s.view
    if view.readonly:
        raise No("the mailbox is open read-only", "READ-ONLY")
    picked = view.select(sequence_set(cmd.args[0]), cmd.name.startswith("UID"))
    _mailbox, folder = await _target(s, cmd.args[1])
    if not picked or folder.id == view.folder.id:
        return ok(f"{cmd.name} completed, nothing moved")
    messages, ctx = s.services.messages, s.login.ctx
    ids = [m.id for _seq, m in picked]
    await messages.move(ctx, ids, folder.id)
    new_uids = [(await messages.get_summary(ctx, i)).uid for i in ids]
    code = _copyuid(folder, [m.uid for _seq, m in picked], new_uids)
    await s.untagged(f"OK [{code}] moved")
    return ok(f"{cmd.name} completed")


def _copyuid(folder: Folder, old: list[int], new: list[int]) -> str:
    return f"COPYUID {folder.uidvalidity} {_uid_set(old)} {_uid_set(new)}"


def _uid_set(uids: list[int]) -> str:
    return ",".join(str(u) for u in uids)


async def expunge(s: Session, cmd: Command) -> Outcome:
    view = s.view
    if view.readonly:
        raise No("the mailbox is open read-only", "READ-ONLY")
    messages, ctx = s.services.messages, s.login.ctx
    if cmd.name == "UID EXPUNGE":
        if len(cmd.args) != 1:
            raise Bad("UID EXPUNGE takes a UID set")
        wanted = {m.uid for _seq, m in view.select(sequence_set(cmd.args[0]), True)}
        await messages.expunge_uids(ctx, view.folder.id, wanted)
    else:
        if cmd.args:
            raise Bad("EXPUNGE takes no arguments")
        await messages.expunge(ctx, view.folder.id)
    return ok(f"{cmd.name} completed")
