"""Rights through POP3 with the demo organisation: alice (read), bob (read, write), carol
(read, mail), dave (all), erin (none), each logging in with the group-mailbox form."""

import pytest

from securemail.core.context import AccessContext
from securemail.core.errors import NotFound
from securemail.core.model import SpecialUse
from securemail.services.demo import DEMO_GROUP, DemoResult
from securemail.services.registry import Services
from tests.protocols.pop3.conftest import Runner, address, statuses, user_pass

SUBJECT = "Enquiry: zero tolerance policing evaluation data"


async def group_folders(services: Services, demo: DemoResult, who: str) -> dict[str, list[str]]:
    """Subjects per standard folder of the group mailbox, as `who` sees them in webmail."""
    ctx = await services.auth.authenticate(address(who), demo.passwords[address(who)], channel="t")
    group = await services.mailboxes.get_mailbox_by_address(ctx, DEMO_GROUP)
    out: dict[str, list[str]] = {}
    for folder in await services.mailboxes.list_folders(ctx, group.id):
        if folder.special_use in (SpecialUse.INBOX, SpecialUse.TRASH):
            found = await services.messages.list_messages(ctx, folder.id)
            out[folder.special_use.value] = [m.subject for m in found]
    return out


async def stat(run_pop3: Runner, demo: DemoResult, who: str) -> str:
    return statuses(await run_pop3(user_pass(demo, who) + "STAT\r\nQUIT\r\n"))[3]


@pytest.mark.parametrize("who", ["alice", "bob", "carol", "dave"])
async def test_every_reader_can_list_and_retrieve(run_pop3: Runner, demo: DemoResult, who: str):
    channel = await run_pop3(user_pass(demo, who) + "LIST\r\nRETR 1\r\nQUIT\r\n")
    s = statuses(channel)
    assert s[2].startswith("+OK maildrop has 1 messages")
    assert s[3].startswith("+OK 1 messages") and s[4] == "+OK message follows"
    assert f"Subject: {SUBJECT}" in channel.replies()


async def test_erin_without_read_fails_like_a_wrong_password(run_pop3: Runner, demo: DemoResult):
    erin = await run_pop3(user_pass(demo, "erin") + "QUIT\r\n")
    wrong = await run_pop3(f"USER {address('alice')}\r\nPASS not-her-password\r\nQUIT\r\n")
    assert statuses(erin)[2] == statuses(wrong)[2] == "-ERR [AUTH] authentication failed"


async def test_retrieval_state_is_per_user(run_pop3: Runner, services: Services, demo: DemoResult):
    await run_pop3(user_pass(demo, "alice") + "RETR 1\r\nQUIT\r\n")
    for who, seen in (("alice", True), ("bob", False)):
        ctx = await services.auth.authenticate(
            address(who), demo.passwords[address(who)], channel="t"
        )
        group = await services.mailboxes.get_mailbox_by_address(ctx, DEMO_GROUP)
        inbox = (await services.mailboxes.list_folders(ctx, group.id))[0]
        [message] = await services.messages.list_messages(ctx, inbox.id)
        assert message.seen is seen, who


@pytest.mark.parametrize("who", ["alice", "bob", "carol"])
async def test_dele_without_delete_right_hides_for_that_member_only(
    run_pop3: Runner, services: Services, demo: DemoResult, who: str
):
    channel = await run_pop3(user_pass(demo, who) + "DELE 1\r\nQUIT\r\n")
    assert statuses(channel)[-1].endswith("(1 messages deleted)")
    assert (await stat(run_pop3, demo, who)) == "+OK 0 0"
    others = [o for o in ("alice", "bob", "carol", "dave") if o != who]
    for other in others:
        assert (await stat(run_pop3, demo, other)).startswith("+OK 1 "), other
    assert await group_folders(services, demo, "dave") == {"inbox": [SUBJECT], "trash": []}


async def test_dele_with_delete_right_moves_to_the_group_trash(
    run_pop3: Runner, services: Services, demo: DemoResult
):
    channel = await run_pop3(user_pass(demo, "dave") + "DELE 1\r\nQUIT\r\n")
    assert statuses(channel)[-1].endswith("(1 messages deleted)")
    for who in ("alice", "bob", "carol", "dave"):
        assert (await stat(run_pop3, demo, who)) == "+OK 0 0", who
    assert await group_folders(services, demo, "alice") == {"inbox": [], "trash": [SUBJECT]}


async def test_rset_undoes_dele_for_a_member(
    run_pop3: Runner, services: Services, demo: DemoResult
):
    await run_pop3(user_pass(demo, "dave") + "DELE 1\r\nRSET\r\nQUIT\r\n")
    assert (await stat(run_pop3, demo, "dave")).startswith("+OK 1 ")


async def test_retr_and_top_of_group_mail_are_audited(
    run_pop3: Runner, services: Services, demo: DemoResult, system: AccessContext
):
    await run_pop3(user_pass(demo, "carol") + "TOP 1 0\r\nRETR 1\r\nDELE 1\r\nQUIT\r\n")
    await run_pop3(user_pass(demo, "alice", group=False) + "QUIT\r\n")
    entries = await services.audit.list_entries(system, mailbox=DEMO_GROUP)
    mine = [(e.actor, e.action) for e in entries if e.action.startswith("pop3.")]
    assert sorted(mine) == sorted(
        [
            (address("carol"), "pop3.top"),
            (address("carol"), "pop3.retr"),
            (address("carol"), "pop3.hide"),
        ]
    )
    retr = next(e for e in entries if e.action == "pop3.retr")
    assert "channel=pop3" in retr.detail and "enquiry-0001@university.example" in retr.target


async def test_a_revoked_reader_cannot_retrieve_from_an_open_snapshot(
    run_pop3: Runner, services: Services, demo: DemoResult, system: AccessContext
):
    ctx, group = await services.auth.authenticate_mail_client(
        f"{address('bob')}#{DEMO_GROUP}", demo.passwords[address("bob")], channel="t"
    )
    drop = await services.maildrop.open(ctx, group.id)
    await services.sharing.revoke(system, DEMO_GROUP, address("bob"))
    with pytest.raises(NotFound):
        await services.maildrop.retrieve(ctx, drop, drop.messages[0].id)
    with pytest.raises(NotFound):
        await services.maildrop.delete(ctx, drop, [drop.messages[0].id])
