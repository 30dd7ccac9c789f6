"""Per-user \\Seen on a group mailbox, who has read a message, and folder counts per user."""

from sqlalchemy import select

from securemail.core.context import AccessContext
from securemail.core.model import Folder
from securemail.services.registry import Services
from securemail.store.schema import contents, messages
from tests.store.conftest import ALICE, BOB, GROUP, Team, count_rows, message


async def folders_of(services: Services, ctx: AccessContext, mailbox_id: int) -> dict[str, Folder]:
    return {f.name: f for f in await services.mailboxes.list_folders(ctx, mailbox_id)}


async def deliver(team: Team, system: AccessContext, *subjects: str) -> list[int]:
    ids = []
    for subject in subjects:
        result = await team.services.delivery.deliver(system, message(subject, "text"), [GROUP])
        ids.extend(result.message_ids)
    return ids


async def test_seen_is_per_user_and_read_by_lists_the_readers(
    team: Team, system: AccessContext
) -> None:
    services = team.services
    first, second = await deliver(team, system, "first", "second")
    opened = await services.messages.open_message(team.alice, first)
    assert opened.read_by == (ALICE,)
    assert (await services.messages.get_summary(team.alice, first)).seen
    assert not (await services.messages.get_summary(team.bob, first)).seen

    peek = await services.messages.open_message(team.bob, first, mark_seen=False)
    assert peek.read_by == (ALICE,)
    assert not (await services.messages.get_summary(team.bob, first)).seen
    both = await services.messages.open_message(team.bob, first)
    assert both.read_by == (ALICE, BOB)

    await services.messages.set_seen(team.alice, first, False)
    assert (await services.messages.open_message(team.bob, first, mark_seen=False)).read_by == (
        BOB,
    )
    assert not (await services.messages.get_summary(team.alice, second)).seen
    assert not (await services.messages.get_summary(team.bob, second)).seen


async def test_folder_counts_are_per_user(team: Team, system: AccessContext) -> None:
    services = team.services
    ids = await deliver(team, system, "a", "b", "c")
    await services.messages.open_message(team.alice, ids[0])
    await services.messages.open_message(team.alice, ids[1])
    await services.messages.set_seen(team.bob, ids[2], True)
    alice = await folders_of(services, team.alice, team.group_id)
    bob = await folders_of(services, team.bob, team.group_id)
    assert (alice["INBOX"].total, alice["INBOX"].unseen) == (3, 1)
    assert (bob["INBOX"].total, bob["INBOX"].unseen) == (3, 2)
    for name in ("Sent", "Drafts", "Trash"):
        assert (alice[name].total, alice[name].unseen) == (0, 0)
    assert set(alice) == {"INBOX", "Sent", "Drafts", "Trash"}


async def test_a_personal_mailbox_has_no_read_by(team: Team, system: AccessContext) -> None:
    result = await team.services.delivery.deliver(system, message("hi", "x"), [ALICE])
    opened = await team.services.messages.open_message(team.alice, result.message_ids[0])
    assert opened.read_by == ()
    assert (await team.services.messages.get_summary(team.alice, result.message_ids[0])).seen


async def test_several_mailboxes_share_one_content_row(team: Team, system: AccessContext) -> None:
    raw = message("shared", "one content, three messages")
    result = await team.services.delivery.deliver(system, raw, [GROUP, ALICE, BOB])
    assert len(result.message_ids) == 3
    async with team.services.deps.db.read() as conn:
        rows = (
            await conn.execute(
                select(messages.c.id, messages.c.content_id, messages.c.folder_id).where(
                    messages.c.id.in_(result.message_ids)
                )
            )
        ).all()
    assert len({r.content_id for r in rows}) == 1
    assert len({r.folder_id for r in rows}) == 3
    assert await count_rows(team.services, contents) == 1
    summaries = [
        await team.services.messages.get_summary(team.alice, result.message_ids[0]),
        await team.services.messages.get_summary(team.alice, result.message_ids[1]),
        await team.services.messages.get_summary(team.bob, result.message_ids[2]),
    ]
    assert {s.subject for s in summaries} == {"shared"}
    assert {s.uid for s in summaries} == {1}  # each folder numbers its own messages
    assert len({s.blob_id for s in summaries}) == 1
