"""UIDs and MODSEQs under concurrent writers: strictly increasing per folder, none lost
(STACK.md gotcha 1: a deferred BEGIN silently lost most read-then-write updates)."""

import asyncio

from securemail.core.context import AccessContext
from securemail.core.model import MessageSummary
from securemail.services.registry import Services
from tests.store.conftest import ALICE, GROUP, MakeRuntime, Team, inbox_id, message


async def inbox(services: Services, ctx: AccessContext, mailbox_id: int) -> list[MessageSummary]:
    folder_id = await inbox_id(services, ctx, mailbox_id)
    return await services.messages.list_messages(
        ctx, folder_id, limit=500, sort="date", descending=False
    )


async def assert_strictly_increasing(team: Team, expected: int) -> list[MessageSummary]:
    messages = await inbox(team.services, team.alice, team.group_id)
    by_uid = sorted(messages, key=lambda m: m.uid)
    assert [m.uid for m in by_uid] == list(range(1, expected + 1))
    modseqs = [m.modseq for m in by_uid]
    assert len(set(modseqs)) == expected
    folders = await team.services.mailboxes.list_folders(team.alice, team.group_id)
    folder = next(f for f in folders if f.name == "INBOX")
    assert folder.uidnext == expected + 1
    assert folder.highestmodseq == max(modseqs)
    assert folder.total == expected
    return by_uid


async def test_fifty_concurrent_deliveries_get_uids_one_to_fifty(
    team: Team, system: AccessContext
) -> None:
    results = await asyncio.gather(
        *(
            team.services.delivery.deliver(system, message(f"m{i}", f"body {i}"), [GROUP])
            for i in range(50)
        )
    )
    assert all(r.delivered == (GROUP,) for r in results)
    by_uid = await assert_strictly_increasing(team, 50)
    # Delivered in one shared commit or several, each message got its UID and MODSEQ together.
    assert [m.modseq for m in by_uid] == sorted(m.modseq for m in by_uid)
    assert sorted(m.subject for m in by_uid) == sorted(f"m{i}" for i in range(50))


async def test_deliveries_from_separate_engines_lose_no_uid(
    team: Team, system: AccessContext, make_runtime: MakeRuntime
) -> None:
    """Five runtimes, each with its own connection pool and group committer, as five
    processes would have: their transactions really compete for the folder row."""
    runtimes = [await make_runtime() for _ in range(5)]

    async def deliver_ten(k: int) -> None:
        services = runtimes[k].services
        for i in range(10):
            await services.delivery.deliver(system, message(f"r{k}-{i}", "x"), [GROUP, ALICE])

    await asyncio.gather(*(deliver_ten(k) for k in range(5)))
    by_uid = await assert_strictly_increasing(team, 50)
    for k in range(5):  # each writer's own messages arrived in its order
        mine = [m.subject for m in by_uid if m.subject.startswith(f"r{k}-")]
        assert mine == [f"r{k}-{i}" for i in range(10)]
    alice_box = await team.services.mailboxes.get_personal_mailbox(team.alice)
    personal = await inbox(team.services, team.alice, alice_box.id)
    assert sorted(m.uid for m in personal) == list(range(1, 51))


async def test_seen_changes_and_deliveries_share_one_modseq_sequence(
    team: Team, system: AccessContext, make_runtime: MakeRuntime
) -> None:
    services = team.services
    for i in range(10):
        await services.delivery.deliver(system, message(f"old{i}", "x"), [GROUP])
    old = await inbox(services, team.alice, team.group_id)
    other = (await make_runtime()).services

    async def mark(ctx: AccessContext) -> None:
        for summary in old:
            await services.messages.set_seen(ctx, summary.id, True)

    async def deliver_more() -> None:
        for i in range(10):
            await other.delivery.deliver(system, message(f"new{i}", "x"), [GROUP])

    await asyncio.gather(mark(team.alice), mark(team.bob), deliver_more())
    # 20 deliveries and 20 \Seen changes: each took the next MODSEQ of the folder.
    by_uid = await assert_strictly_increasing(team, 20)
    folders = await services.mailboxes.list_folders(team.alice, team.group_id)
    inbox_folder = next(f for f in folders if f.name == "INBOX")
    assert inbox_folder.highestmodseq == 1 + 20 + 20
    assert all(m.seen == m.subject.startswith("old") for m in by_uid)
