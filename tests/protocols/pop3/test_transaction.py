"""Transcripts of the TRANSACTION and UPDATE states: STAT, LIST, UIDL, RETR, TOP, DELE, RSET,
NOOP, QUIT, pipelining, bad syntax and commands in the wrong state."""

import pytest

from securemail.core.context import AccessContext
from securemail.core.errors import NotFound
from securemail.core.model import SpecialUse
from securemail.services.demo import DemoResult
from securemail.services.registry import Services
from securemail.wire import pop3
from tests.protocols.pop3.conftest import Runner, address, statuses, user_pass

DOTTED = (
    b"From: Jane <jane@university.example>\r\nTo: bob@polres.co.uk\r\n"
    b"Subject: Dots\r\nMessage-ID: <dots@university.example>\r\n\r\n"
    b"first line\r\n.leading dot\r\n.\r\nbare LF line\nlast line\r\n"
)


def simple(n: int) -> bytes:
    return (
        f"From: jane@university.example\r\nTo: bob@polres.co.uk\r\nSubject: Note {n}\r\n"
        f"Message-ID: <note-{n}@university.example>\r\n\r\nBody {n}\r\n"
    ).encode()


@pytest.fixture
async def bob_mail(services: Services, system: AccessContext, demo: DemoResult) -> None:
    """Three messages in bob's own Inbox: two plain notes and one full of dots."""
    for raw in (simple(1), simple(2), DOTTED):
        await services.delivery.deliver(system, raw, [address("bob")])


def login(demo: DemoResult) -> str:
    return user_pass(demo, "bob", group=False)


async def test_stat_list_and_uidl(run_pop3: Runner, demo: DemoResult, bob_mail: None):
    channel = await run_pop3(login(demo) + "STAT\r\nLIST\r\nLIST 2\r\nUIDL\r\nUIDL 3\r\nQUIT\r\n")
    lines = channel.replies()
    sizes = [len(simple(1)), len(simple(2)), len(DOTTED)]
    assert lines[3] == f"+OK 3 {sum(sizes)}"
    assert lines[4] == f"+OK 3 messages ({sum(sizes)} octets)"
    assert lines[5:9] == [f"1 {sizes[0]}", f"2 {sizes[1]}", f"3 {sizes[2]}", "."]
    assert lines[9] == f"+OK 2 {sizes[1]}"
    assert lines[10] == "+OK unique-id listing follows"
    uids = [line.split(" ")[1] for line in lines[11:14]]
    assert len(set(uids)) == 3 and all(pop3.is_unique_id(u) and u.count(".") == 1 for u in uids)
    assert lines[15] == f"+OK 3 {uids[2]}"


async def test_unique_ids_are_stable_across_sessions(
    run_pop3: Runner, demo: DemoResult, bob_mail: None
):
    first = await run_pop3(login(demo) + "UIDL\r\nQUIT\r\n")
    second = await run_pop3(login(demo) + "UIDL\r\nQUIT\r\n")
    assert first.replies()[4:7] == second.replies()[4:7]


async def test_retr_is_dot_stuffed_with_crlf_line_ends(
    run_pop3: Runner, demo: DemoResult, bob_mail: None
):
    channel = await run_pop3(login(demo) + "RETR 3\r\nQUIT\r\n")
    out = bytes(channel.output)
    body = out.split(b"+OK message follows\r\n", 1)[1].split(b"\r\n.\r\n", 1)[0]
    assert b"\r\n..leading dot\r\n..\r\nbare LF line\r\nlast line" in body
    assert b"\n" not in body.replace(b"\r\n", b"")


async def test_top_sends_the_header_and_n_body_lines(
    run_pop3: Runner, demo: DemoResult, bob_mail: None
):
    channel = await run_pop3(login(demo) + "TOP 3 2\r\nTOP 1 0\r\nQUIT\r\n")
    lines = channel.replies()
    start = lines.index("+OK top of message follows")
    end = lines.index(".", start)
    assert lines[end - 3 : end] == ["", "first line", "..leading dot"]
    second = lines.index("+OK top of message follows", end)
    assert lines[lines.index(".", second) - 1] == ""  # header and the blank line only


async def test_retr_marks_seen_for_the_retriever_and_top_does_not(
    run_pop3: Runner, services: Services, demo: DemoResult, bob_mail: None
):
    await run_pop3(login(demo) + "TOP 1 5\r\nRETR 2\r\nQUIT\r\n")
    ctx = await services.auth.authenticate(
        address("bob"), demo.passwords[address("bob")], channel="test"
    )
    mailbox = await services.mailboxes.get_personal_mailbox(ctx)
    inbox = (await services.mailboxes.list_folders(ctx, mailbox.id))[0]
    seen = {m.subject: m.seen for m in await services.messages.list_messages(ctx, inbox.id)}
    assert seen == {"Note 1": False, "Note 2": True, "Dots": False}


async def test_dele_rset_and_deleted_messages_disappear(
    run_pop3: Runner, demo: DemoResult, bob_mail: None
):
    script = "DELE 1\r\nDELE 1\r\nRETR 1\r\nLIST 1\r\nSTAT\r\nRSET\r\nSTAT\r\nQUIT\r\n"
    channel = await run_pop3(login(demo) + script)
    s = statuses(channel)[3:]
    assert s[0] == "+OK message 1 deleted"
    assert s[1] == s[2] == s[3] == "-ERR message 1 already deleted"
    assert s[4].startswith("+OK 2 ")
    assert s[5].startswith("+OK maildrop has 3 messages")
    assert s[6].startswith("+OK 3 ")
    assert s[7] == "+OK mail.polres.co.uk POP3 server signing off"


async def test_quit_moves_own_deleted_mail_to_trash(
    run_pop3: Runner, services: Services, demo: DemoResult, bob_mail: None
):
    channel = await run_pop3(login(demo) + "DELE 2\r\nQUIT\r\n")
    assert statuses(channel)[-1].endswith("(1 messages deleted)")
    again = await run_pop3(login(demo) + "LIST\r\nQUIT\r\n")
    assert statuses(again)[3].startswith("+OK 2 messages")
    ctx = await services.auth.authenticate(
        address("bob"), demo.passwords[address("bob")], channel="test"
    )
    mailbox = await services.mailboxes.get_personal_mailbox(ctx)
    folders = {f.special_use: f for f in await services.mailboxes.list_folders(ctx, mailbox.id)}
    trash = await services.messages.list_messages(ctx, folders[SpecialUse.TRASH].id)
    assert [m.subject for m in trash] == ["Note 2"]


async def test_connection_loss_without_quit_changes_nothing(
    run_pop3: Runner, demo: DemoResult, bob_mail: None
):
    await run_pop3(login(demo) + "DELE 1\r\nDELE 2\r\n")  # the client vanishes
    again = await run_pop3(login(demo) + "STAT\r\nQUIT\r\n")
    assert statuses(again)[3].startswith("+OK 3 ")


async def test_pipelined_commands_are_answered_in_order(
    run_pop3: Runner, demo: DemoResult, bob_mail: None
):
    script = login(demo) + "STAT\r\nLIST 1\r\nUIDL 1\r\nTOP 1 0\r\nRETR 2\r\nNOOP\r\nQUIT\r\n"
    channel = await run_pop3(script)
    s = statuses(channel)[3:]
    assert [x.split(" ")[0] for x in s] == ["+OK"] * 7
    assert s[3] == "+OK top of message follows" and s[4] == "+OK message follows"


@pytest.mark.parametrize(
    ("command", "reply"),
    [
        ("RETR", "-ERR wrong arguments for RETR"),
        ("RETR 0", "-ERR no such message"),
        ("RETR 4", "-ERR no such message"),
        ("RETR x", "-ERR not a number: 'x'"),
        ("RETR -1", "-ERR not a number: '-1'"),
        ("RETR 1 2", "-ERR wrong arguments for RETR"),
        ("RETR  1", "-ERR wrong arguments for RETR"),
        ("TOP 1", "-ERR wrong arguments for TOP"),
        ("TOP 1 x", "-ERR not a number: 'x'"),
        ("LIST 99999999999", "-ERR not a number: '99999999999'"),
        ("STAT 1", "-ERR wrong arguments for STAT"),
        ("NOOP x", "-ERR NOOP takes no argument"),
        ("XYZZY", "-ERR unknown command"),
        ("RE", "-ERR unknown command"),
        ("RETR\x001", "-ERR control characters in command"),
        ("USER bob", "-ERR USER is not valid in the transaction state"),
        ("STLS", "-ERR STLS is not valid in the transaction state"),
    ],
)
async def test_bad_commands_after_login(
    run_pop3: Runner, demo: DemoResult, bob_mail: None, command: str, reply: str
):
    channel = await run_pop3(login(demo) + f"{command}\r\nQUIT\r\n")
    assert statuses(channel)[3] == reply
    assert statuses(channel)[4].startswith("+OK")  # the session goes on


@pytest.mark.parametrize("command", ["STAT", "LIST", "UIDL", "RETR 1", "TOP 1 1", "DELE 1",
                                     "RSET", "NOOP"])  # fmt: skip
async def test_transaction_commands_before_login(run_pop3: Runner, command: str):
    channel = await run_pop3(f"{command}\r\nQUIT\r\n")
    verb = command.split(" ")[0]
    assert statuses(channel)[1] == f"-ERR {verb} is not valid in the authorization state"


async def test_lower_case_verbs_and_bare_lf_are_accepted(
    run_pop3: Runner, demo: DemoResult, bob_mail: None
):
    channel = await run_pop3(login(demo) + "stat\nQuit\n")
    assert statuses(channel)[3].startswith("+OK 3 ")
    assert statuses(channel)[4].endswith("signing off")


async def test_message_removed_by_another_session(
    run_pop3: Runner, services: Services, demo: DemoResult, bob_mail: None
):
    """Webmail deletes message 1 while a POP3 session holds its snapshot."""
    ctx = await services.auth.authenticate(
        address("bob"), demo.passwords[address("bob")], channel="test"
    )
    mailbox = await services.mailboxes.get_personal_mailbox(ctx)
    inbox = (await services.mailboxes.list_folders(ctx, mailbox.id))[0]
    drop = await services.maildrop.open(ctx, mailbox.id)
    first = min(await services.messages.list_messages(ctx, inbox.id), key=lambda m: m.uid)
    await services.messages.delete(ctx, [first.id])
    with pytest.raises(NotFound, match="removed by another session"):
        await services.maildrop.retrieve(ctx, drop, first.id)
    outcome = await services.maildrop.delete(ctx, drop, [first.id])
    assert (outcome.moved, outcome.hidden) == (0, 0)
