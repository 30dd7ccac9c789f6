"""Transcripts of the mail transaction on the MX and submission listeners: MAIL, RCPT, DATA,
recipient checks, send-as enforcement, limits, and SMTP smuggling."""

import base64

from securemail.core.context import AccessContext
from securemail.core.search import SearchQuery
from securemail.services.demo import DemoResult
from securemail.services.registry import Services
from tests.protocols.smtp.conftest import Runner

GROUP = "GM.ZeroTolerance@polres.co.uk"


def message(subject: str, sender: str = "jane@university.example", body: str = "Hello") -> str:
    return (
        f"From: {sender}\r\nTo: {GROUP}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{subject.replace(' ', '.')}@test>\r\n\r\n{body}\r\n"
    )


async def subjects_in_inbox(services: Services, ctx: AccessContext, address: str) -> list[str]:
    mailbox = await services.mailboxes.get_mailbox_by_address(ctx, address)
    folders = await services.mailboxes.list_folders(ctx, mailbox.id)
    inbox = next(f for f in folders if f.name == "INBOX")
    return [m.subject for m in await services.messages.list_messages(ctx, inbox.id)]


async def login(services: Services, demo: DemoResult, name: str) -> AccessContext:
    address = f"{name}@polres.co.uk"
    return await services.auth.authenticate(address, demo.passwords[address], channel="test")


async def test_mx_delivers_to_the_group_mailbox(run_smtp: Runner, services, demo):
    channel = await run_smtp(
        "EHLO mx.university.example\r\nMAIL FROM:<jane@university.example>\r\n"
        f"RCPT TO:<{GROUP}>\r\nDATA\r\n{message('Data request')}.\r\nQUIT\r\n"
    )
    assert channel.codes() == [220, 250, 250, 250, 354, 250, 221]
    alice = await login(services, demo, "alice")
    assert "Data request" in await subjects_in_inbox(services, alice, GROUP)
    stored = await services.messages.search(
        alice,
        (await services.mailboxes.get_mailbox_by_address(alice, GROUP)).id,
        SearchQuery(subject="Data request"),
    )
    raw = (await services.messages.open_message(alice, stored[0].id)).raw
    assert raw.startswith(b"Received: from mx.university.example ([192.0.2.1])")


async def test_mx_recipient_checks(run_smtp: Runner, demo):
    channel = await run_smtp(
        "EHLO mx.example\r\nMAIL FROM:<jane@university.example>\r\n"
        "RCPT TO:<nobody@polres.co.uk>\r\nRCPT TO:<someone@gmail.example>\r\n"
        "RCPT TO:alice@polres.co.uk\r\nRCPT TO:<alice@polres.co.uk>\r\nQUIT\r\n"
    )
    lines = channel.finals()
    assert lines[3].startswith("550 5.1.1")
    assert lines[4].startswith("554 5.7.1") and "relaying denied" in lines[4]
    assert lines[5].startswith("501")
    assert lines[6].startswith("250 2.1.5")


async def test_sequence_errors(run_smtp: Runner, demo):
    channel = await run_smtp(
        "MAIL FROM:<a@b.example>\r\nEHLO x.example\r\nRCPT TO:<alice@polres.co.uk>\r\nDATA\r\n"
        "MAIL FROM:<a@b.example>\r\nMAIL FROM:<a@b.example>\r\nDATA\r\nQUIT\r\n",
        max_errors=10,
    )
    assert channel.codes() == [220, 503, 250, 503, 503, 250, 503, 503, 221]


async def test_mail_parameters(run_smtp: Runner, demo):
    channel = await run_smtp(
        "EHLO x.example\r\nMAIL FROM:<a@b.example> SIZE=999999999\r\n"
        "MAIL FROM:<a@b.example> FROB=1\r\nMAIL FROM:<a@b.example> BODY=BINARYMIME\r\n"
        "MAIL FROM:<> SIZE=10 BODY=8BITMIME SMTPUTF8\r\nQUIT\r\n"
    )
    assert channel.codes() == [220, 250, 552, 555, 555, 250, 221]


async def test_too_many_recipients(run_smtp: Runner, demo):
    rcpts = "".join("RCPT TO:<alice@polres.co.uk>\r\n" for _ in range(7))
    channel = await run_smtp(f"EHLO x.example\r\nMAIL FROM:<a@b.example>\r\n{rcpts}QUIT\r\n")
    assert channel.codes()[3:10] == [250] * 5 + [452, 452]


async def test_message_too_big_is_refused_and_nothing_stored(run_smtp: Runner, services, demo):
    body = ("x" * 900 + "\r\n") * 200
    channel = await run_smtp(
        "EHLO x.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<alice@polres.co.uk>\r\n"
        f"DATA\r\n{message('Too big', body=body)}.\r\nQUIT\r\n"
    )
    assert channel.replies()[-2].startswith("552 5.3.4")
    alice = await login(services, demo, "alice")
    assert "Too big" not in await subjects_in_inbox(services, alice, "alice@polres.co.uk")


async def test_overlong_data_line_is_refused(run_smtp: Runner, services, demo):
    channel = await run_smtp(
        "EHLO x.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<alice@polres.co.uk>\r\n"
        f"DATA\r\n{message('Long line', body='y' * 1500)}.\r\nQUIT\r\n"
    )
    assert channel.replies()[-2].startswith("554 5.6.0")


async def test_dot_stuffing_is_undone(run_smtp: Runner, services, demo):
    channel = await run_smtp(
        "EHLO x.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<alice@polres.co.uk>\r\n"
        f"DATA\r\n{message('Dots', body='..leading dot')}.\r\nQUIT\r\n"
    )
    assert channel.codes()[-2] == 250
    alice = await login(services, demo, "alice")
    personal = await services.mailboxes.get_personal_mailbox(alice)
    folders = await services.mailboxes.list_folders(alice, personal.id)
    inbox = next(f for f in folders if f.name == "INBOX")
    [summary] = [
        m for m in await services.messages.list_messages(alice, inbox.id) if m.subject == "Dots"
    ]
    raw = (await services.messages.open_message(alice, summary.id)).raw
    assert b"\r\n.leading dot\r\n" in raw


async def test_smtp_smuggling_bare_lf_dot_is_refused_whole(run_smtp: Runner, services, demo):
    """The 2023 smuggling sequence <LF>.<LF> must not end the message: the smuggled second
    message stays inside the first, and the whole is refused."""
    smuggled = (
        "EHLO x.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<alice@polres.co.uk>\r\nDATA\r\n"
        f"{message('Outer')}\n.\nMAIL FROM:<ceo@polres.co.uk>\nRCPT TO:<alice@polres.co.uk>\n"
        f"DATA\n{message('Smuggled')}\r\n.\r\nQUIT\r\n"
    )
    channel = await run_smtp(smuggled)
    assert channel.codes() == [220, 250, 250, 250, 354, 554, 221]
    assert "smuggling" in channel.replies()[-2]
    alice = await login(services, demo, "alice")
    subjects = await subjects_in_inbox(services, alice, "alice@polres.co.uk")
    assert "Smuggled" not in subjects and "Outer" not in subjects


async def test_smtp_smuggling_bare_cr_is_refused(run_smtp: Runner, demo):
    channel = await run_smtp(
        "EHLO x.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<alice@polres.co.uk>\r\nDATA\r\n"
        f"{message('CR')}\r.\r\r\n.\r\nQUIT\r\n"
    )
    assert channel.codes()[-2] == 554


def auth_line(address: str, password: str) -> str:
    return "AUTH PLAIN " + base64.b64encode(f"\0{address}\0{password}".encode()).decode() + "\r\n"


async def test_submission_requires_auth(run_smtp: Runner, demo):
    channel = await run_smtp(
        "EHLO x.example\r\nMAIL FROM:<carol@polres.co.uk>\r\nQUIT\r\n", mode="submission", tls=True
    )
    assert channel.replies()[-2].startswith("530 5.7.0")


async def test_send_as_group_needs_the_mail_right(run_smtp: Runner, services, demo):
    carol = auth_line("carol@polres.co.uk", demo.passwords["carol@polres.co.uk"])
    alice = auth_line("alice@polres.co.uk", demo.passwords["alice@polres.co.uk"])
    erin = auth_line("erin@polres.co.uk", demo.passwords["erin@polres.co.uk"])
    for creds, expected in ((carol, "250 2.1.0"), (alice, "550 5.7.1"), (erin, "550 5.7.1")):
        channel = await run_smtp(
            f"EHLO x.example\r\n{creds}MAIL FROM:<{GROUP}>\r\nQUIT\r\n", mode="submission", tls=True
        )
        assert channel.replies()[-2].startswith(expected), channel.replies()
    # alice and erin get the same words: erin learns nothing about the hidden mailbox.
    channel = await run_smtp(
        f"EHLO x.example\r\n{erin}MAIL FROM:<dave@polres.co.uk>\r\nQUIT\r\n",
        mode="submission",
        tls=True,
    )
    assert channel.replies()[-2].startswith("550 5.7.1")


async def test_from_header_must_match_the_rights(run_smtp: Runner, services, demo):
    """MAIL FROM is carol's own address, but the From: header claims the group: alice (read
    only) is refused at DATA; nothing is stored."""
    alice = auth_line("alice@polres.co.uk", demo.passwords["alice@polres.co.uk"])
    channel = await run_smtp(
        f"EHLO x.example\r\n{alice}MAIL FROM:<alice@polres.co.uk>\r\n"
        "RCPT TO:<bob@polres.co.uk>\r\nDATA\r\n"
        f"{message('Forged from', sender=GROUP)}.\r\nQUIT\r\n",
        mode="submission",
        tls=True,
    )
    assert channel.replies()[-2].startswith("550 5.7.1")
    bob = await login(services, demo, "bob")
    assert "Forged from" not in await subjects_in_inbox(services, bob, "bob@polres.co.uk")


async def test_carol_replies_as_the_group_locally(run_smtp: Runner, services, demo):
    carol = auth_line("carol@polres.co.uk", demo.passwords["carol@polres.co.uk"])
    channel = await run_smtp(
        f"EHLO x.example\r\n{carol}MAIL FROM:<{GROUP}>\r\nRCPT TO:<bob@polres.co.uk>\r\n"
        f"DATA\r\nBcc: secret@polres.co.uk\r\n{message('Reply from the team', sender=GROUP)}"
        ".\r\nQUIT\r\n",
        mode="submission",
        tls=True,
    )
    assert channel.replies()[-2].startswith("250 2.0.0"), channel.replies()
    bob = await login(services, demo, "bob")
    assert "Reply from the team" in await subjects_in_inbox(services, bob, "bob@polres.co.uk")
    group = await services.mailboxes.get_mailbox_by_address(bob, GROUP)
    sent = next(f for f in await services.mailboxes.list_folders(bob, group.id) if f.name == "Sent")
    [copy] = await services.messages.list_messages(bob, sent.id)
    assert copy.subject == "Reply from the team"
    assert copy.sent_by == "carol@polres.co.uk"
    raw = (await services.messages.open_message(bob, copy.id)).raw
    assert b"Bcc:" not in raw and b"secret@" not in raw


async def test_from_the_group_with_her_own_envelope_files_in_the_group_sent(
    run_smtp: Runner, services, demo
):
    carol = auth_line("carol@polres.co.uk", demo.passwords["carol@polres.co.uk"])
    channel = await run_smtp(
        f"EHLO x.example\r\n{carol}MAIL FROM:<carol@polres.co.uk>\r\n"
        f"RCPT TO:<bob@polres.co.uk>\r\nDATA\r\n{message('Envelope mine', sender=GROUP)}"
        ".\r\nQUIT\r\n",
        mode="submission",
        tls=True,
    )
    assert channel.finals()[-2].startswith("250 2.0.0"), channel.replies()
    dave = await login(services, demo, "dave")
    group = await services.mailboxes.get_mailbox_by_address(dave, GROUP)
    sent = next(
        f for f in await services.mailboxes.list_folders(dave, group.id) if f.name == "Sent"
    )
    copies = await services.messages.list_messages(dave, sent.id)
    assert [(m.subject, m.sent_by) for m in copies] == [("Envelope mine", "carol@polres.co.uk")]


async def test_group_login_form_works_for_submission(run_smtp: Runner, services, demo):
    login_form = f"carol@polres.co.uk#{GROUP}"
    creds = auth_line(login_form, demo.passwords["carol@polres.co.uk"])
    channel = await run_smtp(
        f"EHLO x.example\r\n{creds}MAIL FROM:<{GROUP}>\r\nQUIT\r\n", mode="submission", tls=True
    )
    assert channel.finals()[2].startswith("235") and channel.finals()[3].startswith("250")
    erin = auth_line(f"erin@polres.co.uk#{GROUP}", demo.passwords["erin@polres.co.uk"])
    refused = await run_smtp(f"EHLO x.example\r\n{erin}QUIT\r\n", mode="submission", tls=True)
    assert refused.finals()[2].startswith("535 5.7.8")
