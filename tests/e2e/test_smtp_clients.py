"""Real SMTP clients (Python's smtplib, swaks) against a live server on 127.0.0.1."""

import asyncio
import shutil
import smtplib
import subprocess

import pytest

from securemail.core.model import OrgPolicy
from securemail.core.search import SearchQuery
from tests.e2e.conftest import Running

GROUP = "GM.ZeroTolerance@polres.co.uk"


def enquiry(subject: str) -> str:
    return (
        f"From: Jane Smith <jane@university.example>\r\nTo: {GROUP}\r\n"
        f"Subject: {subject}\r\nMessage-ID: <{abs(hash(subject))}@university.example>\r\n"
        "\r\nPlease send the 2025 evaluation.\r\n"
    )


async def group_subjects(running: Running, user: str) -> list[str]:
    services = running.server.runtime.services
    address = f"{user}@polres.co.uk"
    ctx = await services.auth.authenticate(address, running.demo.passwords[address], channel="t")
    group = await services.mailboxes.get_mailbox_by_address(ctx, GROUP)
    found = await services.messages.search(ctx, group.id, SearchQuery())
    return [m.subject for m in found]


def send_mx(port: int, subject: str) -> dict[str, tuple[int, bytes]]:
    with smtplib.SMTP("127.0.0.1", port, local_hostname="mx.university.example") as client:
        return client.sendmail("jane@university.example", [GROUP], enquiry(subject))


async def test_smtplib_delivers_to_the_group_over_starttls(running: Running):
    def send() -> tuple[bool, dict[str, tuple[int, bytes]]]:
        with smtplib.SMTP("127.0.0.1", running.port("smtp"), local_hostname="mx.test") as c:
            c.starttls(context=running.client_tls)
            refused = c.sendmail("jane@university.example", [GROUP], enquiry("Over TLS"))
            return c.sock is not None and "ssl" in type(c.sock).__name__.lower(), refused

    tls, refused = await asyncio.to_thread(send)
    assert tls and refused == {}
    assert "Over TLS" in await group_subjects(running, "alice")


async def test_unknown_recipient_is_refused_at_rcpt(running: Running):
    def send() -> None:
        with smtplib.SMTP("127.0.0.1", running.port("smtp")) as c:
            c.sendmail("jane@university.example", ["ghost@polres.co.uk"], enquiry("Ghost"))

    with pytest.raises(smtplib.SMTPRecipientsRefused) as info:
        await asyncio.to_thread(send)
    assert info.value.recipients["ghost@polres.co.uk"][0] == 550


def _submit(running: Running, user: str, sender: str, rcpt: str, subject: str, port: str):
    password = running.demo.passwords[f"{user}@polres.co.uk"]
    body = enquiry(subject).replace("From: Jane Smith <jane@university.example>", f"From: {sender}")
    if port == "submissions":
        client: smtplib.SMTP = smtplib.SMTP_SSL(
            "127.0.0.1", running.port(port), context=running.client_tls
        )
    else:
        client = smtplib.SMTP("127.0.0.1", running.port(port))
    with client:
        client.ehlo("laptop.polres.co.uk")
        if port == "submission":
            client.starttls(context=running.client_tls)
        client.login(f"{user}@polres.co.uk", password)
        return client.sendmail(sender, [rcpt], body)


async def test_submission_send_as_group_on_587_and_465(running: Running):
    for port in ("submission", "submissions"):
        refused = await asyncio.to_thread(
            _submit, running, "carol", GROUP, "bob@polres.co.uk", f"Reply via {port}", port
        )
        assert refused == {}
    services = running.server.runtime.services
    dave_pw = running.demo.passwords["dave@polres.co.uk"]
    dave = await services.auth.authenticate("dave@polres.co.uk", dave_pw, channel="t")
    group = await services.mailboxes.get_mailbox_by_address(dave, GROUP)
    sent = next(
        f for f in await services.mailboxes.list_folders(dave, group.id) if f.name == "Sent"
    )
    copies = await services.messages.list_messages(dave, sent.id)
    assert {(m.subject, m.sent_by) for m in copies} == {
        ("Reply via submission", "carol@polres.co.uk"),
        ("Reply via submissions", "carol@polres.co.uk"),
    }


async def test_submission_send_as_group_without_mail_right_is_refused(running: Running):
    with pytest.raises(smtplib.SMTPSenderRefused) as info:
        await asyncio.to_thread(
            _submit, running, "alice", GROUP, "bob@polres.co.uk", "Not allowed", "submission"
        )
    assert info.value.smtp_code == 550
    assert b"not allowed to send as" in info.value.smtp_error


async def test_submission_login_requires_tls(running: Running):
    def plain_login() -> None:
        with smtplib.SMTP("127.0.0.1", running.port("submission")) as c:
            c.ehlo("laptop")
            c.login("carol@polres.co.uk", running.demo.passwords["carol@polres.co.uk"])

    with pytest.raises(smtplib.SMTPNotSupportedError):
        await asyncio.to_thread(plain_login)


@pytest.mark.skipif(shutil.which("swaks") is None, reason="swaks is not installed")
async def test_swaks_delivers_over_starttls(running: Running):
    proc = await asyncio.create_subprocess_exec(
        "swaks", "--server", "127.0.0.1", "--port", str(running.port("smtp")),
        "--from", "jane@university.example", "--to", GROUP, "--tls",
        "--header", "Subject: Sent by swaks", "--body", "An enquiry from swaks.",
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await proc.communicate()
    assert proc.returncode == 0, out.decode()
    assert b"250 2.0.0" in out
    assert "Sent by swaks" in await group_subjects(running, "alice")


async def test_mx_stamps_authentication_results(running: Running):
    """SPF for the sender's domain is checked and recorded for the reader; a forged
    Authentication-Results claiming our name is removed."""
    running.resolver.txt_records["university.example"] = ["v=spf1 ip4:127.0.0.1 -all"]
    forged = "Authentication-Results: mail.polres.test; spf=pass; dkim=pass; dmarc=pass\r\n"

    def send() -> None:
        with smtplib.SMTP("127.0.0.1", running.port("smtp"), local_hostname="mx.test") as c:
            c.sendmail("jane@university.example", [GROUP], forged + enquiry("Stamped"))

    await asyncio.to_thread(send)
    services = running.server.runtime.services
    pw = running.demo.passwords["alice@polres.co.uk"]
    alice = await services.auth.authenticate("alice@polres.co.uk", pw, channel="t")
    group = await services.mailboxes.get_mailbox_by_address(alice, GROUP)
    [found] = await services.messages.search(alice, group.id, SearchQuery(subject="Stamped"))
    raw = (await services.messages.open_message(alice, found.id)).raw
    fields = [line for line in raw.split(b"\r\n") if line.startswith(b"Authentication-Results")]
    assert len(fields) == 1
    header = raw[raw.index(b"Authentication-Results") :].split(b"\r\n\r\n")[0]
    assert b"spf=pass smtp.mailfrom=university.example" in header
    assert b"dkim=none" in header


async def test_closed_community_refuses_the_recipient_at_rcpt(running: Running):
    """With an allow-list set by the organisation, submission refuses other domains at RCPT
    with 550 5.7.1 and a message saying why; allowed domains are accepted."""
    services = running.server.runtime.services
    admin_pw = running.demo.passwords["admin@polres.co.uk"]
    admin = await services.auth.authenticate("admin@polres.co.uk", admin_pw, channel="t")
    assert admin.org_id is not None
    policy = OrgPolicy(org_id=admin.org_id, recipient_allowlist=("partner.example",))
    await services.org_policy.set(admin, policy)
    with pytest.raises(smtplib.SMTPRecipientsRefused) as info:
        await asyncio.to_thread(
            _submit, running, "bob", "bob@polres.co.uk", "x@elsewhere.example", "No", "submission"
        )
    code, message = info.value.recipients["x@elsewhere.example"]
    assert code == 550
    assert b"closed community" in message
    refused = await asyncio.to_thread(
        _submit, running, "bob", "bob@polres.co.uk", "x@partner.example", "Yes", "submission"
    )
    assert refused == {}
