"""MessageService.read_many, the batched read behind IMAP FETCH: the same rights, content,
\\Seen and audit a reader gets from open_message, for many messages in one call."""

import pytest

from securemail.core.errors import InvalidInput, NotFound
from securemail.services.messages import MAX_READ_BATCH
from tests.services.conftest import GROUP, LEAD, MEMBER, SEARCH_WORD, World


async def _group_messages(world: World, count: int) -> list[int]:
    """The enquiry already in the group's INBOX plus `count` more, in delivery order."""
    ids = [world.message_id]
    for n in range(count):
        ids.append(await world.deliver(GROUP, f"Follow-up {n}"))
    return ids


async def _opens(world: World) -> list[tuple[str, str, str]]:
    """The group's message.open audit entries, oldest first: (actor, target, detail)."""
    entries = await world.services.audit.list_entries(world.system, mailbox=GROUP, limit=500)
    return [(e.actor, e.target, e.detail) for e in reversed(entries) if e.action == "message.open"]


async def test_content_and_order_match_open_message(world: World) -> None:
    ids = await _group_messages(world, 4)
    inbox = world.folders["INBOX"].id
    asked = [ids[3], ids[0], ids[4]]
    got = await world.services.messages.read_many(world.lead, inbox, asked)
    assert [summary.id for summary, _raw in got] == asked
    for summary, raw in got:
        opened = await world.services.messages.open_message(world.lead, summary.id, mark_seen=False)
        assert raw == opened.raw
        assert (summary.seen, summary.modseq) == (opened.summary.seen, opened.summary.modseq)
    assert SEARCH_WORD.encode() in got[1][1]


@pytest.mark.parametrize("who", ["none", "userB", "admB"])
async def test_without_read_the_folder_does_not_exist(world: World, who: str) -> None:
    actor = await world.actor(who)
    inbox = world.folders["INBOX"].id
    with pytest.raises(NotFound):
        await world.services.messages.read_many(actor.ctx, inbox, [world.message_id])
    # ... and nothing was recorded for them, while a reader's batch is
    address = actor.ctx.address
    assert address not in await world.read_by(world.message_id)
    assert address not in [who for who, _t, _d in await _opens(world)]
    await world.services.messages.read_many(world.lead, inbox, [world.message_id])
    assert [who for who, _t, _d in await _opens(world)] == [LEAD]


async def test_ids_from_another_folder_are_left_out(world: World) -> None:
    """Asking, through a folder one may read, for a message of a mailbox one may not read
    yields nothing about it: not its content, not an error that tells it exists."""
    private = await world.deliver(LEAD, "private matter")
    member = await world.login(MEMBER)
    group_inbox = world.folders["INBOX"].id
    got = await world.services.messages.read_many(member, group_inbox, [private, world.message_id])
    assert [s.id for s, _raw in got] == [world.message_id]
    with pytest.raises(NotFound):
        await world.services.messages.read_many(member, world.lead_inbox.id, [private])


async def test_peek_changes_no_seen(world: World) -> None:
    ids = await _group_messages(world, 2)
    member = await world.login(MEMBER)
    inbox = world.folders["INBOX"].id
    got = await world.services.messages.read_many(member, inbox, ids)
    assert [s.seen for s, _raw in got] == [False, False, False]
    for message_id in ids:
        assert (await world.services.messages.get_summary(member, message_id)).seen is False
        assert await world.read_by(message_id) == ()


async def test_mark_seen_sets_the_callers_seen_only_in_one_step(world: World) -> None:
    ids = await _group_messages(world, 2)
    member = await world.login(MEMBER)
    inbox = world.folders["INBOX"].id
    before = {s.id: s.modseq for s in (await world.services.messages.folder_view(member, inbox))[1]}
    got = await world.services.messages.read_many(member, inbox, ids, mark_seen=True)
    assert [s.seen for s, _raw in got] == [True, True, True]
    modseqs = {s.modseq for s, _raw in got}
    assert len(modseqs) == 1 and modseqs.pop() > max(before.values())  # one shared MODSEQ
    _folder, view = await world.services.messages.folder_view(member, inbox)
    assert {s.id for s in view if s.seen} == set(ids)  # the member's own \Seen
    for message_id in ids:
        assert (await world.services.messages.get_summary(world.lead, message_id)).seen is False
        assert await world.read_by(message_id) == (MEMBER,)


async def test_group_batch_is_audited_once_with_every_id(world: World) -> None:
    ids = await _group_messages(world, 3)
    member = await world.login(MEMBER)
    inbox = world.folders["INBOX"].id
    opens_before = len(await _opens(world))
    await world.services.messages.read_many(member, inbox, ids)
    opens = await _opens(world)
    assert len(opens) == opens_before + 1
    actor, target, detail = opens[-1]
    assert actor == MEMBER
    assert target == f"ids={min(ids)}-{max(ids)}"  # delivered in a row: one range
    assert "folder=INBOX count=4" in detail


async def test_own_mailbox_is_not_audited(world: World) -> None:
    reader = await world.actor("r")
    assert reader.inbox is not None and reader.own_message_id is not None
    opens_before = await _opens(world)
    got = await world.services.messages.read_many(
        reader.ctx, reader.inbox.id, [reader.own_message_id], mark_seen=True
    )
    assert [s.seen for s, _raw in got] == [True]
    assert await _opens(world) == opens_before


async def test_batch_size_is_bounded(world: World) -> None:
    inbox = world.folders["INBOX"].id
    too_many = list(range(1, MAX_READ_BATCH + 2))
    with pytest.raises(InvalidInput):
        await world.services.messages.read_many(world.lead, inbox, too_many)
