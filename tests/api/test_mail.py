"""Mailboxes, folders, messages and send over /api/v1, under the same rights as every channel:
erin has no right on the group (404), alice reads only, bob reads and files, carol may send
as the group, dave holds every right."""

import httpx

from securemail.core.context import AccessContext
from securemail.services.demo import DEMO_GROUP
from securemail.services.registry import Services
from tests.api.conftest import ApiAs, address, assert_problem, folder_of, mailbox_of


async def _group_message(client: httpx.AsyncClient) -> tuple[dict, dict, dict]:
    group = await mailbox_of(client, DEMO_GROUP)
    inbox = await folder_of(client, group["id"], "inbox")
    page = (await client.get(f"/folders/{inbox['id']}/messages")).json()
    return group, inbox, page["items"][0]


async def test_me_and_mailboxes_with_the_callers_rights(api_as: ApiAs) -> None:
    bob, erin = await api_as("bob"), await api_as("erin")
    me = (await bob.get("/me")).json()
    assert me["address"] == address("bob") and me["role"] == "user" and me["scope"] == "write"
    listed = {m["kind"]: m for m in (await bob.get("/mailboxes")).json()}
    assert listed["group"]["address"] == DEMO_GROUP.lower()
    assert listed["group"]["rights"] == ["read", "write"]
    assert listed["personal"]["rights"] == ["read", "write", "mail", "delete"]
    assert me["personal_mailbox_id"] == listed["personal"]["id"]
    assert [m["kind"] for m in (await erin.get("/mailboxes")).json()] == ["personal"]


async def test_a_group_without_read_does_not_exist(api_as: ApiAs) -> None:
    bob, erin = await api_as("bob"), await api_as("erin")
    group, inbox, message = await _group_message(bob)
    erin_inbox = await folder_of(erin, (await mailbox_of(erin, "personal"))["id"], "inbox")
    for answer in (
        await erin.get(f"/mailboxes/{group['id']}"),
        await erin.get(f"/mailboxes/{group['id']}/folders"),
        await erin.get(f"/folders/{inbox['id']}/messages"),
        await erin.get(f"/messages/{message['id']}"),
        await erin.get(f"/messages/{message['id']}/raw"),
        await erin.get(f"/mailboxes/{group['id']}/search", params={"text": "evaluation"}),
        await erin.post(
            "/messages/copy", json={"ids": [message["id"]], "folder_id": erin_inbox["id"]}
        ),
        await erin.post(f"/mailboxes/{group['id']}/folders", json={"name": "Mine"}),
    ):
        body = assert_problem(answer, 404)
        assert "forbidden" not in body["type"]


async def test_folders_create_rename_delete_and_rights(api_as: ApiAs) -> None:
    bob, alice = await api_as("bob"), await api_as("alice")
    group = await mailbox_of(bob, DEMO_GROUP)
    made = await bob.post(f"/mailboxes/{group['id']}/folders", json={"name": "Cases/2026"})
    assert made.status_code == 201, made.text
    folder = made.json()
    assert folder["name"] == "Cases/2026" and folder["special_use"] is None
    assert_problem(
        await bob.post(f"/mailboxes/{group['id']}/folders", json={"name": "Cases/2026"}), 409
    )
    assert_problem(await bob.post(f"/mailboxes/{group['id']}/folders", json={"name": "a\x01"}), 400)
    assert_problem(await bob.post(f"/mailboxes/{group['id']}/folders", json={"nom": "x"}), 400)
    assert_problem(await alice.post(f"/mailboxes/{group['id']}/folders", json={"name": "X"}), 403)
    assert_problem(await alice.patch(f"/folders/{folder['id']}", json={"name": "Y"}), 403)
    renamed = await bob.patch(f"/folders/{folder['id']}", json={"name": "Closed"})
    assert renamed.json()["name"] == "Closed"
    inbox = await folder_of(bob, group["id"], "inbox")
    assert_problem(await bob.delete(f"/folders/{inbox['id']}"), 400)
    assert_problem(await alice.delete(f"/folders/{folder['id']}"), 403)
    assert (await bob.delete(f"/folders/{folder['id']}")).status_code == 204
    assert_problem(await bob.get(f"/folders/{folder['id']}"), 404)


async def test_open_raw_and_flags(api_as: ApiAs) -> None:
    alice, bob = await api_as("alice"), await api_as("bob")
    _group, _inbox, message = await _group_message(alice)
    opened = (await alice.get(f"/messages/{message['id']}")).json()
    assert "evaluation data" in opened["text"]
    assert ("Subject", message["subject"]) in [(h["name"], h["value"]) for h in opened["headers"]]
    assert opened["message"]["seen"] is False  # opening through the API does not mark it read
    raw = await alice.get(f"/messages/{message['id']}/raw")
    assert raw.headers["content-type"] == "message/rfc822"
    assert raw.content.startswith(b"From: Dr Jane Smith")
    assert "attachment" in raw.headers["content-disposition"]
    # Read state is each reader's own: Read is enough.
    seen = await alice.patch(f"/messages/{message['id']}", json={"seen": True})
    assert seen.status_code == 200 and seen.json()["seen"] is True
    assert (await bob.get(f"/messages/{message['id']}")).json()["message"]["seen"] is False
    # Shared flags need Write; \\Deleted needs Delete.
    assert_problem(await alice.patch(f"/messages/{message['id']}", json={"flagged": True}), 403)
    flagged = await bob.patch(
        f"/messages/{message['id']}", json={"flagged": True, "keywords": ["case-17"]}
    )
    assert flagged.json()["flags"] == ["flagged"] and flagged.json()["keywords"] == ["case-17"]
    assert_problem(await bob.patch(f"/messages/{message['id']}", json={"flags": ["deleted"]}), 403)
    assert_problem(await bob.patch(f"/messages/{message['id']}", json={"flags": ["bogus"]}), 400)


async def test_move_copy_delete_follow_the_rights(api_as: ApiAs) -> None:
    alice, bob, dave = await api_as("alice"), await api_as("bob"), await api_as("dave")
    group, inbox, message = await _group_message(alice)
    alice_inbox = await folder_of(alice, (await mailbox_of(alice, "personal"))["id"], "inbox")
    move_out = {"ids": [message["id"]], "folder_id": alice_inbox["id"]}
    assert_problem(await alice.post("/messages/move", json=move_out), 403)  # no Delete there
    copied = await alice.post("/messages/copy", json=move_out)
    assert copied.status_code == 201, copied.text
    (copy_id,) = copied.json()["ids"]
    # Filing her copy into the group needs Write there: alice reads only.
    move_in = {"ids": [copy_id], "folder_id": inbox["id"]}
    assert_problem(await alice.post("/messages/move", json=move_in), 403)
    assert_problem(await alice.post("/messages/copy", json=move_in), 403)
    # Bob files within the group (Write) but may not delete (no Delete).
    cases = (await bob.post(f"/mailboxes/{group['id']}/folders", json={"name": "Cases"})).json()
    filed = await bob.post(
        "/messages/move", json={"ids": [message["id"]], "folder_id": cases["id"]}
    )
    assert filed.status_code == 200 and filed.json()["ids"] == [message["id"]]
    assert_problem(await bob.delete(f"/messages/{message['id']}"), 403)
    assert (await dave.delete(f"/messages/{message['id']}")).status_code == 204
    trash = await folder_of(dave, group["id"], "trash")
    listed = (await dave.get(f"/folders/{trash['id']}/messages")).json()["items"]
    assert [m["id"] for m in listed] == [message["id"]]
    assert_problem(await dave.post("/messages/move", json={"ids": [], "folder_id": 1}), 400)


async def test_send_as_oneself_and_as_the_group(api_as: ApiAs) -> None:
    bob, carol, erin = await api_as("bob"), await api_as("carol"), await api_as("erin")
    mail = {"to": [address("erin")], "subject": "Hello", "body": "Line one\nLine two"}
    sent = await bob.post("/send", json={"from": address("bob"), **mail})
    assert sent.status_code == 202, sent.text
    assert sent.json()["local"] == [address("erin")] and sent.json()["queued"] == []
    erin_inbox = await folder_of(erin, (await mailbox_of(erin, "personal"))["id"], "inbox")
    items = (await erin.get(f"/folders/{erin_inbox['id']}/messages")).json()["items"]
    assert [m["subject"] for m in items] == ["Hello"]
    assert_problem(await bob.post("/send", json={"from": DEMO_GROUP, **mail}), 403)  # no Mail
    assert_problem(await erin.post("/send", json={"from": DEMO_GROUP, **mail}), 403)
    assert_problem(
        await bob.post(
            "/send", json={"from": address("bob"), **mail, "subject": "a\r\nBcc: x@y.example"}
        ),
        400,
    )
    assert_problem(await bob.post("/send", json={"from": address("bob"), "subject": "none"}), 400)
    as_group = await carol.post("/send", json={"from": DEMO_GROUP, **mail})
    assert as_group.status_code == 202 and as_group.json()["sender"] == DEMO_GROUP.lower()
    group = await mailbox_of(carol, DEMO_GROUP)
    sent_folder = await folder_of(carol, group["id"], "sent")
    (copy,) = (await carol.get(f"/folders/{sent_folder['id']}/messages")).json()["items"]
    assert copy["sent_by"] == address("carol")


async def test_search(api_as: ApiAs) -> None:
    alice = await api_as("alice")
    group = await mailbox_of(alice, DEMO_GROUP)
    found = await alice.get(
        f"/mailboxes/{group['id']}/search", params={"text": "evaluation", "unread": "true"}
    )
    assert found.status_code == 200 and len(found.json()["items"]) == 1
    none = await alice.get(
        f"/mailboxes/{group['id']}/search", params={"from": "nobody@", "since": "2020-01-01"}
    )
    assert none.json() == {"items": [], "truncated": False}
    assert_problem(
        await alice.get(f"/mailboxes/{group['id']}/search", params={"since": "yesterday"}), 400
    )


async def test_cursor_pagination_visits_every_message_once(
    services: Services, system: AccessContext, api_as: ApiAs
) -> None:
    for n in range(23):
        raw = (
            f"From: sender{n}@example.org\r\nTo: {address('bob')}\r\nSubject: number {n}\r\n"
            f"Message-ID: <n{n}@example.org>\r\n\r\nbody {n}\r\n"
        ).encode()
        await services.delivery.deliver(system, raw, [address("bob")])
    bob = await api_as("bob")
    inbox = await folder_of(bob, (await mailbox_of(bob, "personal"))["id"], "inbox")
    seen_ids: list[int] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 5} | ({"cursor": cursor} if cursor else {})
        page = (await bob.get(f"/folders/{inbox['id']}/messages", params=params)).json()
        seen_ids += [m["id"] for m in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 5 and len(seen_ids) == 23 and len(set(seen_ids)) == 23
    whole = (await bob.get(f"/folders/{inbox['id']}/messages", params={"limit": 500})).json()
    assert [m["id"] for m in whole["items"]] == seen_ids and whole["next_cursor"] is None
    for bad in (
        {"cursor": "!!"},
        {"cursor": "eyJ4IjoxfQ"},
        {"cursor": "eyJvIjotMX0"},
        {"limit": 0},
        {"limit": 501},
        {"limit": "x"},
    ):
        assert_problem(await bob.get(f"/folders/{inbox['id']}/messages", params=bad), 400)


async def test_problem_details_for_every_kind_of_refusal(
    anonymous: httpx.AsyncClient, api_as: ApiAs
) -> None:
    assert_problem(await anonymous.get("/api/v1/mailboxes"), 401)
    bob = await api_as("bob")
    assert_problem(await bob.get("/no/such/route"), 404)
    assert_problem(await bob.put("/me"), 405)
    assert_problem(await bob.get("/messages/99999999999999999999999"), 400)
    assert_problem(await bob.get("/messages/0"), 400)
    assert_problem(
        await bob.post(
            "/messages/move", content=b"{not json", headers={"content-type": "application/json"}
        ),
        400,
    )
    body = assert_problem(await bob.get("/messages/424242"), 404)
    assert (
        body["type"].startswith("urn:securemail:problem:")
        and body["instance"] == "/api/v1/messages/424242"
    )
    # Other paths keep their own error pages.
    page = await anonymous.get("/no-such-page")
    assert not page.headers["content-type"].startswith("application/problem+json")


async def test_one_folder_shows_its_counts_as_the_folder_list_does(api_as: ApiAs) -> None:
    alice, bob = await api_as("alice"), await api_as("bob")
    group, inbox, message = await _group_message(alice)
    listed = {f["id"]: f for f in (await alice.get(f"/mailboxes/{group['id']}/folders")).json()}
    one = (await alice.get(f"/folders/{inbox['id']}")).json()
    assert one == listed[inbox["id"]] and one["total"] >= 1 and one["unseen"] == one["total"]
    marked = await alice.patch(f"/messages/{message['id']}", json={"seen": True})  # hers alone
    assert marked.status_code == 200, marked.text
    assert (await alice.get(f"/folders/{inbox['id']}")).json()["unseen"] == one["unseen"] - 1
    assert (await bob.get(f"/folders/{inbox['id']}")).json()["unseen"] == one["unseen"]
