"""The rights matrix: every service operation on a group mailbox or on the administration, for
every kind of principal, gives the outcome the rights model promises, and a refusal changes
nothing.

Rules the table encodes (DESIGN.md section 1 and core/rights.py):
- read: see the group mailbox, list, open and search its messages, set one's own \\Seen;
- write: create/rename/delete folders, copy/move/append into the group, file between its
  folders, change shared flags other than \\Deleted;
- mail: append into Sent and Drafts (send-as is checked at submission);
- delete: \\Deleted, delete to Trash, expunge, empty Trash, move a message out of the group;
  filing a message into the Trash is deleting, so it needs delete as well as write;
- manage: grant, revoke and list grants, and see this mailbox's audit;
- without read the group mailbox, its folders and messages do not exist (NotFound, never
  PermissionDenied), whatever the caller's role;
- organisation administrators run their own organisation (users, groups, grants, audit) but
  read no mail without a grant; an administrator of another organisation is told org A's
  objects do not exist; plain users are told administration is not theirs (PermissionDenied);
- only the service administrator creates organisations, adds domains, appoints organisation
  administrators and delivers mail.

Outcomes: ok | NF (NotFound) | PD (PermissionDenied) | AF (AuthenticationFailed) | hide (a list
succeeds but leaves org A's object out) | - (not applicable: the service administrator owns no
mailbox and cannot log in).

Where the services deliberately answer otherwise than the rules above, the table follows them:
send_as refuses everyone without mail with the same PermissionDenied, hidden or not (SMTP MAIL
FROM); app passwords of another user are NotFound to anyone who does not administer them; POP3
delete by a member without delete only hides the message from that member.
"""

import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from securemail.core.context import AccessContext
from securemail.core.errors import AuthenticationFailed, NotFound, PermissionDenied
from securemail.core.model import Flag
from securemail.core.rights import ALL_RIGHTS, Right, Role
from securemail.core.search import SearchQuery
from securemail.services.maildrop import Maildrop
from tests.services.conftest import (
    DOMAIN_A,
    GRANTS,
    GROUP,
    LEAD,
    MEMBER,
    PASSWORD,
    PRINCIPALS,
    SEARCH_WORD,
    Actor,
    World,
    raw_message,
)

# fmt: off
MATRIX = """
operation            svc   admA  admB  none  r     rw    rm    rd    rmg   userB
list_mailboxes       hide  hide  hide  hide  ok    ok    ok    ok    ok    hide
get_mailbox          NF    NF    NF    NF    ok    ok    ok    ok    ok    NF
get_mailbox_by_addr  NF    NF    NF    NF    ok    ok    ok    ok    ok    NF
list_folders         NF    NF    NF    NF    ok    ok    ok    ok    ok    NF
get_folder           NF    NF    NF    NF    ok    ok    ok    ok    ok    NF
find_folder_by_name  NF    NF    NF    NF    ok    ok    ok    ok    ok    NF
create_folder        NF    NF    NF    NF    PD    ok    PD    PD    PD    NF
rename_folder        NF    NF    NF    NF    PD    ok    PD    PD    PD    NF
delete_folder        NF    NF    NF    NF    PD    ok    PD    PD    PD    NF
list_messages        NF    NF    NF    NF    ok    ok    ok    ok    ok    NF
get_summary          NF    NF    NF    NF    ok    ok    ok    ok    ok    NF
open_message         NF    NF    NF    NF    ok    ok    ok    ok    ok    NF
set_seen             NF    NF    NF    NF    ok    ok    ok    ok    ok    NF
set_flag_flagged     NF    NF    NF    NF    PD    ok    PD    PD    PD    NF
set_flag_deleted     NF    NF    NF    NF    PD    PD    PD    ok    PD    NF
search               NF    NF    NF    NF    ok    ok    ok    ok    ok    NF
set_subscription     NF    NF    NF    NF    ok    ok    ok    ok    ok    NF
folder_view          NF    NF    NF    NF    ok    ok    ok    ok    ok    NF
search_ids           NF    NF    NF    NF    ok    ok    ok    ok    ok    NF
copy_group_to_own    -     NF    NF    NF    ok    ok    ok    ok    ok    NF
copy_own_to_group    -     NF    NF    NF    PD    ok    PD    PD    PD    NF
copy_to_lead_inbox   NF    NF    NF    NF    NF    NF    NF    NF    NF    NF
move_within_group    NF    NF    NF    NF    PD    ok    PD    PD    PD    NF
move_to_group_trash  NF    NF    NF    NF    PD    PD    PD    PD    PD    NF
move_group_to_own    -     NF    NF    NF    PD    PD    PD    ok    PD    NF
move_own_to_group    -     NF    NF    NF    PD    ok    PD    PD    PD    NF
delete               NF    NF    NF    NF    PD    PD    PD    ok    PD    NF
expunge              NF    NF    NF    NF    PD    PD    PD    ok    PD    NF
empty_trash          NF    NF    NF    NF    PD    PD    PD    ok    PD    NF
expunge_uids         NF    NF    NF    NF    PD    PD    PD    ok    PD    NF
pop3_open            NF    NF    NF    NF    ok    ok    ok    ok    ok    NF
pop3_retrieve        NF    NF    NF    NF    ok    ok    ok    ok    ok    NF
pop3_delete          NF    NF    NF    NF    ok    ok    ok    ok    ok    NF
append_inbox         NF    NF    NF    NF    PD    ok    PD    PD    PD    NF
append_sent          NF    NF    NF    NF    PD    ok    ok    PD    PD    NF
send_as              PD    PD    PD    PD    PD    PD    ok    PD    PD    PD
submit_as_group      PD    PD    PD    PD    PD    PD    ok    PD    PD    PD
group_login          -     AF    AF    AF    ok    ok    ok    ok    ok    AF
grant                ok    ok    NF    NF    PD    PD    PD    PD    ok    NF
grant_unheld         ok    ok    NF    NF    PD    PD    PD    PD    PD    NF
revoke               ok    ok    NF    NF    PD    PD    PD    PD    ok    NF
list_grants          ok    ok    NF    NF    PD    PD    PD    PD    ok    NF
create_user          ok    ok    NF    PD    PD    PD    PD    PD    PD    PD
create_org_admin     ok    PD    PD    PD    PD    PD    PD    PD    PD    PD
create_group         ok    ok    NF    PD    PD    PD    PD    PD    PD    PD
list_users           ok    ok    hide  PD    PD    PD    PD    PD    PD    PD
list_users_of_org_a  ok    ok    NF    PD    PD    PD    PD    PD    PD    PD
list_groups          ok    ok    hide  PD    PD    PD    PD    PD    PD    PD
list_orgs            ok    ok    hide  PD    PD    PD    PD    PD    PD    PD
set_user_disabled    ok    ok    NF    PD    PD    PD    PD    PD    PD    PD
reset_password       ok    ok    NF    PD    PD    PD    PD    PD    PD    PD
create_org           ok    PD    PD    PD    PD    PD    PD    PD    PD    PD
add_domain           ok    PD    PD    PD    PD    PD    PD    PD    PD    PD
app_password_member  ok    PD    NF    NF    NF    NF    NF    NF    NF    NF
require_tls          ok    ok    NF    PD    PD    PD    PD    PD    PD    PD
audit_list           ok    ok    hide  PD    PD    PD    PD    PD    PD    PD
audit_mailbox        ok    ok    NF    NF    PD    PD    PD    PD    ok    NF
audit_verify         ok    ok    ok    PD    PD    PD    PD    PD    PD    PD
audit_head           ok    ok    ok    PD    PD    PD    PD    PD    PD    PD
deliver              ok    PD    PD    PD    PD    PD    PD    PD    PD    PD
resolve              ok    PD    PD    PD    PD    PD    PD    PD    PD    PD
"""
# fmt: on

# Cells where the code gives another answer than the rules, each a bug in the final report.
KNOWN_BUGS: dict[tuple[str, str], str] = {}


class Hidden(Exception):
    """Raised by a list operation whose result leaves out the org A object it looked for."""


def must_list(present: bool) -> None:
    if not present:
        raise Hidden


Act = Callable[[World, Actor], Awaitable[None]]
Prepare = Callable[[World], Awaitable[None]]


@dataclass(frozen=True)
class Operation:
    act: Act  # calls the service as the actor, then asserts the effect a user would see
    prepare: Prepare | None = None  # run by the lead before the state is recorded
    logs_in: bool = False  # a refusal still records the actor's successful login


OPERATIONS: dict[str, Operation] = {}


def operation(
    name: str, prepare: Prepare | None = None, *, logs_in: bool = False
) -> Callable[[Act], Act]:
    def register(act: Act) -> Act:
        OPERATIONS[name] = Operation(act, prepare, logs_in)
        return act

    return register


def own(actor: Actor) -> tuple[int, int]:
    """The actor's own Inbox id and the message in it."""
    assert actor.inbox is not None and actor.own_message_id is not None
    return actor.inbox.id, actor.own_message_id


async def own_inbox_ids(w: World, actor: Actor) -> list[int]:
    inbox_id, _ = own(actor)
    return [m.id for m in await w.services.messages.list_messages(actor.ctx, inbox_id)]


# --- mailboxes and folders --------------------------------------------------------------


@operation("list_mailboxes")
async def _list_mailboxes(w: World, a: Actor) -> None:
    listed = {m.address: m.rights for m in await w.services.mailboxes.list_mailboxes(a.ctx)}
    must_list(GROUP in listed)
    assert listed[GROUP] == GRANTS[a.name]


@operation("get_mailbox")
async def _get_mailbox(w: World, a: Actor) -> None:
    mailbox = await w.services.mailboxes.get_mailbox(a.ctx, w.group.id)
    assert (mailbox.address, mailbox.rights) == (GROUP, GRANTS[a.name])


@operation("get_mailbox_by_addr")
async def _get_mailbox_by_address(w: World, a: Actor) -> None:
    mailbox = await w.services.mailboxes.get_mailbox_by_address(a.ctx, "GM.Enquiries@Polres.co.uk")
    assert (mailbox.id, mailbox.rights) == (w.group.id, GRANTS[a.name])


@operation("list_folders")
async def _list_folders(w: World, a: Actor) -> None:
    folders = {f.name: f.total for f in await w.services.mailboxes.list_folders(a.ctx, w.group.id)}
    assert folders == {"INBOX": 1, "Sent": 0, "Drafts": 0, "Trash": 0, "Cases": 0}


@operation("get_folder")
async def _get_folder(w: World, a: Actor) -> None:
    folder = await w.services.mailboxes.get_folder(a.ctx, w.folders["Cases"].id)
    assert (folder.mailbox_id, folder.name) == (w.group.id, "Cases")


@operation("find_folder_by_name")
async def _find_folder_by_name(w: World, a: Actor) -> None:
    folder = await w.services.mailboxes.find_folder_by_name(a.ctx, w.group.id, "Cases")
    assert folder.id == w.folders["Cases"].id


async def lead_folder_names(w: World) -> set[str]:
    return {f.name for f in await w.services.mailboxes.list_folders(w.lead, w.group.id)}


@operation("create_folder")
async def _create_folder(w: World, a: Actor) -> None:
    await w.services.mailboxes.create_folder(a.ctx, w.group.id, "Reports")
    assert "Reports" in await lead_folder_names(w)


@operation("rename_folder")
async def _rename_folder(w: World, a: Actor) -> None:
    await w.services.mailboxes.rename_folder(a.ctx, w.folders["Cases"].id, "Closed cases")
    names = await lead_folder_names(w)
    assert "Closed cases" in names and "Cases" not in names


@operation("delete_folder")
async def _delete_folder(w: World, a: Actor) -> None:
    await w.services.mailboxes.delete_folder(a.ctx, w.folders["Cases"].id)
    assert "Cases" not in await lead_folder_names(w)


# --- reading ----------------------------------------------------------------------------


@operation("list_messages")
async def _list_messages(w: World, a: Actor) -> None:
    listed = await w.services.messages.list_messages(a.ctx, w.folders["INBOX"].id)
    assert [m.id for m in listed] == [w.message_id]


@operation("get_summary")
async def _get_summary(w: World, a: Actor) -> None:
    summary = await w.services.messages.get_summary(a.ctx, w.message_id)
    assert SEARCH_WORD in summary.subject


@operation("open_message")
async def _open_message(w: World, a: Actor) -> None:
    message = await w.services.messages.open_message(a.ctx, w.message_id)
    assert SEARCH_WORD.encode() in message.raw
    assert a.ctx.address in await w.read_by(w.message_id)
    latest = (await w.services.audit.list_entries(w.system, mailbox=GROUP))[0]
    assert (latest.action, latest.actor) == ("message.open", a.ctx.address)


@operation("set_seen")
async def _set_seen(w: World, a: Actor) -> None:
    await w.services.messages.set_seen(a.ctx, w.message_id, True)
    assert await w.read_by(w.message_id) == (a.ctx.address,)


async def lead_flags(w: World) -> Flag:
    return (await w.services.messages.get_summary(w.lead, w.message_id)).flags


@operation("set_flag_flagged")
async def _set_flag_flagged(w: World, a: Actor) -> None:
    await w.services.messages.set_flags(a.ctx, w.message_id, Flag.FLAGGED)
    assert await lead_flags(w) == Flag.FLAGGED


@operation("set_flag_deleted")
async def _set_flag_deleted(w: World, a: Actor) -> None:
    await w.services.messages.set_flags(a.ctx, w.message_id, Flag.DELETED)
    assert await lead_flags(w) == Flag.DELETED


@operation("search")
async def _search(w: World, a: Actor) -> None:
    found = await w.services.messages.search(a.ctx, w.group.id, SearchQuery(text=SEARCH_WORD))
    assert [m.id for m in found] == [w.message_id]


@operation("set_subscription")
async def _set_subscription(w: World, a: Actor) -> None:
    await w.services.mailboxes.set_subscription(a.ctx, w.group.id, "Cases", True)
    assert await w.services.mailboxes.list_subscriptions(a.ctx) == [(w.group.id, "Cases")]


@operation("folder_view")
async def _folder_view(w: World, a: Actor) -> None:
    folder, listed = await w.services.messages.folder_view(a.ctx, w.folders["INBOX"].id)
    assert (folder.name, [m.id for m in listed]) == ("INBOX", [w.message_id])


@operation("search_ids")
async def _search_ids(w: World, a: Actor) -> None:
    query = SearchQuery(text=SEARCH_WORD)
    found = await w.services.messages.search_ids(a.ctx, w.folders["INBOX"].id, query)
    assert found == {w.message_id}


# --- filing -----------------------------------------------------------------------------


@operation("copy_group_to_own")
async def _copy_group_to_own(w: World, a: Actor) -> None:
    inbox_id, own_id = own(a)
    [new_id] = await w.services.messages.copy(a.ctx, [w.message_id], inbox_id)
    assert sorted(await own_inbox_ids(w, a)) == sorted([own_id, new_id])
    assert await w.group_folder_of(w.message_id) == "INBOX"


@operation("copy_own_to_group")
async def _copy_own_to_group(w: World, a: Actor) -> None:
    _, own_id = own(a)
    [new_id] = await w.services.messages.copy(a.ctx, [own_id], w.folders["INBOX"].id)
    assert await w.group_folder_of(new_id) == "INBOX"
    assert await own_inbox_ids(w, a) == [own_id]


@operation("copy_to_lead_inbox")
async def _copy_to_lead_inbox(w: World, a: Actor) -> None:
    """Nobody files mail into another user's personal mailbox."""
    await w.services.messages.copy(a.ctx, [w.message_id], w.lead_inbox.id)
    raise AssertionError("copied into the lead's own Inbox")


@operation("move_within_group")
async def _move_within_group(w: World, a: Actor) -> None:
    await w.services.messages.move(a.ctx, [w.message_id], w.folders["Cases"].id)
    assert await w.group_folder_of(w.message_id) == "Cases"


@operation("move_to_group_trash")
async def _move_to_group_trash(w: World, a: Actor) -> None:
    await w.services.messages.move(a.ctx, [w.message_id], w.folders["Trash"].id)
    assert await w.group_folder_of(w.message_id) == "Trash"


@operation("move_group_to_own")
async def _move_group_to_own(w: World, a: Actor) -> None:
    inbox_id, own_id = own(a)
    await w.services.messages.move(a.ctx, [w.message_id], inbox_id)
    assert await w.group_folder_of(w.message_id) is None
    assert sorted(await own_inbox_ids(w, a)) == sorted([own_id, w.message_id])


@operation("move_own_to_group")
async def _move_own_to_group(w: World, a: Actor) -> None:
    _, own_id = own(a)
    await w.services.messages.move(a.ctx, [own_id], w.folders["INBOX"].id)
    assert await w.group_folder_of(own_id) == "INBOX"
    assert await own_inbox_ids(w, a) == []


@operation("delete")
async def _delete(w: World, a: Actor) -> None:
    await w.services.messages.delete(a.ctx, [w.message_id])
    assert await w.group_folder_of(w.message_id) == "Trash"


async def _lead_flags_deleted(w: World) -> None:
    await w.services.messages.set_flags(w.lead, w.message_id, Flag.DELETED)


@operation("expunge", prepare=_lead_flags_deleted)
async def _expunge(w: World, a: Actor) -> None:
    uids = await w.services.messages.expunge(a.ctx, w.folders["INBOX"].id)
    assert len(uids) == 1
    assert await w.group_folder_of(w.message_id) is None


async def _lead_trashes(w: World) -> None:
    await w.services.messages.delete(w.lead, [w.message_id])


@operation("empty_trash", prepare=_lead_trashes)
async def _empty_trash(w: World, a: Actor) -> None:
    assert await w.services.messages.empty_trash(a.ctx, w.group.id) == 1
    assert await w.group_folder_of(w.message_id) is None


@operation("expunge_uids", prepare=_lead_flags_deleted)
async def _expunge_uids(w: World, a: Actor) -> None:
    uid = (await w.services.messages.get_summary(w.lead, w.message_id)).uid
    assert await w.services.messages.expunge_uids(a.ctx, w.folders["INBOX"].id, {uid}) == [uid]
    assert await w.group_folder_of(w.message_id) is None


def group_maildrop(w: World) -> Maildrop:
    """A POP3 maildrop naming the group's Inbox, as a session would hold after login."""
    return Maildrop(w.group.id, w.folders["INBOX"].id, ())


@operation("pop3_open")
async def _pop3_open(w: World, a: Actor) -> None:
    drop = await w.services.maildrop.open(a.ctx, w.group.id)
    assert [m.id for m in drop.messages] == [w.message_id]


@operation("pop3_retrieve")
async def _pop3_retrieve(w: World, a: Actor) -> None:
    raw = await w.services.maildrop.retrieve(a.ctx, group_maildrop(w), w.message_id)
    assert SEARCH_WORD.encode() in raw
    assert await w.read_by(w.message_id) == (a.ctx.address,)


@operation("pop3_delete")
async def _pop3_delete(w: World, a: Actor) -> None:
    """With delete the message goes to the group's Trash; without, it is hidden from this
    member's POP3 view only and stays in the Inbox for the team."""
    await w.services.maildrop.delete(a.ctx, group_maildrop(w), [w.message_id])
    if Right.DELETE in GRANTS[a.name]:
        assert await w.group_folder_of(w.message_id) == "Trash"
    else:
        assert await w.group_folder_of(w.message_id) == "INBOX"
        assert (await w.services.maildrop.open(a.ctx, w.group.id)).messages == ()


async def _append(w: World, a: Actor, folder: str) -> str | None:
    raw = raw_message(GROUP, f"Appended to {folder}")
    summary = await w.services.messages.append(a.ctx, w.folders[folder].id, raw)
    assert await w.group_folder_of(summary.id) == folder
    return summary.sent_by


@operation("append_inbox")
async def _append_inbox(w: World, a: Actor) -> None:
    assert await _append(w, a, "INBOX") is None


@operation("append_sent")
async def _append_sent(w: World, a: Actor) -> None:
    assert await _append(w, a, "Sent") == a.ctx.address


@operation("send_as")
async def _send_as(w: World, a: Actor) -> None:
    mailbox = await w.services.submission.require_sender(a.ctx, GROUP)
    assert mailbox.id == w.group.id


@operation("submit_as_group")
async def _submit_as_group(w: World, a: Actor) -> None:
    raw = raw_message(LEAD, "Reply from the team", sender=GROUP)
    result = await w.services.submission.submit(a.ctx, GROUP, [LEAD], raw)
    assert result.local == (LEAD,)
    sent = await w.services.messages.list_messages(w.lead, w.folders["Sent"].id)
    assert [(m.id, m.sent_by) for m in sent] == [(result.sent_copy_id, a.ctx.address)]


@operation("group_login", logs_in=True)
async def _group_login(w: World, a: Actor) -> None:
    login = f"{a.ctx.address}#{GROUP}"
    ctx, mailbox = await w.services.auth.authenticate_mail_client(login, PASSWORD, channel="imap")
    assert (ctx.user_id, mailbox.id, mailbox.rights) == (a.ctx.user_id, w.group.id, GRANTS[a.name])


# --- grants -----------------------------------------------------------------------------


async def grants_by_user(w: World) -> dict[str, Right]:
    return {g.user_address: g.rights for g in await w.services.sharing.list_grants(w.lead, GROUP)}


@operation("grant")
async def _grant(w: World, a: Actor) -> None:
    """A right the manager holds (manage) may be handed on."""
    held = await w.services.sharing.grant(a.ctx, GROUP, MEMBER, Right.MANAGE)
    assert held == Right.READ | Right.MANAGE
    assert (await grants_by_user(w))[MEMBER] == Right.READ | Right.MANAGE


@operation("grant_unheld")
async def _grant_unheld(w: World, a: Actor) -> None:
    """Only administrators grant rights they do not hold themselves (write, here)."""
    held = await w.services.sharing.grant(a.ctx, GROUP, MEMBER, Right.WRITE)
    assert held == Right.READ | Right.WRITE
    assert (await grants_by_user(w))[MEMBER] == Right.READ | Right.WRITE


@operation("revoke")
async def _revoke(w: World, a: Actor) -> None:
    assert await w.services.sharing.revoke(a.ctx, GROUP, MEMBER) == Right.NONE
    assert MEMBER not in await grants_by_user(w)


@operation("list_grants")
async def _list_grants(w: World, a: Actor) -> None:
    grants = {g.user_address: g.rights for g in await w.services.sharing.list_grants(a.ctx, GROUP)}
    assert grants[LEAD] == ALL_RIGHTS
    assert grants[MEMBER] == Right.READ


# --- directory --------------------------------------------------------------------------


async def all_users(w: World) -> dict[str, Any]:
    return {u.address: u for u in await w.services.directory.list_users(w.system)}


@operation("create_user")
async def _create_user(w: World, a: Actor) -> None:
    address = f"new.user@{DOMAIN_A}"
    await w.services.directory.create_user(a.ctx, address, password=PASSWORD)
    assert (await all_users(w))[address].role is Role.USER


@operation("create_org_admin")
async def _create_org_admin(w: World, a: Actor) -> None:
    address = f"new.admin@{DOMAIN_A}"
    await w.services.directory.create_user(a.ctx, address, admin=True, password=PASSWORD)
    assert (await all_users(w))[address].role is Role.ORG_ADMIN


@operation("create_group")
async def _create_group(w: World, a: Actor) -> None:
    address = f"gm.new@{DOMAIN_A}"
    await w.services.directory.create_group(a.ctx, address)
    assert address in [m.address for m in await w.services.directory.list_groups(w.system)]


def in_scope(a: Actor, org_ids: set[int | None], w: World) -> bool:
    """The listed organisations are all within what the actor administers."""
    return a.name == "svc" or org_ids == {w.org_a.id}


@operation("list_users")
async def _list_users(w: World, a: Actor) -> None:
    users = await w.services.directory.list_users(a.ctx)
    must_list(LEAD in [u.address for u in users])
    assert in_scope(a, {u.org_id for u in users}, w)


@operation("list_users_of_org_a")
async def _list_users_of_org_a(w: World, a: Actor) -> None:
    users = await w.services.directory.list_users(a.ctx, "Org A")
    assert LEAD in [u.address for u in users]
    assert {u.org_id for u in users} == {w.org_a.id}


@operation("list_groups")
async def _list_groups(w: World, a: Actor) -> None:
    groups = await w.services.directory.list_groups(a.ctx)
    must_list(GROUP in [m.address for m in groups])
    assert in_scope(a, {m.org_id for m in groups}, w)


@operation("list_orgs")
async def _list_orgs(w: World, a: Actor) -> None:
    orgs = await w.services.directory.list_orgs(a.ctx)
    must_list("Org A" in [o.name for o in orgs])
    assert in_scope(a, {o.id for o in orgs}, w)


@operation("set_user_disabled")
async def _set_user_disabled(w: World, a: Actor) -> None:
    await w.services.directory.set_user_disabled(a.ctx, MEMBER, True)
    assert (await all_users(w))[MEMBER].disabled
    with pytest.raises(AuthenticationFailed):
        await w.login(MEMBER)


@operation("reset_password")
async def _reset_password(w: World, a: Actor) -> None:
    await w.services.directory.reset_password(a.ctx, MEMBER, "a brand new passphrase")
    with pytest.raises(AuthenticationFailed):
        await w.login(MEMBER)
    await w.services.auth.authenticate(MEMBER, "a brand new passphrase", channel="test")


async def all_orgs(w: World) -> dict[str, tuple[str, ...]]:
    return {o.name: o.domains for o in await w.services.directory.list_orgs(w.system)}


@operation("create_org")
async def _create_org(w: World, a: Actor) -> None:
    await w.services.directory.create_org(a.ctx, "Org C", "c.example")
    assert (await all_orgs(w))["Org C"] == ("c.example",)


@operation("add_domain")
async def _add_domain(w: World, a: Actor) -> None:
    await w.services.directory.add_domain(a.ctx, "Org A", "polres.example")
    assert "polres.example" in (await all_orgs(w))["Org A"]


@operation("app_password_member")
async def _app_password_member(w: World, a: Actor) -> None:
    await w.services.credentials.create_app_password(a.ctx, MEMBER, "phone")
    listed = await w.services.credentials.list_app_passwords(w.system, MEMBER)
    assert [p.label for p in listed] == ["phone"]


@operation("require_tls")
async def _require_tls(w: World, a: Actor) -> None:
    await w.services.policy.add_tls_required(a.ctx, "Org A", "partner.example")
    assert await w.services.policy.list_tls_required(w.system, "Org A") == ["partner.example"]


# --- audit and delivery -----------------------------------------------------------------


@operation("audit_list")
async def _audit_list(w: World, a: Actor) -> None:
    entries = await w.services.audit.list_entries(a.ctx, limit=500)
    org_ids = {e.org_id for e in entries}
    must_list(w.org_a.id in org_ids)
    assert in_scope(a, org_ids, w)


@operation("audit_mailbox")
async def _audit_mailbox(w: World, a: Actor) -> None:
    entries = await w.services.audit.list_entries(a.ctx, mailbox=GROUP, limit=500)
    assert {e.mailbox for e in entries} == {GROUP}
    assert "group.create" in [e.action for e in entries]


@operation("audit_verify")
async def _audit_verify(w: World, a: Actor) -> None:
    report = await w.services.audit.verify(a.ctx)
    assert report.ok and report.checked > 0


@operation("audit_head")
async def _audit_head(w: World, a: Actor) -> None:
    assert await w.services.audit.head(a.ctx) == await w.services.audit.head(w.system)


@operation("deliver")
async def _deliver(w: World, a: Actor) -> None:
    result = await w.services.delivery.deliver(a.ctx, raw_message(GROUP, "Delivered"), [GROUP])
    assert await w.group_folder_of(result.message_ids[0]) == "INBOX"


@operation("resolve")
async def _resolve(w: World, a: Actor) -> None:
    mailbox = await w.services.delivery.resolve(a.ctx, GROUP)
    assert mailbox is not None and mailbox.id == w.group.id


# --- the state a refusal must leave alone -----------------------------------------------


async def snapshot(w: World, a: Actor) -> dict[str, Any]:
    """Everything an operation could change, as the lead and the service administrator see
    it, plus the actor's own mailbox and the head of the audit log."""
    s = w.services
    state: dict[str, Any] = {}
    for folder in await s.mailboxes.list_folders(w.lead, w.group.id):
        for m in await s.messages.list_messages(w.lead, folder.id):
            state[f"message {m.id}"] = (folder.name, m.flags, m.keywords, await w.read_by(m.id))
        state[f"folder {folder.id}"] = folder.name
    lead_inbox = await s.messages.list_messages(w.lead, w.lead_inbox.id)
    state["lead inbox"] = [m.id for m in lead_inbox]
    state["grants"] = await s.sharing.list_grants(w.system, GROUP)
    users = await s.directory.list_users(w.system)  # last_login_at left out: logins move it
    state["users"] = [(u.address, u.org_id, u.role, u.disabled) for u in users]
    state["groups"] = await s.directory.list_groups(w.system)
    state["orgs"] = await s.directory.list_orgs(w.system)
    state["member app passwords"] = await s.credentials.list_app_passwords(w.system, MEMBER)
    state["tls required"] = await s.policy.list_tls_required(w.system, "Org A")
    state["subscriptions"] = await w.subscriptions(a.ctx.user_id)
    state["audit head"] = await s.audit.head(w.system)
    if a.inbox is not None:
        state["own inbox"] = await own_inbox_ids(w, a)
        state["pop3 hidden"] = await hidden_from_pop3(w, a)
    return state


async def hidden_from_pop3(w: World, a: Actor) -> list[int]:
    """Group messages the lead sees in the Inbox but the actor's POP3 view leaves out."""
    try:
        drop = await w.services.maildrop.open(a.ctx, w.group.id)
    except NotFound:
        return []
    visible = {m.id for m in drop.messages}
    inbox = await w.services.messages.list_messages(w.lead, w.folders["INBOX"].id)
    return [m.id for m in inbox if m.id not in visible]


async def assert_member_password_unchanged(w: World) -> None:
    await w.login(MEMBER)


# --- the test ---------------------------------------------------------------------------

ERRORS: dict[str, type[Exception]] = {
    "NF": NotFound,
    "PD": PermissionDenied,
    "AF": AuthenticationFailed,
    "hide": Hidden,
}


def parse_matrix(text: str) -> dict[tuple[str, str], str]:
    header, *rows = [line.split() for line in text.strip().splitlines()]
    assert tuple(header[1:]) == PRINCIPALS
    cells = {}
    for name, *outcomes in rows:
        assert len(outcomes) == len(PRINCIPALS), name
        for principal, outcome in zip(PRINCIPALS, outcomes, strict=True):
            assert outcome in {"ok", "-", *ERRORS}, (name, principal, outcome)
            assert (name, principal) not in cells, f"{name} appears twice"
            cells[name, principal] = outcome
    return cells


CELLS = parse_matrix(MATRIX)


def matrix_params() -> list[Any]:
    params = []
    for (name, principal), outcome in CELLS.items():
        if outcome == "-":
            continue
        bug = KNOWN_BUGS.get((name, principal))
        marks = [pytest.mark.xfail(reason=bug, strict=True)] if bug else []
        params.append(pytest.param(name, principal, outcome, marks=marks, id=f"{name}-{principal}"))
    return params


def test_the_matrix_covers_every_operation_once() -> None:
    assert {name for name, _ in CELLS} == set(OPERATIONS)
    assert set(KNOWN_BUGS) <= set(CELLS)


@pytest.mark.parametrize(("name", "principal", "outcome"), matrix_params())
async def test_rights_matrix(world: World, name: str, principal: str, outcome: str) -> None:
    op = OPERATIONS[name]
    actor = await world.actor(principal)
    if op.prepare is not None:
        await op.prepare(world)
    if outcome == "ok":
        await op.act(world, actor)
        return
    before = await snapshot(world, actor)
    with pytest.raises(ERRORS[outcome]):
        await op.act(world, actor)
    after = await snapshot(world, actor)
    if op.logs_in:  # the login itself is recorded: compare all but the audit log
        del before["audit head"], after["audit head"]
    assert after == before
    if name == "reset_password":
        await assert_member_password_unchanged(world)


# --- refusals tell nothing about which addresses exist ----------------------------------

Probe = Callable[[World, AccessContext, str], Awaitable[Any]]


async def _disable(w: World, ctx: AccessContext, address: str) -> None:
    await w.services.directory.set_user_disabled(ctx, address, True)


async def _reset(w: World, ctx: AccessContext, address: str) -> None:
    await w.services.directory.reset_password(ctx, address, "a brand new passphrase")


async def _app_password(w: World, ctx: AccessContext, address: str) -> None:
    await w.services.credentials.create_app_password(ctx, address, "phone")


async def _send_as(w: World, ctx: AccessContext, address: str) -> None:
    await w.services.submission.require_sender(ctx, address)


# operation -> (the probe, an address in use in org A, a free one)
PROBES: dict[str, tuple[Probe, str, str]] = {
    "set_user_disabled": (_disable, MEMBER, f"nobody@{DOMAIN_A}"),
    "reset_password": (_reset, MEMBER, f"nobody@{DOMAIN_A}"),
    "app_password_member": (_app_password, MEMBER, f"nobody@{DOMAIN_A}"),
    "send_as": (_send_as, GROUP, f"gm.nobody@{DOMAIN_A}"),
}
ORACLE_BUGS: dict[tuple[str, str], str] = {}  # (operation, principal) -> known bug


def oracle_params() -> list[Any]:
    params = []
    for name in sorted(PROBES):
        for principal in ("admB", "userB"):
            bug = ORACLE_BUGS.get((name, principal))
            marks = [pytest.mark.xfail(reason=bug, strict=True)] if bug else []
            params.append(pytest.param(name, principal, marks=marks, id=f"{name}-{principal}"))
    return params


@pytest.mark.parametrize(("name", "principal"), oracle_params())
async def test_refusals_are_the_same_for_taken_and_free_addresses(
    world: World, name: str, principal: str
) -> None:
    """An outsider probing org A's addresses gets the answer of the matrix both for an
    address in use and for a free one, so the refusal tells nothing."""
    actor = await world.actor(principal)
    probe, taken, free = PROBES[name]
    expected = ERRORS[CELLS[name, principal]]
    before = await snapshot(world, actor)
    for address in (taken, free):
        with pytest.raises(expected):
            await probe(world, actor.ctx, address)
    assert await snapshot(world, actor) == before


# --- an open session does not outlive its account ---------------------------------------


async def test_disabling_a_user_cuts_off_their_open_sessions(world: World) -> None:
    """An administrator disables a departing team member who still has a session open:
    from then on the group mailbox does not exist for that session."""
    writer = await world.actor("rw")
    await world.services.directory.set_user_disabled(world.system, writer.ctx.address, True)
    observer = dataclasses.replace(writer, inbox=None)  # the lead's and the admin's view
    before = await snapshot(world, observer)
    assert await world.services.mailboxes.list_mailboxes(writer.ctx) == []
    with pytest.raises((NotFound, AuthenticationFailed)):
        await world.services.messages.move(
            writer.ctx, [world.message_id], world.folders["Cases"].id
        )
    assert await snapshot(world, observer) == before
