"""The world the rights tests run in: two organisations, a group mailbox with a message and a
user folder, a team lead holding every right, and principals made to order.

Principal names (used by the matrix and the property test):
  svc    the service administrator (system_context)
  admA   organisation administrator of Org A (the group's organisation), no grant
  admB   organisation administrator of Org B
  none   a user of Org A without any grant
  r, rw, rm, rd, rmg   users of Org A holding read, read+write, read+mail, read+delete,
                       read+manage on the group mailbox
  userB  a user of Org B
"""

import itertools
from dataclasses import dataclass, field

import pytest

from securemail.core.context import AccessContext, system_context
from securemail.core.model import Folder, Mailbox, Organisation
from securemail.core.rights import Right
from securemail.services.registry import Services
from securemail.store.repos import mailboxes as mailbox_repo
from securemail.store.repos import messages as message_repo

PASSWORD = "correct horse battery staple"
DOMAIN_A = "polres.co.uk"
DOMAIN_B = "other.example"
GROUP = "gm.enquiries@polres.co.uk"
LEAD = "lead@polres.co.uk"
MEMBER = "member@polres.co.uk"
SEARCH_WORD = "zebrafish"

PRINCIPALS = ("svc", "admA", "admB", "none", "r", "rw", "rm", "rd", "rmg", "userB")
GRANTS = {
    "r": Right.READ,
    "rw": Right.READ | Right.WRITE,
    "rm": Right.READ | Right.MAIL,
    "rd": Right.READ | Right.DELETE,
    "rmg": Right.READ | Right.MANAGE,
}
_ADDRESSES = {
    "admA": f"admin@{DOMAIN_A}",
    "admB": f"admin@{DOMAIN_B}",
    "none": f"nogrant@{DOMAIN_A}",
    "r": f"reader@{DOMAIN_A}",
    "rw": f"writer@{DOMAIN_A}",
    "rm": f"mailer@{DOMAIN_A}",
    "rd": f"deleter@{DOMAIN_A}",
    "rmg": f"manager@{DOMAIN_A}",
    "userB": f"user@{DOMAIN_B}",
}
_counter = itertools.count(1)


def raw_message(
    to: str, subject: str, sender: str = "Dr Jane Smith <jane.smith@university.example>"
) -> bytes:
    """A small RFC 5322 message with a Message-ID of its own."""
    n = next(_counter)
    return (
        f"From: {sender}\r\n"
        f"To: {to}\r\n"
        f"Subject: {subject}\r\n"
        f"Date: Thu, 26 Nov 2026 09:15:00 +0000\r\n"
        f"Message-ID: <rights-{n}@university.example>\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n"
        f"\r\n"
        f"Message number {n}.\r\n"
    ).encode()


@dataclass
class Actor:
    """A principal's context, with its own Inbox and one message in it (users only)."""

    name: str
    ctx: AccessContext
    inbox: Folder | None = None
    own_message_id: int | None = None


@dataclass
class World:
    services: Services
    system: AccessContext
    org_a: Organisation
    org_b: Organisation
    group: Mailbox
    folders: dict[str, Folder]  # INBOX, Sent, Drafts, Trash, Cases
    message_id: int  # the enquiry in the group's INBOX
    lead: AccessContext  # every right on the group: prepares and inspects its state
    lead_inbox: Folder  # the Inbox of the lead's personal mailbox: someone else's mail
    actors: dict[str, Actor] = field(default_factory=dict)

    async def deliver(self, address: str, subject: str) -> int:
        result = await self.services.delivery.deliver(
            self.system, raw_message(address, subject), [address]
        )
        return result.message_ids[0]

    async def login(self, address: str) -> AccessContext:
        return await self.services.auth.authenticate(address, PASSWORD, channel="test")

    async def user(
        self, address: str, *, admin: bool = False, rights: Right = Right.NONE
    ) -> AccessContext:
        """Create a user (granting `rights` on the group if any) and log them in."""
        await self.services.directory.create_user(
            self.system, address, admin=admin, password=PASSWORD
        )
        if rights:
            await self.services.sharing.grant(self.system, GROUP, address, rights)
        return await self.login(address)

    async def actor(self, name: str) -> Actor:
        """The principal called `name` (see the module docstring), created on first use."""
        if name not in self.actors:
            self.actors[name] = await self._make_actor(name)
        return self.actors[name]

    async def _make_actor(self, name: str) -> Actor:
        if name == "svc":
            return Actor(name, self.system)
        address = _ADDRESSES[name]
        ctx = await self.user(
            address, admin=name.startswith("adm"), rights=GRANTS.get(name, Right.NONE)
        )
        own_id = await self.deliver(address, f"Own mail of {name}")
        mailbox = await self.services.mailboxes.get_personal_mailbox(ctx)
        inbox = await self.services.mailboxes.find_folder_by_name(ctx, mailbox.id, "INBOX")
        return Actor(name, ctx, inbox, own_id)

    async def group_folder_of(self, message_id: int) -> str | None:
        """The name of the group folder holding the message (as the lead sees it), or None."""
        for folder in await self.services.mailboxes.list_folders(self.lead, self.group.id):
            listed = await self.services.messages.list_messages(self.lead, folder.id)
            if any(m.id == message_id for m in listed):
                return folder.name
        return None

    async def read_by(self, message_id: int) -> tuple[str, ...]:
        """Who has \\Seen the message (the team's "read by" view), read without side effects."""
        async with self.services.deps.db.read() as conn:
            return await message_repo.read_by(conn, message_id)

    async def subscriptions(self, user_id: int) -> list[tuple[int, str]]:
        """Every IMAP subscription the user holds, readable mailbox or not."""
        async with self.services.deps.db.read() as conn:
            return sorted(await mailbox_repo.list_subscriptions(conn, user_id))


async def build_world(services: Services) -> World:
    system = system_context("test")
    directory = services.directory
    org_a = await directory.create_org(system, "Org A", DOMAIN_A)
    org_b = await directory.create_org(system, "Org B", DOMAIN_B)
    group = await directory.create_group(system, GROUP, "Enquiries")
    await directory.create_user(system, LEAD, password=PASSWORD)
    await services.sharing.grant(system, GROUP, LEAD, Right.READ | Right.WRITE | Right.MAIL)
    await services.sharing.grant(system, GROUP, LEAD, Right.DELETE | Right.MANAGE)
    await directory.create_user(system, MEMBER, password=PASSWORD)
    await services.sharing.grant(system, GROUP, MEMBER, Right.READ)
    lead = await services.auth.authenticate(LEAD, PASSWORD, channel="test")
    cases = await services.mailboxes.create_folder(lead, group.id, "Cases")
    folders = {f.name: f for f in await services.mailboxes.list_folders(lead, group.id)}
    assert set(folders) == {"INBOX", "Sent", "Drafts", "Trash", "Cases"}
    assert folders["Cases"].id == cases.id
    personal = await services.mailboxes.get_personal_mailbox(lead)
    lead_inbox = await services.mailboxes.find_folder_by_name(lead, personal.id, "INBOX")
    world = World(services, system, org_a, org_b, group, folders, 0, lead, lead_inbox)
    world.message_id = await world.deliver(GROUP, f"Enquiry about {SEARCH_WORD} welfare")
    return world


@pytest.fixture
async def world(services: Services) -> World:
    return await build_world(services)
