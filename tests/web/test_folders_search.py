"""Webmail folder management and search pages, through httpx on the real ASGI app."""

import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from securemail.core.context import AccessContext
from securemail.core.model import Folder
from securemail.services.demo import DEMO_DOMAIN, DEMO_GROUP, DemoResult
from securemail.services.registry import Services
from tests.web.conftest import LoginAs, csrf_of

ATTACHED = (
    b"From: Tom Reporter <tom@press.example>\r\nTo: " + DEMO_GROUP.encode() + b"\r\n"
    b"Subject: Interview request\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
    b"--b1\r\nContent-Type: text/plain\r\n\r\nCould an officer talk about the pilot?\r\n"
    b"--b1\r\nContent-Type: application/pdf\r\n"
    b'Content-Disposition: attachment; filename="questions.pdf"\r\n'
    b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b1--\r\n"
)


async def ctx_of(services: Services, demo: DemoResult, name: str) -> AccessContext:
    address = f"{name}@{DEMO_DOMAIN}"
    return await services.auth.authenticate(address, demo.passwords[address], channel="test")


async def folders_of(services: Services, ctx: AccessContext, mailbox_id: int) -> dict[str, Folder]:
    return {f.name: f for f in await services.mailboxes.list_folders(ctx, mailbox_id)}


async def own_mailbox(services: Services, demo: DemoResult, name: str) -> tuple[AccessContext, int]:
    ctx = await ctx_of(services, demo, name)
    return ctx, (await services.mailboxes.get_personal_mailbox(ctx)).id


async def group_id(services: Services, demo: DemoResult) -> int:
    dave = await ctx_of(services, demo, "dave")
    return (await services.mailboxes.get_mailbox_by_address(dave, DEMO_GROUP)).id


async def post_folders(
    client: httpx.AsyncClient, mailbox_id: int, **fields: str | int
) -> httpx.Response:
    page = await client.get(f"/mail/{mailbox_id}/folders")
    data = {"csrf": csrf_of(page.text)} | {k: str(v) for k, v in fields.items()}
    return await client.post(f"/mail/{mailbox_id}/folders", data=data)


# ---------------------------------------------------------------- folders


async def test_folders_page_lists_folders_and_offers_changes_to_the_owner(
    services: Services, demo: DemoResult, login_as: LoginAs
) -> None:
    _bob, box = await own_mailbox(services, demo, "bob")
    bob = await login_as("bob")
    page = await bob.get(f"/mail/{box}/folders")
    assert page.status_code == 200
    for name in ("INBOX", "Sent", "Drafts", "Trash"):
        assert f">{name}</a>" in page.text
    assert "Create folder" in page.text
    assert 'value="rename"' not in page.text  # only standard folders: nothing to rename
    assert "Standard folders cannot be renamed or deleted." in page.text


async def test_create_rename_delete_a_folder(
    services: Services, demo: DemoResult, login_as: LoginAs
) -> None:
    ctx, box = await own_mailbox(services, demo, "bob")
    bob = await login_as("bob")
    created = await post_folders(bob, box, action="create", name="Cases/2026")
    assert created.status_code == 303
    assert created.headers["location"] == f"/mail/{box}/folders?done=created"
    folder = (await folders_of(services, ctx, box))["Cases/2026"]
    page = await bob.get(created.headers["location"])
    assert "Folder created." in page.text
    assert f'name="folder_id" value="{folder.id}"' in page.text
    assert 'aria-label="Delete Cases/2026"' in page.text

    renamed = await post_folders(bob, box, action="rename", folder_id=folder.id, name="Closed")
    assert renamed.status_code == 303
    names = await folders_of(services, ctx, box)
    assert "Closed" in names and "Cases/2026" not in names
    assert names["Closed"].id == folder.id

    deleted = await post_folders(bob, box, action="delete", folder_id=folder.id)
    assert deleted.status_code == 303
    assert "Closed" not in await folders_of(services, ctx, box)
    assert "Folder deleted." in (await bob.get(deleted.headers["location"])).text


@pytest.mark.parametrize(
    ("fields", "status", "message"),
    [
        ({"action": "create", "name": "   "}, 400, "folder name is empty"),
        ({"action": "create", "name": "Cases"}, 409, "already exists"),
        ({"action": "create", "name": "INBOX/Sub"}, 400, "INBOX is reserved"),
        ({"action": "create", "name": "a//b"}, 400, "empty part"),
        ({"action": "rename", "folder": "Sent", "name": "Outbox"}, 400, "cannot be renamed"),
        ({"action": "rename", "folder": "Cases", "name": "Cases/Inner"}, 400, "inside itself"),
        ({"action": "rename", "folder": "Old", "name": "Cases"}, 409, "already exists"),
        ({"action": "delete", "folder": "Trash"}, 400, "cannot be deleted"),
        ({"action": "delete", "folder": "Cases"}, 409, "is not empty"),
        ({"action": "delete", "folder": "Old"}, 409, "has subfolders"),
        ({"action": "explode"}, 400, "unknown action"),
    ],
)
async def test_a_refused_change_shows_why_and_changes_nothing(
    services: Services,
    demo: DemoResult,
    login_as: LoginAs,
    system: AccessContext,
    fields: dict[str, str],
    status: int,
    message: str,
) -> None:
    ctx, box = await own_mailbox(services, demo, "bob")
    for name in ("Cases", "Old", "Old/Child"):
        await services.mailboxes.create_folder(ctx, box, name)
    before = await folders_of(services, ctx, box)
    raw = b"From: x@example.org\r\nSubject: filed\r\n\r\nbody\r\n"
    [message_id] = (
        await services.delivery.deliver(system, raw, [f"bob@{DEMO_DOMAIN}"])
    ).message_ids
    await services.messages.move(ctx, [message_id], before["Cases"].id)
    before = await folders_of(services, ctx, box)

    bob = await login_as("bob")
    form = dict(fields)
    if "folder" in form:
        form["folder_id"] = str(before[form.pop("folder")].id)
    answer = await post_folders(bob, box, **form)
    assert answer.status_code == status
    assert message in answer.text
    assert 'role="alert"' in answer.text
    assert "Create folder" in answer.text  # the page itself, not a bare error
    after = await folders_of(services, ctx, box)
    assert {n: f.id for n, f in after.items()} == {n: f.id for n, f in before.items()}


async def test_a_folder_of_another_mailbox_is_not_found(
    services: Services, demo: DemoResult, login_as: LoginAs
) -> None:
    ctx, own = await own_mailbox(services, demo, "bob")
    group = await group_id(services, demo)
    dave = await ctx_of(services, demo, "dave")
    other = await services.mailboxes.create_folder(dave, group, "Filed")
    bob = await login_as("bob")  # bob holds write on the group, but the URL names his own box
    answer = await post_folders(bob, own, action="delete", folder_id=other.id)
    assert answer.status_code == 404
    assert "Filed" in await folders_of(services, dave, group)
    answer = await post_folders(bob, own, action="rename", folder_id="x1", name="Y")
    assert answer.status_code == 404
    assert set(await folders_of(services, ctx, own)) == {"INBOX", "Sent", "Drafts", "Trash"}


async def test_folder_changes_need_the_csrf_token(
    services: Services, demo: DemoResult, login_as: LoginAs
) -> None:
    ctx, box = await own_mailbox(services, demo, "bob")
    bob = await login_as("bob")
    for csrf in ({}, {"csrf": "forged"}):
        answer = await bob.post(
            f"/mail/{box}/folders", data={"action": "create", "name": "Sneaky"} | csrf
        )
        assert answer.status_code == 403
    assert "Sneaky" not in await folders_of(services, ctx, box)


async def test_read_only_member_sees_group_folders_but_may_not_change_them(
    services: Services, demo: DemoResult, login_as: LoginAs
) -> None:
    group = await group_id(services, demo)
    dave = await ctx_of(services, demo, "dave")
    filed = await services.mailboxes.create_folder(dave, group, "Filed")
    alice = await login_as("alice")
    page = await alice.get(f"/mail/{group}/folders")
    assert page.status_code == 200
    assert ">Filed</a>" in page.text
    assert "Create folder" not in page.text
    assert 'value="rename"' not in page.text and 'value="delete"' not in page.text
    assert "Manage folders" not in page.text  # not offered in the switcher either
    for form in (
        {"action": "create", "name": "Mine"},
        {"action": "rename", "folder_id": str(filed.id), "name": "Mine"},
        {"action": "delete", "folder_id": str(filed.id)},
    ):
        answer = await post_folders(alice, group, **form)
        assert answer.status_code == 403, form
    assert set(await folders_of(services, dave, group)) == {
        "INBOX",
        "Sent",
        "Drafts",
        "Trash",
        "Filed",
    }


async def test_writer_manages_group_folders(
    services: Services, demo: DemoResult, login_as: LoginAs
) -> None:
    group = await group_id(services, demo)
    bob = await login_as("bob")
    page = await bob.get(f"/mail/{group}/folders")
    assert "Create folder" in page.text
    assert (await post_folders(bob, group, action="create", name="Replied")).status_code == 303
    dave = await ctx_of(services, demo, "dave")
    assert "Replied" in await folders_of(services, dave, group)


async def test_no_read_no_folders_page(
    services: Services, demo: DemoResult, login_as: LoginAs
) -> None:
    group = await group_id(services, demo)
    erin = await login_as("erin")
    assert (await erin.get(f"/mail/{group}/folders")).status_code == 404
    home = await erin.get("/")
    csrf = csrf_of((await erin.get(home.headers["location"])).text)
    answer = await erin.post(
        f"/mail/{group}/folders", data={"csrf": csrf, "action": "create", "name": "X"}
    )
    assert answer.status_code == 404
    dave = await ctx_of(services, demo, "dave")
    assert "X" not in await folders_of(services, dave, group)


# ---------------------------------------------------------------- search


def result_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<tr class="msg[^"]*" data-id="(\d+)"', html)]


@pytest.fixture
async def group_mail(services: Services, demo: DemoResult, system: AccessContext) -> dict[str, int]:
    """The demo enquiry and an interview request with an attachment, both in the group."""
    group = await group_id(services, demo)
    dave = await ctx_of(services, demo, "dave")
    inbox = (await folders_of(services, dave, group))["INBOX"]
    [enquiry] = await services.messages.list_messages(dave, inbox.id, offset=0, limit=10)
    [attached] = (await services.delivery.deliver(system, ATTACHED, [DEMO_GROUP])).message_ids
    return {"group": group, "inbox": inbox.id, "enquiry": enquiry.id, "attached": attached}


async def test_search_finds_words_and_links_to_the_message_in_its_folder(
    login_as: LoginAs, group_mail: dict[str, int]
) -> None:
    g = group_mail
    alice = await login_as("alice")
    page = await alice.get(f"/mail/{g['group']}/search", params={"q": "evaluation data"})
    assert page.status_code == 200
    assert result_ids(page.text) == [g["enquiry"]]
    assert f'href="/mail/{g["group"]}/{g["inbox"]}/{g["enquiry"]}"' in page.text
    assert "1 message found" in page.text
    assert 'value="evaluation data"' in page.text  # the header box keeps the words
    opened = await alice.get(f"/mail/{g['group']}/{g['inbox']}/{g['enquiry']}")
    assert opened.status_code == 200
    both = await alice.get(f"/mail/{g['group']}/search", params={"q": "pilot"})
    assert sorted(result_ids(both.text)) == sorted([g["enquiry"], g["attached"]])
    none = await alice.get(f"/mail/{g['group']}/search", params={"q": "zebra"})
    assert result_ids(none.text) == [] and "No messages found" in none.text


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"from": "jane.smith"}, {"enquiry"}),
        ({"from": "TOM@press"}, {"attached"}),
        ({"to": "gm.zerotolerance"}, {"enquiry", "attached"}),
        ({"subject": "interview"}, {"attached"}),
        ({"subject": "interview", "from": "jane"}, set()),
        ({"attachments": "1"}, {"attached"}),
        ({"attachments": "on", "q": "pilot"}, {"attached"}),
        ({"q": "%"}, set()),
        ({"q": '"'}, set()),
    ],
)
async def test_search_fields_narrow_the_results(
    login_as: LoginAs,
    group_mail: dict[str, int],
    params: dict[str, str],
    expected: set[str],
) -> None:
    bob = await login_as("bob")
    page = await bob.get(f"/mail/{group_mail['group']}/search", params=params)
    assert page.status_code == 200
    names = {v: k for k, v in group_mail.items() if k in ("enquiry", "attached")}
    assert {names[i] for i in result_ids(page.text)} == expected


async def test_search_by_date(login_as: LoginAs, group_mail: dict[str, int]) -> None:
    url = f"/mail/{group_mail['group']}/search"
    today = datetime.now(UTC).date()
    tomorrow = (today + timedelta(days=1)).isoformat()
    bob = await login_as("bob")
    everything = {group_mail["enquiry"], group_mail["attached"]}
    found = await bob.get(url, params={"since": today.isoformat()})
    assert set(result_ids(found.text)) == everything
    found = await bob.get(url, params={"since": today.isoformat(), "before": tomorrow})
    assert set(result_ids(found.text)) == everything
    assert result_ids((await bob.get(url, params={"since": tomorrow})).text) == []
    assert result_ids((await bob.get(url, params={"before": today.isoformat()})).text) == []


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"since": "26/11/2026"}, "yyyy-mm-dd"),
        ({"before": "2026-13-01"}, "yyyy-mm-dd"),
        ({"since": "20261126"}, "yyyy-mm-dd"),
        ({"since": "2026-11-27", "before": "2026-11-26"}, "earlier than"),
        ({"folder": "abc"}, "bad folder"),
        ({"folder": "\u00b2"}, "bad folder"),  # a Unicode digit int() refuses: was a 500
        ({"folder": "\u0663"}, "bad folder"),  # ARABIC-INDIC THREE, which int() reads as 3
        ({"q": "x" * 201}, "at most 200 characters"),
        ({"q": " ".join(["ab"] * 21)}, "at most 20 search words"),
    ],
)
async def test_bad_search_input_is_a_400_page_with_the_reason(
    login_as: LoginAs, group_mail: dict[str, int], params: dict[str, str], message: str
) -> None:
    bob = await login_as("bob")
    page = await bob.get(f"/mail/{group_mail['group']}/search", params=params)
    assert page.status_code == 400
    assert message in page.text
    assert 'role="alert"' in page.text
    assert 'role="search"' in page.text  # the form is shown again to fix the input


async def test_unread_is_each_members_own(login_as: LoginAs, group_mail: dict[str, int]) -> None:
    g = group_mail
    url = f"/mail/{g['group']}/search"
    alice = await login_as("alice")
    await alice.get(f"/mail/{g['group']}/{g['inbox']}/{g['enquiry']}")
    alice_unread = await alice.get(url, params={"unread": "1"})
    assert result_ids(alice_unread.text) == [g["attached"]]
    bob = await login_as("bob")
    bob_unread = await bob.get(url, params={"unread": "1"})
    assert set(result_ids(bob_unread.text)) == {g["enquiry"], g["attached"]}


async def test_search_in_one_folder(
    services: Services, demo: DemoResult, login_as: LoginAs, group_mail: dict[str, int]
) -> None:
    g = group_mail
    url = f"/mail/{g['group']}/search"
    dave_ctx = await ctx_of(services, demo, "dave")
    trash = (await folders_of(services, dave_ctx, g["group"]))["Trash"]
    dave = await login_as("dave")
    assert result_ids((await dave.get(url, params={"q": "pilot", "folder": trash.id})).text) == []
    in_inbox = await dave.get(url, params={"q": "pilot", "folder": g["inbox"]})
    assert set(result_ids(in_inbox.text)) == {g["enquiry"], g["attached"]}
    await services.messages.delete(dave_ctx, [g["attached"]])  # now in the group's Trash
    in_trash = await dave.get(url, params={"q": "pilot", "folder": trash.id})
    assert result_ids(in_trash.text) == [g["attached"]]
    assert f'href="/mail/{g["group"]}/{trash.id}/{g["attached"]}"' in in_trash.text
    _ctx, own = await own_mailbox(services, demo, "dave")
    own_inbox = (await folders_of(services, dave_ctx, own))["INBOX"]
    other = await dave.get(url, params={"q": "pilot", "folder": own_inbox.id})
    assert other.status_code == 400 and "no such folder in this mailbox" in other.text


async def test_search_stays_in_its_mailbox(
    services: Services, demo: DemoResult, login_as: LoginAs, group_mail: dict[str, int]
) -> None:
    _ctx, own = await own_mailbox(services, demo, "bob")
    bob = await login_as("bob")
    page = await bob.get(f"/mail/{own}/search", params={"q": "pilot"})
    assert page.status_code == 200 and result_ids(page.text) == []
    erin = await login_as("erin")
    hidden = await erin.get(f"/mail/{group_mail['group']}/search", params={"q": "pilot"})
    assert hidden.status_code == 404
    assert "Enquiry" not in hidden.text and "Zero Tolerance" not in hidden.text


async def test_search_form_simple_and_advanced(
    login_as: LoginAs, group_mail: dict[str, int]
) -> None:
    url = f"/mail/{group_mail['group']}/search"
    bob = await login_as("bob")
    simple = await bob.get(url)
    assert simple.status_code == 200
    assert 'name="q"' in simple.text and 'name="since"' not in simple.text
    assert "More options" in simple.text
    assert result_ids(simple.text) == [] and "found" not in simple.text  # nothing asked yet
    advanced = await bob.get(url, params={"advanced": "1"})
    for field in ("q", "from", "to", "subject", "since", "before", "folder", "unread"):
        assert f'name="{field}"' in advanced.text, field
    assert 'name="attachments"' in advanced.text
    kept = await bob.get(url, params={"subject": "Interview", "attachments": "1"})
    assert 'name="subject" type="text" value="Interview"' in kept.text  # shown advanced
    assert 'name="attachments" value="1" checked' in kept.text


async def test_the_header_search_box_sends_q_to_the_search_page(
    login_as: LoginAs, group_mail: dict[str, int]
) -> None:
    g = group_mail
    alice = await login_as("alice")
    page = await alice.get(f"/mail/{g['group']}/{g['inbox']}")
    assert f'action="/mail/{g["group"]}/search"' in page.text
    assert 'id="q" name="q"' in page.text
