"""Group mailbox rights in webmail, as each demo user meets them: what the pages offer, what
the server refuses, what the store holds afterwards, and live updates."""

import asyncio
import json
import re
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
import uvicorn

from securemail.core.context import AccessContext
from securemail.core.model import Folder, MessageSummary
from securemail.services.demo import DEMO_DOMAIN, DEMO_GROUP, DEMO_GROUP_NAME, DemoResult
from securemail.services.registry import Services
from securemail.web.app import create_app
from tests.web.conftest import LoginAs, csrf_of, log_in

ATTACHED = (
    b"From: Tom Reporter <tom@press.example>\r\nTo: " + DEMO_GROUP.encode() + b"\r\n"
    b"Subject: Interview request\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
    b"--b1\r\nContent-Type: text/html\r\n\r\n<p>Could an officer talk to us?</p>\r\n"
    b"--b1\r\nContent-Type: application/pdf\r\n"
    b'Content-Disposition: attachment; filename="questions.pdf"\r\n'
    b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b1--\r\n"
)
PERSONAL = b"From: colleague@partner.example\r\nSubject: Please file this\r\n\r\nFor the team.\r\n"


async def ctx_of(services: Services, demo: DemoResult, name: str) -> AccessContext:
    address = f"{name}@{DEMO_DOMAIN}"
    return await services.auth.authenticate(address, demo.passwords[address], channel="test")


@dataclass
class Group:
    """The demo group as dave (who holds every right) sees it."""

    id: int
    folders: dict[str, Folder]
    enquiry: int
    attached: int
    part: int  # index of the attachment of `attached`
    dave: AccessContext

    @property
    def inbox(self) -> int:
        return self.folders["INBOX"].id

    def folder(self, name: str) -> int:
        return self.folders[name].id


async def contents(services: Services, ctx: AccessContext, folder_id: int) -> list[MessageSummary]:
    return await services.messages.list_messages(ctx, folder_id, offset=0, limit=100)


async def folder_ids(services: Services, ctx: AccessContext, mailbox_id: int) -> dict[str, int]:
    return {f.name: f.id for f in await services.mailboxes.list_folders(ctx, mailbox_id)}


async def store_state(services: Services, group: Group) -> dict[str, object]:
    """Everything a refused action must leave as it was: where each message is, its flags."""
    state: dict[str, object] = {}
    for name, folder_id in (await folder_ids(services, group.dave, group.id)).items():
        state[name] = [(m.id, m.flags) for m in await contents(services, group.dave, folder_id)]
    return state


@pytest.fixture
async def group(
    services: Services, demo: DemoResult, system: AccessContext, login_as: LoginAs
) -> Group:
    dave = await ctx_of(services, demo, "dave")
    box = await services.mailboxes.get_mailbox_by_address(dave, DEMO_GROUP)
    folders = {f.name: f for f in await services.mailboxes.list_folders(dave, box.id)}
    [enquiry] = await contents(services, dave, folders["INBOX"].id)
    [attached] = (await services.delivery.deliver(system, ATTACHED, [DEMO_GROUP])).message_ids
    # The part index as the message page offers it (read with dave's login).
    client = await login_as("dave")
    page = await client.get(f"/mail/{box.id}/{folders['INBOX'].id}/{attached}")
    [part] = re.findall(r'/part/(\d+)" download>questions\.pdf<', page.text)
    return Group(box.id, folders, enquiry.id, attached, int(part), dave)


async def own_message(
    services: Services, demo: DemoResult, system: AccessContext, name: str
) -> tuple[AccessContext, int, int, int]:
    """A message delivered to `name`'s own inbox: (ctx, mailbox id, inbox id, message id)."""
    ctx = await ctx_of(services, demo, name)
    [message_id] = (
        await services.delivery.deliver(system, PERSONAL, [f"{name}@{DEMO_DOMAIN}"])
    ).message_ids
    box = await services.mailboxes.get_personal_mailbox(ctx)
    return ctx, box.id, (await folder_ids(services, ctx, box.id))["INBOX"], message_id


def select_options(html: str, name: str) -> dict[str, str]:
    """value -> label of the options of the first <select name=...> on the page."""
    found = re.search(rf'<select [^>]*name="{name}">(.*?)</select>', html, re.DOTALL)
    if found is None:
        return {}
    return dict(re.findall(r'<option value="(\d+)">([^<]*)</option>', found.group(1)))


async def token_of(client: httpx.AsyncClient) -> str:
    return csrf_of((await client.get((await client.get("/")).headers["location"])).text)


# ---------------------------------------------------------------- erin: no Read


def group_urls(g: Group) -> list[str]:
    urls = [f"/mail/{g.id}", f"/mail/{g.id}/folders", f"/mail/{g.id}/search?q=enquiry"]
    for folder in g.folders.values():
        urls += [f"/mail/{g.id}/{folder.id}", f"/mail/{g.id}/{folder.id}?page=2&threads=1"]
    for message in (g.enquiry, g.attached):
        base = f"/mail/{g.id}/{g.inbox}/{message}"
        urls += [base, f"{base}?remote=1", f"{base}/body"]
    urls.append(f"/mail/{g.id}/{g.inbox}/{g.attached}/part/{g.part}")
    urls.append(f"/mail/{g.id}/{g.inbox}/{g.attached}/part/{g.part}?inline=1")
    return urls


async def test_erin_gets_404_on_every_group_url(
    services: Services, login_as: LoginAs, group: Group
) -> None:
    erin = await login_as("erin")
    dave = await login_as("dave")
    for url in group_urls(group):
        assert (await dave.get(url)).status_code in (200, 303), url  # the URL is real
        answer = await erin.get(url)
        assert answer.status_code == 404, url
        assert DEMO_GROUP_NAME not in answer.text and "Enquiry" not in answer.text, url
        assert "zerotolerance" not in answer.text.lower(), url


async def test_erin_gets_404_on_every_group_post(
    services: Services, login_as: LoginAs, group: Group
) -> None:
    before = await store_state(services, group)
    erin = await login_as("erin")
    csrf = await token_of(erin)
    ids: dict[str, object] = {"ids": [str(group.enquiry), str(group.attached)]}
    actions = f"/mail/{group.id}/{group.inbox}/actions"
    posts: list[tuple[str, dict[str, object]]] = [
        (actions, {"action": "delete", **ids}),
        (actions, {"action": "move", "move_to": str(group.folder("Trash")), **ids}),
        (actions, {"action": "copy", "copy_to": str(group.folder("Sent")), **ids}),
        (actions, {"action": "read", **ids}),
        (actions, {"action": "unread", **ids}),
        (actions, {"action": "flag", **ids}),
        (actions, {"action": "unflag", **ids}),
        (f"/mail/{group.id}/empty-trash", {}),
        (f"/mail/{group.id}/folders", {"action": "create", "name": "Mine"}),
        (
            f"/mail/{group.id}/folders",
            {"action": "delete", "folder_id": str(group.folder("Sent"))},
        ),
    ]
    for url, form in posts:
        answer = await erin.post(url, data={"csrf": csrf} | form)
        assert answer.status_code == 404, (url, form)
        assert "zerotolerance" not in answer.text.lower()
    assert await store_state(services, group) == before


async def test_erin_never_sees_the_group(
    services: Services, demo: DemoResult, login_as: LoginAs, group: Group
) -> None:
    erin = await login_as("erin")
    home = (await erin.get("/")).headers["location"]
    erin_ctx = await ctx_of(services, demo, "erin")
    own = (await services.mailboxes.get_personal_mailbox(erin_ctx)).id
    pages = [
        await erin.get(home),
        await erin.get(f"/mail/{own}/folders"),
        await erin.get(f"/mail/{own}/search", params={"q": "enquiry", "advanced": "1"}),
    ]
    for page in pages:
        assert page.status_code == 200
        text = page.text.lower()
        assert "zerotolerance" not in text and DEMO_GROUP_NAME.lower() not in text
        assert f'data-mailbox-id="{group.id}"' not in page.text
        assert f"/mail/{group.id}/" not in page.text


# ---------------------------------------------------------------- alice: Read only


async def test_alice_reads_the_enquiry_but_is_offered_no_change(
    login_as: LoginAs, group: Group
) -> None:
    alice = await login_as("alice")
    home = await alice.get((await alice.get("/")).headers["location"])
    assert f'data-mailbox-id="{group.id}"' in home.text and DEMO_GROUP_NAME in home.text
    listing = await alice.get(f"/mail/{group.id}/{group.inbox}")
    assert listing.status_code == 200 and "Enquiry: zero tolerance" in listing.text
    page = await alice.get(f"/mail/{group.id}/{group.inbox}/{group.enquiry}")
    assert page.status_code == 200
    assert "Could you share the evaluation data" in page.text
    for offered in ('value="move"', 'value="delete"', 'value="flag"'):
        assert offered not in listing.text and offered not in page.text, offered
    assert 'name="move_to"' not in page.text
    # Copying out to her own folders needs only Read here; nothing may go into the group.
    group_folders = {str(f.id) for f in group.folders.values()}
    assert not group_folders & set(select_options(page.text, "copy_to"))
    assert "Empty Trash" not in (await alice.get(f"/mail/{group.id}/{group.folder('Trash')}")).text
    assert 'value="read"' in page.text  # her own read state is hers to change


async def test_alice_is_offered_no_move_into_the_group_from_her_inbox(
    services: Services, demo: DemoResult, system: AccessContext, login_as: LoginAs, group: Group
) -> None:
    _ctx, box, inbox, message_id = await own_message(services, demo, system, "alice")
    alice = await login_as("alice")
    page = await alice.get(f"/mail/{box}/{inbox}/{message_id}")
    assert page.status_code == 200
    group_folders = {str(f.id) for f in group.folders.values()}
    for select in ("move_to", "copy_to"):
        options = select_options(page.text, select)
        assert options, f"alice may {select[:4]} within her own mailbox"
        assert not group_folders & set(options), select
        assert DEMO_GROUP_NAME not in " ".join(options.values())


async def test_alice_forged_posts_are_refused_and_change_nothing(
    services: Services, demo: DemoResult, system: AccessContext, login_as: LoginAs, group: Group
) -> None:
    ctx, box, inbox, own_id = await own_message(services, demo, system, "alice")
    before = await store_state(services, group)
    own_before = [m.id for m in await contents(services, ctx, inbox)]
    alice = await login_as("alice")
    csrf = await token_of(alice)
    in_group = f"/mail/{group.id}/{group.inbox}/actions"
    mine = f"/mail/{box}/{inbox}/actions"
    enquiry = {"ids": str(group.enquiry)}
    forged: list[tuple[str, dict[str, str]]] = [
        (mine, {"action": "move", "move_to": str(group.inbox), "ids": str(own_id)}),
        (mine, {"action": "copy", "copy_to": str(group.inbox), "ids": str(own_id)}),
        (in_group, {"action": "move", "move_to": str(group.folder("Sent"))} | enquiry),
        (in_group, {"action": "move", "move_to": str(group.folder("Trash"))} | enquiry),
        (in_group, {"action": "move", "move_to": str(inbox)} | enquiry),  # out of the group
        (in_group, {"action": "copy", "copy_to": str(group.folder("Drafts"))} | enquiry),
        (in_group, {"action": "delete"} | enquiry),
        (in_group, {"action": "flag"} | enquiry),
        (f"/mail/{group.id}/empty-trash", {}),
        (f"/mail/{group.id}/folders", {"action": "create", "name": "Mine"}),
    ]
    for url, form in forged:
        answer = await alice.post(url, data={"csrf": csrf} | form)
        assert answer.status_code == 403, (url, form)
        assert "right" in answer.text  # says which right is missing
    assert await store_state(services, group) == before
    assert [m.id for m in await contents(services, ctx, inbox)] == own_before


# ---------------------------------------------------------------- bob: Read, Write


async def test_bob_moves_a_message_from_his_inbox_into_the_group(
    services: Services, demo: DemoResult, system: AccessContext, login_as: LoginAs, group: Group
) -> None:
    ctx, box, inbox, message_id = await own_message(services, demo, system, "bob")
    bob = await login_as("bob")
    page = await bob.get(f"/mail/{box}/{inbox}/{message_id}")
    offered = select_options(page.text, "move_to")
    assert offered[str(group.inbox)] == f"{DEMO_GROUP_NAME} / INBOX"
    assert str(group.folder("Trash")) not in offered  # filing into Trash needs Delete
    answer = await bob.post(
        f"/mail/{box}/{inbox}/actions",
        data={
            "csrf": csrf_of(page.text),
            "action": "move",
            "move_to": str(group.inbox),
            "ids": str(message_id),
            "back": f"/mail/{box}/{inbox}",
        },
    )
    assert answer.status_code == 303 and answer.headers["location"] == f"/mail/{box}/{inbox}"
    in_group = await contents(services, group.dave, group.inbox)
    assert "Please file this" in [m.subject for m in in_group]
    assert "Please file this" not in [m.subject for m in await contents(services, ctx, inbox)]
    listing = await bob.get(f"/mail/{group.id}/{group.inbox}")
    assert "Please file this" in listing.text


async def test_bob_files_but_may_not_delete_in_the_group(
    services: Services, login_as: LoginAs, group: Group
) -> None:
    bob = await login_as("bob")
    page = await bob.get(f"/mail/{group.id}/{group.inbox}/{group.enquiry}")
    assert 'value="delete"' not in page.text and 'value="flag"' in page.text
    before = await store_state(services, group)
    csrf = csrf_of(page.text)
    url = f"/mail/{group.id}/{group.inbox}/actions"
    for form in (
        {"action": "delete"},
        {"action": "move", "move_to": str(group.folder("Trash"))},
    ):
        answer = await bob.post(url, data={"csrf": csrf, "ids": str(group.enquiry)} | form)
        assert answer.status_code == 403
    assert await store_state(services, group) == before
    filed = await bob.post(
        url,
        data={"csrf": csrf, "ids": str(group.enquiry), "action": "move"}
        | {"move_to": str(group.folder("Sent"))},
    )
    assert filed.status_code == 303
    assert [m.id for m in await contents(services, group.dave, group.folder("Sent"))] == [
        group.enquiry
    ]


# ---------------------------------------------------------------- dave: Delete


async def test_dave_deletes_into_the_group_trash_and_empties_it(
    services: Services, login_as: LoginAs, group: Group
) -> None:
    dave = await login_as("dave")
    page = await dave.get(f"/mail/{group.id}/{group.inbox}/{group.enquiry}")
    assert 'value="delete"' in page.text
    answer = await dave.post(
        f"/mail/{group.id}/{group.inbox}/actions",
        data={"csrf": csrf_of(page.text), "action": "delete", "ids": str(group.enquiry)},
    )
    assert answer.status_code == 303
    trash = group.folder("Trash")
    assert [m.id for m in await contents(services, group.dave, trash)] == [group.enquiry]
    assert group.enquiry not in [m.id for m in await contents(services, group.dave, group.inbox)]
    listing = await dave.get(f"/mail/{group.id}/{trash}")
    assert "Empty Trash" in listing.text and "Delete for good" in listing.text
    bob = await login_as("bob")
    assert "Empty Trash" not in (await bob.get(f"/mail/{group.id}/{trash}")).text
    emptied = await dave.post(f"/mail/{group.id}/empty-trash", data={"csrf": csrf_of(listing.text)})
    assert emptied.status_code == 303
    assert await contents(services, group.dave, trash) == []
    gone = await dave.get(f"/mail/{group.id}/{trash}/{group.enquiry}")
    assert gone.status_code == 404


# ---------------------------------------------------------------- read state


def row_of(html: str, message_id: int) -> str:
    found = re.search(rf'<tr class="([^"]*)" data-id="{message_id}"', html)
    assert found, f"message {message_id} not listed"
    return found.group(1)


async def test_each_member_has_their_own_read_state(login_as: LoginAs, group: Group) -> None:
    alice = await login_as("alice")
    bob = await login_as("bob")
    listing = f"/mail/{group.id}/{group.inbox}"
    assert "unread" in row_of((await alice.get(listing)).text, group.enquiry)
    await alice.get(f"{listing}/{group.enquiry}")
    assert "unread" not in row_of((await alice.get(listing)).text, group.enquiry)
    assert "unread" in row_of((await bob.get(listing)).text, group.enquiry)
    # Neither the body frame nor an attachment marks a message read.
    await bob.get(f"{listing}/{group.attached}/body")
    await bob.get(f"{listing}/{group.attached}/part/{group.part}")
    assert "unread" in row_of((await bob.get(listing)).text, group.attached)


async def test_read_by_lists_who_opened_it(login_as: LoginAs, group: Group) -> None:
    url = f"/mail/{group.id}/{group.inbox}/{group.enquiry}"
    carol = await login_as("carol")
    dave = await login_as("dave")
    first = await carol.get(url)  # opening it makes carol its first reader
    assert readers_of(first.text) == [f"carol@{DEMO_DOMAIN}"]
    alice = await login_as("alice")
    await alice.get(url)
    page = await dave.get(url)
    assert readers_of(page.text) == [f"{n}@{DEMO_DOMAIN}" for n in ("alice", "carol", "dave")]
    # Only the body frame of another message: nobody is listed as a reader of it.
    other = f"/mail/{group.id}/{group.inbox}/{group.attached}"
    await alice.get(f"{other}/body")
    assert readers_of((await dave.get(other)).text) == [f"dave@{DEMO_DOMAIN}"]


def readers_of(html: str) -> list[str]:
    found = re.search(r'<p class="readby">Read by: ([^<]*)</p>', html)
    assert found, "no Read by line"
    return found.group(1).split(", ")


# ---------------------------------------------------------------- live events


@pytest.fixture
async def live_server(services: Services) -> AsyncIterator[str]:
    """The real app under uvicorn on a free loopback port, in this test's event loop."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        create_app(services), log_level="warning", lifespan="off", timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    await asyncio.wait_for(task, 5)
    sock.close()


async def next_changed(lines: AsyncIterator[str]) -> dict[str, int]:
    """The data of the next `changed` event on an SSE line stream."""
    event = ""
    async for line in lines:
        if line.startswith("event:"):
            event = line.split(":", 1)[1].strip()
        elif line.startswith("data:") and event == "changed":
            data: dict[str, int] = json.loads(line.split(":", 1)[1])
            return data
    raise AssertionError("the event stream ended")


async def test_events_tell_a_member_of_a_delivery_to_the_group(
    services: Services,
    demo: DemoResult,
    system: AccessContext,
    group: Group,
    live_server: str,
) -> None:
    erin_ctx = await ctx_of(services, demo, "erin")
    erin_box = (await services.mailboxes.get_personal_mailbox(erin_ctx)).id
    async with (
        httpx.AsyncClient(base_url=live_server, timeout=5) as alice,
        httpx.AsyncClient(base_url=live_server, timeout=5) as erin,
    ):
        for client, name in ((alice, "alice"), (erin, "erin")):
            address = f"{name}@{DEMO_DOMAIN}"
            assert (await log_in(client, address, demo.passwords[address])).status_code == 303
        async with (
            alice.stream("GET", "/events") as alice_events,
            erin.stream("GET", "/events") as erin_events,
        ):
            for stream in (alice_events, erin_events):
                assert stream.status_code == 200
                assert stream.headers["content-type"].startswith("text/event-stream")
            alice_lines = alice_events.aiter_lines()
            erin_lines = erin_events.aiter_lines()
            assert await anext(alice_lines) == "retry: 3000"
            assert await anext(erin_lines) == "retry: 3000"
            raw = b"From: x@example.org\r\nSubject: Live\r\n\r\nnew\r\n"
            async with asyncio.timeout(4):
                await services.delivery.deliver(system, raw, [DEMO_GROUP])
                changed = await next_changed(alice_lines)
                assert changed == {"mailbox": group.id, "folder": group.inbox, "kind": "new"}
                # erin is told nothing of the group: her first event is her own delivery.
                await services.delivery.deliver(system, raw, [f"erin@{DEMO_DOMAIN}"])
                assert (await next_changed(erin_lines))["mailbox"] == erin_box


async def test_the_group_actions_url_is_404_for_erin_whatever_she_selects(
    services: Services, demo: DemoResult, system: AccessContext, login_as: LoginAs, group: Group
) -> None:
    _ctx, _box, _inbox, own_id = await own_message(services, demo, system, "erin")
    erin = await login_as("erin")
    answer = await erin.post(
        f"/mail/{group.id}/{group.inbox}/actions",
        data={"csrf": await token_of(erin), "action": "read", "ids": str(own_id)},
    )
    assert answer.status_code == 404
