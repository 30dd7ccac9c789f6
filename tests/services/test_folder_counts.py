"""Folder totals (kept in the folder row, folders.message_count) and per-user unread counts
stay true after deliveries, reads by one member, moves out, copies in, deletes and expunges,
whichever node's services made the change."""

import dataclasses

from securemail.core.model import Flag
from securemail.services.registry import Services
from tests.services.conftest import GROUP, MEMBER, World


async def counts(services: Services, world: World, who: str = "lead") -> dict[str, tuple[int, int]]:
    """Folder name -> (total, unseen) as `who` sees the group's folders."""
    ctx = world.lead if who == "lead" else await world.login(who)
    folders = await services.mailboxes.list_folders(ctx, world.group.id)
    return {f.name: (f.total, f.unseen) for f in folders}


async def truth(services: Services, world: World, who: str = "lead") -> dict[str, tuple[int, int]]:
    """The same, counted from the messages themselves (no cache involved)."""
    ctx = world.lead if who == "lead" else await world.login(who)
    out = {}
    for folder in await services.mailboxes.list_folders(ctx, world.group.id):
        listed = await services.messages.list_messages(ctx, folder.id, offset=0, limit=500)
        out[folder.name] = (len(listed), sum(not m.seen for m in listed))
    return out


async def test_counts_follow_every_change(world: World) -> None:
    services = world.services
    inbox, cases = world.folders["INBOX"].id, world.folders["Cases"].id
    assert await counts(services, world) == await truth(services, world)
    ids = [await world.deliver(GROUP, f"Report {n}") for n in range(4)]
    before = await counts(services, world)
    assert before["INBOX"] == (5, 5)
    await services.messages.set_seen(world.lead, ids[0], True)
    assert (await counts(services, world))["INBOX"] == (5, 4)
    assert (await counts(services, world, MEMBER))["INBOX"] == (5, 5)  # read state is per user
    await services.messages.move(world.lead, [ids[1]], cases)
    await services.messages.copy(world.lead, [ids[2]], cases)
    after = await counts(services, world)
    assert after["INBOX"] == (4, 3) and after["Cases"] == (
        before["Cases"][0] + 2,
        before["Cases"][1] + 2,
    )
    await services.messages.delete(world.lead, [ids[3]])  # to Trash
    await services.messages.set_flags(world.lead, ids[2], Flag.DELETED)
    await services.messages.expunge(world.lead, inbox)
    assert await counts(services, world) == await truth(services, world)
    assert (await counts(services, world))["INBOX"][0] == 2
    assert await counts(services, world, MEMBER) == await truth(services, world, MEMBER)


async def test_another_nodes_changes_are_counted_here(world: World) -> None:
    here = world.services
    there = Services.build(dataclasses.replace(here.deps))  # another node's services
    assert await counts(here, world) == await truth(here, world)  # warm
    fresh = await there.delivery.deliver(world.system, b"Subject: more\r\n\r\nx\r\n", [GROUP])
    assert (await counts(here, world))["INBOX"] == (2, 2)
    await there.messages.set_seen(world.lead, fresh.message_ids[0], True)
    assert (await counts(here, world))["INBOX"] == (2, 1)
    await there.messages.move(world.lead, fresh.message_ids, world.folders["Cases"].id)
    assert await counts(here, world) == await truth(there, world)


async def test_the_sidebar_counts_every_mailbox_as_its_messages_do(world: World) -> None:
    """overview (every readable mailbox's folders, two statements in all) gives each user the
    same folders, order and counts as the messages themselves."""
    services = world.services
    ids = [await world.deliver(GROUP, f"Note {n}") for n in range(3)]
    await services.messages.set_seen(world.lead, ids[0], True)
    for who, inbox in (("lead", (4, 3)), (MEMBER, (4, 4))):
        ctx = world.lead if who == "lead" else await world.login(who)
        overview = {m.id: folders for m, folders in await services.mailboxes.overview(ctx)}
        group = overview[world.group.id]
        assert group[0].name == "INBOX" and (group[0].total, group[0].unseen) == inbox
        assert {f.name: (f.total, f.unseen) for f in group} == await truth(services, world, who)
        for mailbox_id, folders in overview.items():
            assert folders == await services.mailboxes.list_folders(ctx, mailbox_id)
