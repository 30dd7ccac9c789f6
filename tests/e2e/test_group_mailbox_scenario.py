"""The reference scenario over real SMTP: an enquiry reaches GM.ZeroTolerance from outside;
carol (read,mail) replies as the group and the reply reaches the outside world, with a copy in
the group's Sent marked as sent by carol; alice (read only) tries the same and is refused, and
nothing is queued or stored."""

import asyncio
import smtplib
import ssl
from pathlib import Path

import pytest
import trustme

from securemail.config import load_settings
from securemail.core.context import system_context
from securemail.core.search import SearchQuery
from securemail.server import Server
from securemail.services.demo import load_demo
from tests.conftest import TestStore
from tests.e2e.conftest import listener_env
from tests.relay.conftest import resolver_for, serve_sink

GROUP = "GM.ZeroTolerance@polres.co.uk"
OUTSIDE = "jane@university.example"


def enquiry() -> str:
    return (
        f"From: Jane Smith <{OUTSIDE}>\r\nTo: {GROUP}\r\nSubject: Evaluation data\r\n"
        "Message-ID: <enquiry-42@university.example>\r\n\r\nCould you send the data?\r\n"
    )


def reply(sender: str) -> str:
    return (
        f"From: Zero Tolerance team <{sender}>\r\nTo: {OUTSIDE}\r\n"
        "Subject: Re: Evaluation data\r\nIn-Reply-To: <enquiry-42@university.example>\r\n"
        "X-Securemail-Sent-By: forged@elsewhere.example\r\n\r\nHere it is.\r\n"
    )


def submit(port: int, tls: ssl.SSLContext, user: str, password: str) -> None:
    with smtplib.SMTP("127.0.0.1", port) as client:
        client.starttls(context=tls)
        client.login(user, password)
        client.sendmail(GROUP, [OUTSIDE], reply(GROUP))


async def test_enquiry_and_reply_as_the_group(store: TestStore, ca: trustme.CA, tmp_path: Path):
    async with serve_sink() as sink:
        env = listener_env(store, ca, tmp_path)
        env["SECUREMAIL_RELAY_PORT"] = str(sink.port)
        server = Server(load_settings(env=env), resolver=resolver_for("university.example"))
        await server.start()
        try:
            await _scenario(server, sink, ca)
        finally:
            await server.stop(grace=2)


async def _scenario(server: Server, sink, ca: trustme.CA) -> None:  # type: ignore[no-untyped-def]
    services = server.runtime.services
    demo = await load_demo(services, system_context("test"))
    tls = ssl.create_default_context()
    ca.configure_trust(tls)

    def mx() -> None:
        with smtplib.SMTP("127.0.0.1", server.ports["smtp"]) as client:
            client.sendmail(OUTSIDE, [GROUP], enquiry())

    await asyncio.to_thread(mx)
    carol_pw = demo.passwords["carol@polres.co.uk"]
    carol = await services.auth.authenticate("carol@polres.co.uk", carol_pw, channel="t")
    group = await services.mailboxes.get_mailbox_by_address(carol, GROUP)
    found = await services.messages.search(carol, group.id, SearchQuery(subject="Evaluation"))
    assert "Evaluation data" in [m.subject for m in found]

    port = server.ports["submission"]
    await asyncio.to_thread(submit, port, tls, "carol@polres.co.uk", carol_pw)
    await asyncio.wait_for(sink.handler.arrived.wait(), 15)
    [outside] = sink.handler.messages
    assert outside.rcpt_tos == [OUTSIDE]
    assert outside.mail_from == GROUP.lower()
    assert outside.message["Subject"] == "Re: Evaluation data"
    assert "X-Securemail-Sent-By" not in outside.message  # who sent it stays inside

    sent = next(
        f for f in await services.mailboxes.list_folders(carol, group.id) if f.name == "Sent"
    )
    [copy] = await services.messages.list_messages(carol, sent.id)
    assert (copy.subject, copy.sent_by) == ("Re: Evaluation data", "carol@polres.co.uk")
    audit = await services.audit.list_entries(system_context("t"), mailbox=GROUP)
    assert any(e.action == "message.send" and e.actor == "carol@polres.co.uk" for e in audit)

    async def queue_ids() -> list[int]:
        items = await services.queue.list_items(system_context("t"), statuses=None, limit=100)
        return sorted(item.id for item in items)

    queued_before = await queue_ids()
    assert len(queued_before) == 1
    alice_pw = demo.passwords["alice@polres.co.uk"]
    with pytest.raises(smtplib.SMTPSenderRefused) as refused:
        await asyncio.to_thread(submit, port, tls, "alice@polres.co.uk", alice_pw)
    assert refused.value.smtp_code == 550 and b"5.7.1" in refused.value.smtp_error
    assert await queue_ids() == queued_before  # nothing queued for alice
    assert len(await services.messages.list_messages(carol, sent.id)) == 1
    assert len(sink.handler.messages) == 1
