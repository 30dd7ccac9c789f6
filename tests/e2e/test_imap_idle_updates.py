"""What an IDLE session hears when others change its folder (RFC 2177, RFC 3501 7.3-7.4):
another member's flag change, the member's own \\Seen from webmail, a delivery, and an
expunge, each as the right untagged line, over a real TLS connection."""

import asyncio
import re

from securemail.core.context import AccessContext, system_context
from securemail.core.model import Flag
from tests.e2e.conftest import HOST, Running

GROUP = "GM.ZeroTolerance@polres.co.uk"
SHARED_INBOX = '"Shared/GM.ZeroTolerance@polres.co.uk/INBOX"'
NEW_MAIL = (
    b"From: Jane Smith <jane@university.example>\r\nTo: " + GROUP.encode() + b"\r\n"
    b"Subject: Follow-up\r\n\r\nAny news?\r\n"
)


class Client:
    """A line-level IMAP client: enough to log in, select, IDLE and read what comes."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def command(self, line: str) -> list[str]:
        tag = line.split()[0]
        self.writer.write(line.encode() + b"\r\n")
        lines = []
        while True:
            got = await self.expect(r".*")
            lines.append(got)
            if got.startswith(f"{tag} "):
                assert got.startswith(f"{tag} OK"), lines
                return lines

    async def expect(self, pattern: str, timeout: float = 5.0) -> str:
        line = (await asyncio.wait_for(self.reader.readline(), timeout)).decode().rstrip("\r\n")
        assert re.fullmatch(pattern, line), (pattern, line)
        return line


async def connect(running: Running, user: str) -> Client:
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", running.port("imaps"), ssl=running.client_tls, server_hostname=HOST
    )
    client = Client(reader, writer)
    await client.expect(r"\* OK .*")
    password = running.demo.passwords[f"{user}@polres.co.uk"]
    await client.command(f'a LOGIN {user}@polres.co.uk "{password}"')
    return client


async def ctx_of(running: Running, user: str) -> AccessContext:
    services = running.server.runtime.services
    password = running.demo.passwords[f"{user}@polres.co.uk"]
    return await services.auth.authenticate(f"{user}@polres.co.uk", password, channel="test")


async def test_idle_hears_flags_seen_new_mail_and_expunge(running: Running) -> None:
    services = running.server.runtime.services
    dave, carol = await ctx_of(running, "dave"), await ctx_of(running, "carol")
    group = await services.mailboxes.get_mailbox_by_address(dave, GROUP)
    inbox = next(
        f for f in await services.mailboxes.list_folders(dave, group.id) if f.name == "INBOX"
    )
    (enquiry,) = await services.messages.list_messages(dave, inbox.id)
    client = await connect(running, "carol")
    selected = await client.command(f"b SELECT {SHARED_INBOX}")
    assert "* 1 EXISTS" in selected
    client.writer.write(b"c IDLE\r\n")
    await client.expect(r"\+ .*")

    await services.messages.set_flags(dave, enquiry.id, Flag.FLAGGED)  # another member
    await client.expect(rf"\* 1 FETCH \(UID {enquiry.uid} FLAGS \(\\Flagged\)\)")

    await services.messages.set_seen(carol, enquiry.id, True)  # carol, in webmail
    await client.expect(rf"\* 1 FETCH \(UID {enquiry.uid} FLAGS \(\\Flagged \\Seen\)\)")

    await services.delivery.deliver(system_context("test"), NEW_MAIL, [GROUP])
    await client.expect(r"\* 2 EXISTS")

    await services.messages.set_flags(dave, enquiry.id, Flag.FLAGGED | Flag.DELETED)
    await client.expect(rf"\* 1 FETCH \(UID {enquiry.uid} FLAGS \(.*\\Deleted.*\)\)")
    assert await services.messages.expunge(dave, inbox.id) == [enquiry.uid]
    await client.expect(r"\* 1 EXPUNGE")

    client.writer.write(b"DONE\r\n")
    await client.expect(r"c OK IDLE terminated")
    fetched = await client.command("d FETCH 1:* (UID FLAGS)")
    assert fetched[0].startswith("* 1 FETCH (UID ") and "\\Seen" not in fetched[0]
    client.writer.close()


async def test_every_idle_session_hears_an_expunge_of_many(running: Running) -> None:
    """Three of carol's clients and one of bob's idle on the group INBOX (the sessions of one
    user share one read of the folder); dave expunges two of three messages: each client hears
    both EXPUNGE lines, highest number first, and keeps the one message left."""
    services = running.server.runtime.services
    dave = await ctx_of(running, "dave")
    group = await services.mailboxes.get_mailbox_by_address(dave, GROUP)
    inbox = next(
        f for f in await services.mailboxes.list_folders(dave, group.id) if f.name == "INBOX"
    )
    for _ in range(2):
        await services.delivery.deliver(system_context("test"), NEW_MAIL, [GROUP])
    listed = sorted(await services.messages.list_messages(dave, inbox.id), key=lambda m: m.uid)
    assert len(listed) == 3
    clients = [await connect(running, user) for user in ("carol", "carol", "carol", "bob")]
    for client in clients:
        assert "* 3 EXISTS" in await client.command(f"b SELECT {SHARED_INBOX}")
        client.writer.write(b"c IDLE\r\n")
        await client.expect(r"\+ .*")
    for message in listed[:2]:
        await services.messages.set_flags(dave, message.id, Flag.DELETED)
    assert await services.messages.expunge(dave, inbox.id) == [m.uid for m in listed[:2]]
    for client in clients:
        expunged: list[str] = []
        for _ in range(4):  # the \\Deleted FETCH lines come first unless the expunge won
            line = await client.expect(r"\* \d+ (FETCH .*|EXPUNGE)")
            expunged += [line] if line.endswith("EXPUNGE") else []
            if len(expunged) == 2:
                break
        assert expunged == ["* 2 EXPUNGE", "* 1 EXPUNGE"]
        client.writer.write(b"DONE\r\n")
        await client.expect(r"c OK IDLE terminated")
        fetched = await client.command("d FETCH 1:* (UID)")
        assert fetched[0] == f"* 1 FETCH (UID {listed[2].uid})" and len(fetched) == 2
        client.writer.close()
