"""Property: whatever set of rights a user of the organisation is granted on a group mailbox,
every message, folder and grant operation succeeds exactly when those rights allow it, and an
operation that is refused leaves the mailbox as it was.

The model below is written from the rules (DESIGN.md section 1, core/rights.py), not from the
services: no read means the group does not exist for the user (NotFound); otherwise an
operation succeeds when one of its alternative needs is held, else PermissionDenied.

One store per test function; each hypothesis example revokes the user's grant and grants the
drawn set afresh (a set without read is refused), then runs every operation in a drawn order on
fresh messages and folders, with drawn folders, flags and rights, checking the outcome and what
the lead (holding every right) sees. Every one of the 32 sets is also run as an explicit example,
so none is left to chance.
"""

import asyncio
import itertools
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import reduce
from operator import or_
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from securemail import app
from securemail.core.errors import InvalidInput, NotFound, PermissionDenied
from securemail.core.model import Flag
from securemail.core.rights import Right
from securemail.core.search import SearchQuery
from securemail.services.maildrop import Maildrop
from securemail.services.registry import Services
from securemail.store.migrate import upgrade
from tests.conftest import TestStore
from tests.services.conftest import DOMAIN_A, GROUP, MEMBER, Actor, World, build_world

SUBJECT = f"subject@{DOMAIN_A}"
SINGLE_RIGHTS = (Right.READ, Right.WRITE, Right.MAIL, Right.DELETE, Right.MANAGE)
EVERY_RIGHTS_SET = tuple(
    reduce(or_, combo, Right.NONE)
    for size in range(len(SINGLE_RIGHTS) + 1)
    for combo in itertools.combinations(SINGLE_RIGHTS, size)
)
FLAGS = (Flag.ANSWERED, Flag.FLAGGED, Flag.DELETED, Flag.DRAFT)
FLAG_CHANGES = (Flag.NONE, Flag.DELETED, Flag.FLAGGED, Flag.DELETED | Flag.ANSWERED, Flag.DRAFT)
GROUP_FOLDERS = ("INBOX", "Sent", "Drafts", "Trash", "Cases")
EXAMPLES = 20  # drawn examples, on top of one explicit example per rights set

rights_sets = st.sampled_from(EVERY_RIGHTS_SET)
flag_sets = st.sets(st.sampled_from(FLAGS)).map(lambda s: reduce(or_, s, Flag.NONE))
folders = st.sampled_from(GROUP_FOLDERS)
# What each step draws: which folder its fresh message lies in, and the like.
PLANS = st.fixed_dictionaries(
    {
        "get_summary": folders,
        "open_message": folders,
        "set_seen": folders,
        "set_flags": st.tuples(folders, flag_sets, st.sampled_from(FLAG_CHANGES), st.booleans()),
        "append": st.tuples(folders, flag_sets),
        "copy_to_own": folders,
        "copy_to_group": folders,
        "move_within_group": st.permutations(GROUP_FOLDERS).map(lambda f: (f[0], f[1])),
        "move_to_own": folders,
        "move_from_own": folders,
        "delete": folders,
        "expunge": folders,
        "expunge_uids": folders,
        "grant": rights_sets.filter(bool),
        "revoke": st.none() | rights_sets.filter(bool),
    }
)


def fixed_plan(i: int) -> dict[str, Any]:
    """The plan of the i-th explicit example: every choice turns with i."""

    def pick(options: Sequence[Any], shift: int = 0) -> Any:
        return options[(i + shift) % len(options)]

    return {
        "get_summary": pick(GROUP_FOLDERS),
        "open_message": pick(GROUP_FOLDERS, 1),
        "set_seen": pick(GROUP_FOLDERS, 2),
        "set_flags": (
            pick(GROUP_FOLDERS, 2),
            pick((Flag.NONE, Flag.DELETED | Flag.FLAGGED)),
            pick(FLAG_CHANGES),
            i % 3 == 0,
        ),
        "append": (pick(GROUP_FOLDERS, 3), pick((Flag.NONE, Flag.DELETED, Flag.FLAGGED), 1)),
        "copy_to_own": pick(GROUP_FOLDERS, 4),
        "copy_to_group": pick(GROUP_FOLDERS),
        "move_within_group": (pick(GROUP_FOLDERS, 1), pick(GROUP_FOLDERS, 3)),
        "move_to_own": pick(GROUP_FOLDERS, 2),
        "move_from_own": pick(GROUP_FOLDERS, 3),
        "delete": pick(GROUP_FOLDERS, 4),
        "expunge": pick(GROUP_FOLDERS, 1),
        "expunge_uids": pick(GROUP_FOLDERS, 2),
        "grant": pick(EVERY_RIGHTS_SET[1:], 7),
        "revoke": pick((None, *EVERY_RIGHTS_SET[1:]), 11),
    }


def verdict(held: Right, *alternatives: Right) -> str:
    """The model: "NF" without read, "ok" if one alternative is held, else "PD"."""
    if Right.READ not in held:
        return "NF"
    return "ok" if any(need in held for need in alternatives) else "PD"


def becomes(value: Any) -> Callable[[Any], Any]:
    return lambda _before: value


def one_more(before: int) -> int:
    return before + 1


async def nothing() -> None:
    return None


@dataclass
class Step:
    """One operation: the model's verdict, the call, what can be observed of its effect."""

    verdict: str
    call: Callable[[], Awaitable[Any]]
    observe: Callable[[], Awaitable[Any]] = nothing
    after_success: Callable[[Any], Any] = lambda before: before  # what observe() gives after
    returns: Callable[[Any], bool] = lambda _result: True  # checks the result of a success


@dataclass
class Probe:
    """What the steps need: the world, the user under test, their rights, and the plan."""

    w: World
    me: Actor
    held: Right
    plan: dict[str, Any]
    names: Iterator[int]
    template: int = 0  # this example's enquiry in the group INBOX, copied for fresh messages

    @property
    def s(self) -> Services:
        return self.w.services

    @property
    def own_inbox(self) -> int:
        assert self.me.inbox is not None
        return self.me.inbox.id

    def unique(self, prefix: str) -> str:
        return f"{prefix} #{next(self.names)}#"

    def folder(self, name: str) -> int:
        return self.w.folders[name].id

    async def group_message(self, folder: str) -> int:
        """A fresh message, copied by the lead into a group folder."""
        [message_id] = await self.s.messages.copy(self.w.lead, [self.template], self.folder(folder))
        return message_id

    async def own_message(self) -> int:
        return await self.w.deliver(self.me.ctx.address, self.unique("own"))

    async def where(self, message_id: int) -> int | None:
        """The folder holding the message: the lead sees the group, the user their own."""
        for ctx in (self.w.lead, self.me.ctx):
            try:
                return (await self.s.messages.get_summary(ctx, message_id)).folder_id
            except NotFound:
                continue
        return None

    async def total(self, folder_id: int) -> int:
        """How many messages the folder holds: the user's own Inbox, or a group folder as the
        lead sees it."""
        ctx, mailbox_id = self.w.lead, self.w.group.id
        if folder_id == self.own_inbox:
            assert self.me.inbox is not None
            ctx, mailbox_id = self.me.ctx, self.me.inbox.mailbox_id
        listed = await self.s.mailboxes.list_folders(ctx, mailbox_id)
        return next(f.total for f in listed if f.id == folder_id)

    async def folder_name(self, folder_id: int) -> str | None:
        try:
            return (await self.s.mailboxes.get_folder(self.w.lead, folder_id)).name
        except NotFound:
            return None

    async def member_rights(self) -> Right:
        grants = await self.s.sharing.list_grants(self.w.system, GROUP)
        return next((g.rights for g in grants if g.user_address == MEMBER), Right.NONE)


StepBuilder = Callable[[Probe], Awaitable[Step]]
STEPS: dict[str, StepBuilder] = {}


def step(builder: StepBuilder) -> StepBuilder:
    STEPS[builder.__name__] = builder
    return builder


# --- seeing -----------------------------------------------------------------------------


@step
async def list_mailboxes(p: Probe) -> Step:
    async def call() -> Right:
        listed = {m.address: m.rights for m in await p.s.mailboxes.list_mailboxes(p.me.ctx)}
        if GROUP not in listed:
            raise NotFound("left out of the list")
        return listed[GROUP]

    return Step(verdict(p.held, Right.READ), call, returns=lambda r: r == p.held)


@step
async def get_mailbox(p: Probe) -> Step:
    async def call() -> Right:
        return (await p.s.mailboxes.get_mailbox(p.me.ctx, p.w.group.id)).rights

    return Step(verdict(p.held, Right.READ), call, returns=lambda r: r == p.held)


@step
async def list_folders(p: Probe) -> Step:
    async def call() -> set[str]:
        return {f.name for f in await p.s.mailboxes.list_folders(p.me.ctx, p.w.group.id)}

    return Step(verdict(p.held, Right.READ), call, returns=set(GROUP_FOLDERS).issubset)


@step
async def list_messages(p: Probe) -> Step:
    async def call() -> list[int]:
        listed = await p.s.messages.list_messages(p.me.ctx, p.folder("INBOX"), limit=500)
        return [m.id for m in listed]

    return Step(verdict(p.held, Right.READ), call, returns=lambda ids: p.template in ids)


@step
async def get_summary(p: Probe) -> Step:
    message_id = await p.group_message(p.plan["get_summary"])

    async def call() -> int:
        return (await p.s.messages.get_summary(p.me.ctx, message_id)).id

    return Step(verdict(p.held, Right.READ), call, returns=lambda i: i == message_id)


@step
async def search(p: Probe) -> Step:
    subject = (await p.s.messages.get_summary(p.w.lead, p.template)).subject

    async def call() -> list[int]:
        found = await p.s.messages.search(p.me.ctx, p.w.group.id, SearchQuery(subject=subject))
        return [m.id for m in found]

    return Step(verdict(p.held, Right.READ), call, returns=lambda ids: p.template in ids)


@step
async def open_message(p: Probe) -> Step:
    message_id = await p.group_message(p.plan["open_message"])
    return Step(
        verdict(p.held, Right.READ),
        lambda: p.s.messages.open_message(p.me.ctx, message_id),
        lambda: p.w.read_by(message_id),
        becomes((SUBJECT,)),
    )


@step
async def set_seen(p: Probe) -> Step:
    message_id = await p.group_message(p.plan["set_seen"])
    return Step(
        verdict(p.held, Right.READ),
        lambda: p.s.messages.set_seen(p.me.ctx, message_id, True),
        lambda: p.w.read_by(message_id),
        becomes((SUBJECT,)),
    )


# --- flags and appending ----------------------------------------------------------------


@step
async def set_flags(p: Probe) -> Step:
    """\\Deleted changes need delete, other changes need write, no change needs read."""
    folder, start, toggled, add_keyword = p.plan["set_flags"]
    message_id = await p.group_message(folder)
    await p.s.messages.set_flags(p.w.lead, message_id, start)
    words = ("urgent",) if add_keyword else ()
    need = Right.READ
    if Flag.DELETED in toggled:
        need |= Right.DELETE
    if toggled & ~Flag.DELETED or words:
        need |= Right.WRITE

    async def observe() -> tuple[Flag, tuple[str, ...]]:
        summary = await p.s.messages.get_summary(p.w.lead, message_id)
        return summary.flags, summary.keywords

    return Step(
        verdict(p.held, need),
        lambda: p.s.messages.set_flags(p.me.ctx, message_id, start ^ toggled, words),
        observe,
        becomes((start ^ toggled, words)),
    )


@step
async def append(p: Probe) -> Step:
    """Write appends anywhere, mail into Sent and Drafts; \\Deleted needs delete as well."""
    folder, flags = p.plan["append"]
    needs = [Right.WRITE] + ([Right.MAIL] if folder in ("Sent", "Drafts") else [])
    if Flag.DELETED in flags:
        needs = [need | Right.DELETE for need in needs]
    raw = f"From: {SUBJECT}\r\nTo: {GROUP}\r\nSubject: {p.unique('appended')}\r\n\r\nHi.\r\n"
    return Step(
        verdict(p.held, *needs),
        lambda: p.s.messages.append(p.me.ctx, p.folder(folder), raw.encode(), flags=flags),
        lambda: p.total(p.folder(folder)),
        one_more,
    )


# --- folders ----------------------------------------------------------------------------


@step
async def create_folder(p: Probe) -> Step:
    name = p.unique("Created")

    async def observe() -> bool:
        listed = await p.s.mailboxes.list_folders(p.w.lead, p.w.group.id)
        return name in [f.name for f in listed]

    return Step(
        verdict(p.held, Right.WRITE),
        lambda: p.s.mailboxes.create_folder(p.me.ctx, p.w.group.id, name),
        observe,
        becomes(True),
    )


@step
async def rename_folder(p: Probe) -> Step:
    folder = await p.s.mailboxes.create_folder(p.w.lead, p.w.group.id, p.unique("Old"))
    new_name = p.unique("Renamed")
    return Step(
        verdict(p.held, Right.WRITE),
        lambda: p.s.mailboxes.rename_folder(p.me.ctx, folder.id, new_name),
        lambda: p.folder_name(folder.id),
        becomes(new_name),
    )


@step
async def delete_folder(p: Probe) -> Step:
    folder = await p.s.mailboxes.create_folder(p.w.lead, p.w.group.id, p.unique("Doomed"))
    return Step(
        verdict(p.held, Right.WRITE),
        lambda: p.s.mailboxes.delete_folder(p.me.ctx, folder.id),
        lambda: p.folder_name(folder.id),
        becomes(None),
    )


# --- copying, moving, deleting ----------------------------------------------------------


@step
async def copy_to_own(p: Probe) -> Step:
    message_id = await p.group_message(p.plan["copy_to_own"])
    return Step(
        verdict(p.held, Right.READ),
        lambda: p.s.messages.copy(p.me.ctx, [message_id], p.own_inbox),
        lambda: p.total(p.own_inbox),
        one_more,
    )


@step
async def copy_to_group(p: Probe) -> Step:
    message_id = await p.own_message()
    target = p.folder(p.plan["copy_to_group"])
    return Step(
        verdict(p.held, Right.WRITE),
        lambda: p.s.messages.copy(p.me.ctx, [message_id], target),
        lambda: p.total(target),
        one_more,
    )


def filing_into(folder: str) -> Right:
    """Filing into a group folder needs write; into its Trash, which is deleting, delete too."""
    return Right.WRITE | Right.DELETE if folder == "Trash" else Right.WRITE


@step
async def move_within_group(p: Probe) -> Step:
    source, target = p.plan["move_within_group"]
    message_id = await p.group_message(source)
    return Step(
        verdict(p.held, filing_into(target)),
        lambda: p.s.messages.move(p.me.ctx, [message_id], p.folder(target)),
        lambda: p.where(message_id),
        becomes(p.folder(target)),
    )


@step
async def move_to_own(p: Probe) -> Step:
    """Taking a message out of the group needs delete there."""
    message_id = await p.group_message(p.plan["move_to_own"])
    return Step(
        verdict(p.held, Right.DELETE),
        lambda: p.s.messages.move(p.me.ctx, [message_id], p.own_inbox),
        lambda: p.where(message_id),
        becomes(p.own_inbox),
    )


@step
async def move_from_own(p: Probe) -> Step:
    message_id = await p.own_message()
    target = p.plan["move_from_own"]
    return Step(
        verdict(p.held, filing_into(target)),
        lambda: p.s.messages.move(p.me.ctx, [message_id], p.folder(target)),
        lambda: p.where(message_id),
        becomes(p.folder(target)),
    )


@step
async def delete(p: Probe) -> Step:
    """Delete moves to Trash; in Trash it removes for good."""
    message_id = await p.group_message(p.plan["delete"])
    in_trash = await p.where(message_id) == p.folder("Trash")
    return Step(
        verdict(p.held, Right.DELETE),
        lambda: p.s.messages.delete(p.me.ctx, [message_id]),
        lambda: p.where(message_id),
        becomes(None if in_trash else p.folder("Trash")),
    )


@step
async def expunge(p: Probe) -> Step:
    folder = p.plan["expunge"]
    doomed, kept = await p.group_message(folder), await p.group_message(folder)
    await p.s.messages.set_flags(p.w.lead, doomed, Flag.DELETED)

    async def observe() -> tuple[int | None, int | None]:
        return await p.where(doomed), await p.where(kept)

    return Step(
        verdict(p.held, Right.DELETE),
        lambda: p.s.messages.expunge(p.me.ctx, p.folder(folder)),
        observe,
        becomes((None, p.folder(folder))),
    )


@step
async def empty_trash(p: Probe) -> Step:
    message_id = await p.group_message("Trash")
    return Step(
        verdict(p.held, Right.DELETE),
        lambda: p.s.messages.empty_trash(p.me.ctx, p.w.group.id),
        lambda: p.where(message_id),
        becomes(None),
    )


# --- what IMAP, POP3 and submission use -------------------------------------------------


@step
async def folder_view(p: Probe) -> Step:
    async def call() -> list[int]:
        _folder, listed = await p.s.messages.folder_view(p.me.ctx, p.folder("INBOX"))
        return [m.id for m in listed]

    return Step(verdict(p.held, Right.READ), call, returns=lambda ids: p.template in ids)


@step
async def search_ids(p: Probe) -> Step:
    subject = (await p.s.messages.get_summary(p.w.lead, p.template)).subject
    query = SearchQuery(subject=subject)
    return Step(
        verdict(p.held, Right.READ),
        lambda: p.s.messages.search_ids(p.me.ctx, p.folder("INBOX"), query),
        returns=lambda ids: p.template in ids,
    )


@step
async def set_subscription(p: Probe) -> Step:
    name = p.unique("Subscribed")

    async def observe() -> bool:
        return (p.w.group.id, name) in await p.w.subscriptions(p.me.ctx.user_id)

    return Step(
        verdict(p.held, Right.READ),
        lambda: p.s.mailboxes.set_subscription(p.me.ctx, p.w.group.id, name, True),
        observe,
        becomes(True),
    )


@step
async def expunge_uids(p: Probe) -> Step:
    folder = p.plan["expunge_uids"]
    doomed, spared = await p.group_message(folder), await p.group_message(folder)
    for message_id in (doomed, spared):
        await p.s.messages.set_flags(p.w.lead, message_id, Flag.DELETED)
    uid = (await p.s.messages.get_summary(p.w.lead, doomed)).uid

    async def observe() -> tuple[int | None, int | None]:
        return await p.where(doomed), await p.where(spared)

    return Step(
        verdict(p.held, Right.DELETE),
        lambda: p.s.messages.expunge_uids(p.me.ctx, p.folder(folder), {uid}),
        observe,
        becomes((None, p.folder(folder))),
    )


def group_maildrop(p: Probe) -> Maildrop:
    """The POP3 maildrop of the group's Inbox, as a session holds it after login."""
    return Maildrop(p.w.group.id, p.folder("INBOX"), ())


@step
async def pop3_retrieve(p: Probe) -> Step:
    message_id = await p.group_message("INBOX")
    return Step(
        verdict(p.held, Right.READ),
        lambda: p.s.maildrop.retrieve(p.me.ctx, group_maildrop(p), message_id),
        lambda: p.w.read_by(message_id),
        becomes((SUBJECT,)),
    )


@step
async def pop3_delete(p: Probe) -> Step:
    """DELE at QUIT: with delete the message goes to Trash; without, it is hidden from this
    member's POP3 view and stays in the Inbox for the team."""
    message_id = await p.group_message("INBOX")

    async def observe() -> tuple[int | None, bool]:
        """Where the team sees it, and whether it is in the Inbox but gone from this POP3 view."""
        where = await p.where(message_id)
        try:
            drop = await p.s.maildrop.open(p.me.ctx, p.w.group.id)
        except NotFound:
            return where, False
        in_view = message_id in [m.id for m in drop.messages]
        return where, where == p.folder("INBOX") and not in_view

    moved = Right.DELETE in p.held
    return Step(
        verdict(p.held, Right.READ),
        lambda: p.s.maildrop.delete(p.me.ctx, group_maildrop(p), [message_id]),
        observe,
        becomes((p.folder("Trash" if moved else "INBOX"), not moved)),
    )


@step
async def send_as(p: Probe) -> Step:
    """Mail alone decides; a refusal is the same PermissionDenied, hidden mailbox or not."""
    return Step(
        "ok" if Right.MAIL in p.held else "PD",
        lambda: p.s.submission.require_sender(p.me.ctx, GROUP),
        returns=lambda mailbox: mailbox.id == p.w.group.id,
    )


# --- grants -----------------------------------------------------------------------------


async def member_holds(p: Probe, rights: Right) -> None:
    await p.s.sharing.revoke(p.w.system, GROUP, MEMBER)
    await p.s.sharing.grant(p.w.system, GROUP, MEMBER, rights)


@step
async def grant(p: Probe) -> Step:
    await member_holds(p, Right.READ)
    rights = p.plan["grant"]
    # A member with Manage hands on only rights they hold themselves.
    outcome = verdict(p.held, Right.MANAGE)
    if outcome == "ok" and rights & ~p.held:
        outcome = "PD"
    return Step(
        outcome,
        lambda: p.s.sharing.grant(p.me.ctx, GROUP, MEMBER, rights),
        p.member_rights,
        becomes(Right.READ | rights),
    )


@step
async def revoke(p: Probe) -> Step:
    """Revoking read takes everything."""
    held = Right.READ | Right.WRITE | Right.MAIL
    await member_holds(p, held)
    rights = p.plan["revoke"]
    left = Right.NONE if rights is None else held & ~rights
    return Step(
        verdict(p.held, Right.MANAGE),
        lambda: p.s.sharing.revoke(p.me.ctx, GROUP, MEMBER, rights),
        p.member_rights,
        becomes(left if Right.READ in left else Right.NONE),
    )


@step
async def list_grants(p: Probe) -> Step:
    async def call() -> dict[str, Right]:
        return {g.user_address: g.rights for g in await p.s.sharing.list_grants(p.me.ctx, GROUP)}

    return Step(verdict(p.held, Right.MANAGE), call, returns=lambda g: g.get(SUBJECT) == p.held)


@step
async def audit_of_mailbox(p: Probe) -> Step:
    async def call() -> set[str]:
        entries = await p.s.audit.list_entries(p.me.ctx, mailbox=GROUP, limit=500)
        return {e.mailbox for e in entries}

    return Step(verdict(p.held, Right.MANAGE), call, returns=lambda m: m == {GROUP})


# --- running ----------------------------------------------------------------------------


async def attempt(call: Callable[[], Awaitable[Any]]) -> tuple[str, Any]:
    try:
        return "ok", await call()
    except NotFound:
        return "NF", None
    except PermissionDenied:
        return "PD", None


async def check(name: str, built: Step) -> None:
    before = await built.observe()
    outcome, result = await attempt(built.call)
    after = await built.observe()
    assert outcome == built.verdict, f"{name}: {outcome}, the rights say {built.verdict}"
    if outcome == "ok":
        assert after == built.after_success(before), f"{name}: {after!r} after success"
        assert built.returns(result), f"{name}: returned {result!r}"
    else:
        assert after == before, f"{name} was refused but changed {before!r} to {after!r}"


class Harness:
    """One store and one world for the whole test; an asyncio runner drives the examples."""

    def __init__(self, store: TestStore) -> None:
        self.runner = asyncio.Runner()
        self.runtime = app.build(store.settings)
        self.world: World = self.runner.run(self._start())
        self.names = itertools.count(1)

    async def _start(self) -> World:
        await upgrade(self.runtime.db)
        world = await build_world(self.runtime.services)
        ctx = await world.user(SUBJECT)
        mailbox = await world.services.mailboxes.get_personal_mailbox(ctx)
        inbox = await world.services.mailboxes.find_folder_by_name(ctx, mailbox.id, "INBOX")
        world.actors["subject"] = Actor("subject", ctx, inbox)
        return world

    def run(self, coro: Awaitable[Any]) -> Any:
        return self.runner.run(coro)  # type: ignore[arg-type]

    def close(self) -> None:
        self.runner.run(self.runtime.close())
        self.runner.close()

    async def probe(self, rights: Right, granter: str, plan: dict[str, Any]) -> Probe:
        """Revoke the subject's grant, grant the drawn set (refused without read), and
        deliver this example's enquiry to the group."""
        w = self.world
        ctx = {"system": w.system, "lead": w.lead, "admA": (await w.actor("admA")).ctx}[granter]
        await w.services.sharing.revoke(ctx, GROUP, SUBJECT)
        if Right.READ in rights:
            assert await w.services.sharing.grant(ctx, GROUP, SUBJECT, rights) == rights
        elif rights:
            with pytest.raises(InvalidInput):
                await w.services.sharing.grant(ctx, GROUP, SUBJECT, rights)
        held = rights if Right.READ in rights else Right.NONE
        probe = Probe(w, w.actors["subject"], held, plan, self.names)
        probe.template = await w.deliver(GROUP, probe.unique("enquiry"))
        return probe


@pytest.fixture
def harness(store: TestStore) -> Iterator[Harness]:
    h = Harness(store)
    yield h
    h.close()


GRANTERS = ("system", "lead", "admA")
Test = Callable[..., None]


def for_every_rights_set(test: Test) -> Test:
    """One explicit example per rights set, each with its own plan, order and granter."""
    steps = sorted(STEPS)
    for i, rights in enumerate(EVERY_RIGHTS_SET):
        order = steps[i % len(steps) :] + steps[: i % len(steps)]
        granter = GRANTERS[i % len(GRANTERS)]
        test = example(rights=rights, granter=granter, order=order, plan=fixed_plan(i))(test)
    return test


def test_every_operation_succeeds_exactly_when_the_rights_allow(harness: Harness) -> None:
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        rights=rights_sets,
        granter=st.sampled_from(GRANTERS),
        order=st.permutations(sorted(STEPS)),
        plan=PLANS,
    )
    @for_every_rights_set
    def run_example(rights: Right, granter: str, order: list[str], plan: dict[str, Any]) -> None:
        async def body() -> None:
            p = await harness.probe(rights, granter, plan)
            for name in order:
                await check(name, await STEPS[name](p))

        harness.run(body())

    run_example()
