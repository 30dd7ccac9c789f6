"""Folder commands: LIST (RFC 5258 LIST-EXTENDED, RFC 5819 LIST-STATUS, RFC 6154 SPECIAL-USE),
LSUB, SUBSCRIBE, UNSUBSCRIBE, STATUS, CREATE, DELETE, RENAME."""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from securemail.core.errors import Conflict, NotFound, PermissionDenied
from securemail.core.model import Folder, SpecialUse
from securemail.protocols.imap import names
from securemail.protocols.imap.errors import Bad, No
from securemail.protocols.imap.state import Outcome, ok
from securemail.wire.imap.parser import Command, astring, atom, token_list

if TYPE_CHECKING:
    from securemail.protocols.imap.session import Session

SPECIAL = {
    SpecialUse.SENT: "\\Sent",
    SpecialUse.DRAFTS: "\\Drafts",
    SpecialUse.TRASH: "\\Trash",
}
SELECT_OPTIONS = {"SUBSCRIBED", "REMOTE", "RECURSIVEMATCH", "SPECIAL-USE"}  # RFC 5258, 6154
RETURN_OPTIONS = {"SUBSCRIBED", "CHILDREN", "SPECIAL-USE", "STATUS"}  # RFC 5258, 6154, 5819
STATUS_ITEMS = ("MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "RECENT", "HIGHESTMODSEQ", "SIZE")


@dataclass
class ListRequest:
    """list = "LIST" [SP list-select-opts] SP mailbox SP mbox-or-pat [SP list-return-opts]."""

    reference: str
    patterns: list[str]
    select: set[str] = field(default_factory=set)
    returns: set[str] = field(default_factory=set)
    status: list[str] = field(default_factory=list)


def pattern_regex(pattern: str) -> re.Pattern[str]:
    """list-mailbox wildcards: `*` matches anything, `%` anything but the separator."""
    parts = []
    for char in pattern:
        parts.append(".*" if char == "*" else "[^/]*" if char == "%" else re.escape(char))
    return re.compile("".join(parts) + r"\Z", re.DOTALL)


def _matches(name: str, patterns: list[str]) -> bool:
    """INBOX matches case-insensitively, every other name exactly (RFC 3501 6.3.8)."""
    for pattern in patterns:
        if pattern_regex(pattern).match(name):
            return True
        if name == "INBOX" and pattern_regex(pattern.upper()).match(name):
            return True
    return False


def parse_list(args: list[object]) -> ListRequest:
    args = list(args)
    select: set[str] = set()
    if args and isinstance(args[0], list):
        select = {atom(a).upper() for a in token_list(args.pop(0))}
        if not select <= SELECT_OPTIONS:
            raise Bad("unknown LIST selection option")
    if len(args) < 2:
        raise Bad("LIST takes a reference and a mailbox pattern")
    reference, spec = astring(args[0]), args[1]
    patterns = [astring(p) for p in spec] if isinstance(spec, list) else [astring(spec)]
    request = ListRequest(reference, patterns, select)
    rest = args[2:]
    if rest:
        if len(rest) != 2 or atom(rest[0]).upper() != "RETURN":
            raise Bad("expected RETURN (options)")
        _return_options(request, token_list(rest[1]))
    return request


def _return_options(request: ListRequest, options: list[object]) -> None:
    index = 0
    while index < len(options):
        word = atom(options[index]).upper()
        if word == "STATUS":
            index += 1
            items = token_list(options[index]) if index < len(options) else []
            request.status = [atom(i).upper() for i in items]
            if not request.status or any(i not in STATUS_ITEMS for i in request.status):
                raise Bad("bad STATUS return option")
        elif word not in RETURN_OPTIONS:
            raise Bad(f"unknown LIST return option {word[:40]}")
        request.returns.add(word)
        index += 1


async def list_(s: Session, cmd: Command) -> Outcome:
    request = parse_list(cmd.args)
    if request.patterns == [""]:
        await s.untagged('LIST (\\Noselect) "/" ""')
        return ok("LIST completed")
    await _list(s, request, "LIST")
    return ok("LIST completed")


async def lsub(s: Session, cmd: Command) -> Outcome:
    if len(cmd.args) != 2:
        raise Bad("LSUB takes a reference and a mailbox pattern")
    request = ListRequest(astring(cmd.args[0]), [astring(cmd.args[1])], {"SUBSCRIBED"})
    await _list(s, request, "LSUB")
    return ok("LSUB completed")


async def _subscribed_names(s: Session) -> set[str]:
    prefixes = await names.mailboxes(s)
    out = set()
    for mailbox_id, folder in await s.services.mailboxes.list_subscriptions(s.login.ctx):
        name = names.name_of(prefixes, mailbox_id, folder)
        if name is not None:
            out.add(name)
    return out


async def _list(s: Session, request: ListRequest, verb: str) -> None:
    entries = await names.entries(s)
    subscribed = await _subscribed_names(s)
    patterns = [names.decode_name(s, request.reference + p) for p in request.patterns if p]
    all_names = [e.name for e in entries]
    for entry in entries:
        if not _matches(entry.name, patterns):
            continue
        if "SUBSCRIBED" in request.select and entry.name not in subscribed:
            continue
        if "SPECIAL-USE" in request.select and not _special(entry.folder):
            continue
        attrs = _attributes(entry, all_names, subscribed, request, verb)
        name = names.quote(s, entry.name)
        await s.untagged(f'{verb} ({" ".join(attrs)}) "/" {name}')
        if request.status and entry.folder is not None:
            await s.untagged(await _status_line(s, entry.name, entry.folder, request.status))


def _special(folder: Folder | None) -> str:
    if folder is None or folder.special_use is None:
        return ""
    return SPECIAL.get(folder.special_use, "")


def _attributes(
    entry: names.Entry, all_names: list[str], subscribed: set[str], req: ListRequest, verb: str
) -> list[str]:
    attrs = []
    if entry.folder is None:
        attrs.append("\\Noselect")
    children = any(n.startswith(entry.name + "/") for n in all_names)
    attrs.append("\\HasChildren" if children else "\\HasNoChildren")
    if special := _special(entry.folder):
        attrs.append(special)
    sub = "SUBSCRIBED" in req.select or "SUBSCRIBED" in req.returns
    if verb == "LIST" and sub and entry.name in subscribed:
        attrs.append("\\Subscribed")
    return attrs


async def _status_line(s: Session, name: str, folder: Folder, items: list[str]) -> str:
    counted = {
        f.id: f for f in await s.services.mailboxes.list_folders(s.login.ctx, folder.mailbox_id)
    }
    full = counted.get(folder.id, folder)
    values = {
        "MESSAGES": full.total,
        "UIDNEXT": full.uidnext,
        "UIDVALIDITY": full.uidvalidity,
        "UNSEEN": full.unseen,
        "RECENT": 0,
        "HIGHESTMODSEQ": full.highestmodseq,
    }
    if "SIZE" in items:
        _f, summaries = await s.services.messages.folder_view(s.login.ctx, folder.id)
        values["SIZE"] = sum(m.size for m in summaries)
    body = " ".join(f"{item} {values[item]}" for item in items)
    return f"STATUS {names.quote(s, name)} ({body})"


async def status(s: Session, cmd: Command) -> Outcome:
    """status = "STATUS" SP mailbox SP "(" status-att *(SP status-att) ")"."""
    if len(cmd.args) != 2:
        raise Bad("STATUS takes a mailbox and a list of items")
    items = [atom(i).upper() for i in token_list(cmd.args[1])]
    if not items or any(i not in STATUS_ITEMS for i in items):
        raise Bad("unknown STATUS item")
    name = names.decode_name(s, astring(cmd.args[0]))
    _mailbox, folder = await names.resolve(s, name)
    await s.untagged(await _status_line(s, name, folder, items))
    return ok("STATUS completed")


async def subscribe(s: Session, cmd: Command) -> Outcome:
    return await _subscription(s, cmd, True)


async def unsubscribe(s: Session, cmd: Command) -> Outcome:
    return await _subscription(s, cmd, False)


async def _subscription(s: Session, cmd: Command, value: bool) -> Outcome:
    if len(cmd.args) != 1:
        raise Bad(f"{cmd.name} takes a mailbox name")
    mailbox, path = await names.split(s, names.decode_name(s, astring(cmd.args[0])))
    if not path:
        raise No("cannot subscribe to that name", "CANNOT")
    await s.services.mailboxes.set_subscription(s.login.ctx, mailbox.id, path, value)
    return ok(f"{cmd.name} completed")


async def create(s: Session, cmd: Command) -> Outcome:
    """create = "CREATE" SP mailbox; superior levels are created as needed (RFC 3501 6.3.3)."""
    if not cmd.args or len(cmd.args) > 2:
        raise Bad("CREATE takes a mailbox name")
    mailbox, path = await names.split(s, names.decode_name(s, astring(cmd.args[0])))
    if not path or path == "INBOX":
        raise No("that mailbox exists already", "ALREADYEXISTS")
    ctx = s.login.ctx
    parts = path.split("/")
    for depth in range(1, len(parts)):
        with contextlib.suppress(Conflict):
            await s.services.mailboxes.create_folder(ctx, mailbox.id, "/".join(parts[:depth]))
    await s.services.mailboxes.create_folder(ctx, mailbox.id, path)
    return ok("CREATE completed")


async def delete(s: Session, cmd: Command) -> Outcome:
    if len(cmd.args) != 1:
        raise Bad("DELETE takes a mailbox name")
    _mailbox, folder = await names.resolve(s, names.decode_name(s, astring(cmd.args[0])))
    view = s.state.view
    if view is not None and view.folder.id == folder.id:
        s.state.view = None
    await s.services.mailboxes.delete_folder(s.login.ctx, folder.id)
    return ok("DELETE completed")


async def rename(s: Session, cmd: Command) -> Outcome:
    if len(cmd.args) != 2:
        raise Bad("RENAME takes two mailbox names")
    old_name = names.decode_name(s, astring(cmd.args[0]))
    mailbox, folder = await names.resolve(s, old_name)
    target, path = await names.split(s, names.decode_name(s, astring(cmd.args[1])))
    if target.id != mailbox.id:
        raise No("folders move only within one mailbox", "CANNOT")
    try:
        await s.services.mailboxes.find_folder_by_name(s.login.ctx, mailbox.id, path)
    except NotFound:
        pass
    else:
        raise No("that mailbox exists already", "ALREADYEXISTS")
    if not path:
        raise PermissionDenied("cannot rename to that name")
    await s.services.mailboxes.rename_folder(s.login.ctx, folder.id, path)
    return ok("RENAME completed")
