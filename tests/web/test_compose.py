"""Webmail compose, reply, forward, drafts, address completion and sending, through httpx on
the real ASGI app and store; what was sent or kept is checked through the services."""

import dataclasses
import email
import email.policy
import re
from email.message import EmailMessage
from html import unescape

import httpx
import pytest

from securemail.core.context import AccessContext
from securemail.core.model import Flag, MessageSummary, SpecialUse
from securemail.services.demo import DEMO_DOMAIN, DEMO_GROUP, DemoResult
from securemail.services.registry import Services
from tests.web.conftest import LoginAs, csrf_of

GROUP = DEMO_GROUP.lower()
ALICE, BOB, CAROL = (f"{n}@{DEMO_DOMAIN}" for n in ("alice", "bob", "carol"))
PDF = b"%PDF-1.4\n% evidence bundle\n"
WITH_ATTACHMENT = (
    b"From: Tom Reporter <tom@press.example>\r\nTo: bob@polres.co.uk\r\n"
    b"Subject: Interview questions\r\nMessage-ID: <q1@press.example>\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
    b"--b1\r\nContent-Type: text/plain\r\n\r\nThe questions are attached.\r\n"
    b"--b1\r\nContent-Type: application/pdf\r\n"
    b'Content-Disposition: attachment; filename="questions.pdf"\r\n'
    b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKJSBldmlkZW5jZSBidW5kbGUK\r\n--b1--\r\n"
)
TO_TEAM = (
    b"From: Jane Smith <jane.smith@university.example>\r\n"
    b"To: GM.ZeroTolerance@polres.co.uk, bob@polres.co.uk\r\n"
    b"Cc: carol@polres.co.uk, prof.x@university.example\r\n"
    b"Subject: Follow-up\r\nMessage-ID: <f1@university.example>\r\n\r\nAny news?\r\n"
)


async def ctx_of(services: Services, demo: DemoResult, name: str) -> AccessContext:
    address = f"{name}@{DEMO_DOMAIN}"
    return await services.auth.authenticate(address, demo.passwords[address], channel="test")


async def mailbox_id(services: Services, ctx: AccessContext, address: str) -> int:
    found = [m for m in await services.mailboxes.list_mailboxes(ctx) if m.address == address]
    assert found, f"{ctx.address} cannot see {address}"
    return found[0].id


async def folder(services: Services, ctx: AccessContext, box: int, use: SpecialUse) -> int:
    folders = await services.mailboxes.list_folders(ctx, box)
    return next(f.id for f in folders if f.special_use is use)


async def listing(
    services: Services, ctx: AccessContext, address: str, use: SpecialUse
) -> list[MessageSummary]:
    box = await mailbox_id(services, ctx, address)
    return await services.messages.list_messages(
        ctx, await folder(services, ctx, box, use), limit=100
    )


async def parsed(services: Services, ctx: AccessContext, message_id: int) -> EmailMessage:
    raw = await services.messages.read_raw(ctx, message_id, "test")
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def field_value(html: str, name: str) -> str:
    found = re.search(rf'<input id="c-{name}" name="{name}" value="([^"]*)"', html)
    assert found, f"no {name} field"
    return unescape(found.group(1))


def hidden(html: str, name: str) -> str:
    found = re.search(rf'<input type="hidden" name="{name}" value="([^"]*)"', html)
    assert found, f"no hidden {name}"
    return unescape(found.group(1))


def senders(html: str) -> list[str]:
    select = html.split('<select id="c-from" name="from">', 1)[1].split("</select>", 1)[0]
    return re.findall(r'<option value="([^"]+)"', select)


def selected_sender(html: str) -> str:
    found = re.search(r'<option value="([^"]+)" selected>', html)
    assert found
    return found.group(1)


async def open_compose(client: httpx.AsyncClient, query: str) -> tuple[str, dict[str, str]]:
    """The compose page and the form it would post as it stands."""
    page = await client.get(f"/compose?{query}")
    assert page.status_code == 200, page.text
    html = page.text
    form = {
        "csrf": csrf_of(html),
        "mailbox": hidden(html, "mailbox"),
        "in_reply_to": hidden(html, "in_reply_to"),
        "references": hidden(html, "references"),
        "reply_of": hidden(html, "reply_of"),
        "forward_of": hidden(html, "forward_of"),
        "draft_of": hidden(html, "draft_of"),
        "from": selected_sender(html),
        "to": field_value(html, "to"),
        "cc": field_value(html, "cc"),
        "bcc": field_value(html, "bcc"),
        "subject": field_value(html, "subject"),
        "body": "",
    }
    return html, form


async def enquiry(services: Services, ctx: AccessContext) -> MessageSummary:
    (found,) = await listing(services, ctx, GROUP, SpecialUse.INBOX)
    return found


JSON = {"Accept": "application/json"}


async def test_compose_and_send_to_a_local_user(
    services: Services, demo: DemoResult, login_as: LoginAs
) -> None:
    bob_ctx, alice_ctx = await ctx_of(services, demo, "bob"), await ctx_of(services, demo, "alice")
    bob = await login_as("bob")
    html, form = await open_compose(bob, f"mailbox={await mailbox_id(services, bob_ctx, BOB)}")
    assert senders(html) == [BOB]  # bob has no Mail on the group: no group sender offered
    assert 'src="/static/compose.js"' in html and "<script>" not in html
    form |= {"to": "Alice <alice@polres.co.uk>", "subject": "Rota", "body": "Monday, 9 am."}
    answer = await bob.post("/compose", data=form | {"action": "send"})
    assert answer.status_code == 303
    sent = await listing(services, bob_ctx, BOB, SpecialUse.SENT)
    assert [m.subject for m in sent] == ["Rota"]
    bob_box = await mailbox_id(services, bob_ctx, BOB)
    assert answer.headers["location"] == f"/mail/{bob_box}/{sent[0].folder_id}"
    (got,) = await listing(services, alice_ctx, ALICE, SpecialUse.INBOX)
    assert got.subject == "Rota" and got.from_addr.endswith("<bob@polres.co.uk>")
    assert "Monday, 9 am." in (await parsed(services, alice_ctx, got.id)).get_content()


async def test_carol_replies_as_the_group(
    services: Services, demo: DemoResult, login_as: LoginAs
) -> None:
    carol_ctx = await ctx_of(services, demo, "carol")
    original = await enquiry(services, carol_ctx)
    carol = await login_as("carol")
    html, form = await open_compose(carol, f"reply={original.id}")
    assert senders(html) == [CAROL, GROUP]
    assert form["from"] == GROUP  # replying inside the group defaults to the group address
    assert form["to"] == "jane.smith@university.example"
    assert form["subject"].startswith("Re: Enquiry")
    assert form["in_reply_to"] == "<enquiry-0001@university.example>"
    answer = await carol.post("/compose", data=form | {"body": "Attached.", "action": "send"})
    assert answer.status_code == 303
    group_box = await mailbox_id(services, carol_ctx, GROUP)
    sent_folder = await folder(services, carol_ctx, group_box, SpecialUse.SENT)
    assert answer.headers["location"] == f"/mail/{group_box}/{sent_folder}"
    (copy,) = await listing(services, carol_ctx, GROUP, SpecialUse.SENT)
    assert copy.sent_by == CAROL
    msg = await parsed(services, carol_ctx, copy.id)
    assert msg["From"].addresses[0].addr_spec.lower() == GROUP
    assert msg["In-Reply-To"] == "<enquiry-0001@university.example>"
    assert await listing(services, carol_ctx, CAROL, SpecialUse.SENT) == []
    # carol may not set flags in the group (no Write): the original is left unanswered ...
    assert Flag.ANSWERED not in (await enquiry(services, carol_ctx)).flags
    # ... while dave (Write, Mail) replying marks it \Answered.
    dave = await login_as("dave")
    _html, form = await open_compose(dave, f"reply={original.id}")
    assert (await dave.post("/compose", data=form | {"action": "send"})).status_code == 303
    assert Flag.ANSWERED in (await enquiry(services, carol_ctx)).flags


async def test_alice_cannot_send_as_the_group(
    services: Services, demo: DemoResult, login_as: LoginAs
) -> None:
    alice_ctx, bob_ctx = await ctx_of(services, demo, "alice"), await ctx_of(services, demo, "bob")
    alice = await login_as("alice")
    group_box = await mailbox_id(services, alice_ctx, GROUP)
    html, form = await open_compose(alice, f"mailbox={group_box}")
    assert senders(html) == [ALICE] and GROUP not in html.split('<form class="compose"')[1]
    # Her drafts go to her own mailbox, as she may not file into the group's.
    assert form["mailbox"] == str(await mailbox_id(services, alice_ctx, ALICE))
    forged = form | {"from": GROUP, "to": BOB, "subject": "Forged", "action": "send"}
    files = [("files", ("x.txt", b"x", "text/plain"))]
    assert (await alice.post("/compose", data=forged, files=files)).status_code == 403
    forged_draft = forged | {"action": "save", "mailbox": str(group_box)}
    assert (await alice.post("/compose", data=forged_draft)).status_code == 403
    assert await listing(services, bob_ctx, BOB, SpecialUse.INBOX) == []
    assert await listing(services, alice_ctx, ALICE, SpecialUse.SENT) == []
    for use in (SpecialUse.SENT, SpecialUse.DRAFTS):
        assert await listing(services, alice_ctx, GROUP, use) == []


async def test_reply_all_leaves_out_the_viewer_and_the_group(
    services: Services, demo: DemoResult, login_as: LoginAs, system: AccessContext
) -> None:
    await services.delivery.deliver(system, TO_TEAM, [DEMO_GROUP, BOB, CAROL])
    carol_ctx = await ctx_of(services, demo, "carol")
    follow_up = next(
        m
        for m in await listing(services, carol_ctx, GROUP, SpecialUse.INBOX)
        if m.subject == "Follow-up"
    )
    carol = await login_as("carol")
    _html, form = await open_compose(carol, f"reply={follow_up.id}&all=1")
    assert form["to"] == "jane.smith@university.example"
    cc = [a.strip().lower() for a in form["cc"].split(",")]
    assert cc == [BOB, "prof.x@university.example"]
    _html, single = await open_compose(carol, f"reply={follow_up.id}")
    assert single["cc"] == ""


async def test_forward_carries_the_kept_attachments(
    services: Services, demo: DemoResult, login_as: LoginAs, system: AccessContext
) -> None:
    await services.delivery.deliver(system, WITH_ATTACHMENT, [BOB])
    bob_ctx, alice_ctx = await ctx_of(services, demo, "bob"), await ctx_of(services, demo, "alice")
    (original,) = await listing(services, bob_ctx, BOB, SpecialUse.INBOX)
    bob = await login_as("bob")
    html, form = await open_compose(bob, f"forward={original.id}")
    assert form["subject"] == "Fwd: Interview questions"
    assert 'name="keep" value="0" checked' in html and "questions.pdf" in html
    form |= {"to": ALICE, "body": "See below.", "keep": "0", "action": "send"}
    upload = [("files", ("notes.txt", b"my notes\n", "text/plain"))]
    assert (await bob.post("/compose", data=form, files=upload)).status_code == 303
    (got,) = await listing(services, alice_ctx, ALICE, SpecialUse.INBOX)
    parts = {
        p.get_filename(): p.get_content()
        for p in (await parsed(services, alice_ctx, got.id)).iter_attachments()
    }
    assert parts == {"questions.pdf": PDF, "notes.txt": "my notes\n"}
    # Unticked, the original's attachment stays behind.
    del form["keep"]
    assert (await bob.post("/compose", data=form | {"subject": "Without"})).status_code == 303
    without = next(
        m
        for m in await listing(services, alice_ctx, ALICE, SpecialUse.INBOX)
        if m.subject == "Without"
    )
    assert not without.has_attachments


async def test_upload_over_the_limit_is_refused_and_nothing_kept(
    services: Services, demo: DemoResult, login_as: LoginAs
) -> None:
    settings = services.deps.settings
    services.deps.settings = dataclasses.replace(
        settings, http=dataclasses.replace(settings.http, max_upload_bytes=1000)
    )
    bob_ctx, alice_ctx = await ctx_of(services, demo, "bob"), await ctx_of(services, demo, "alice")
    bob = await login_as("bob")
    _html, form = await open_compose(bob, "")
    form |= {"to": ALICE, "subject": "Big", "body": "typed text survives"}
    big = [("files", ("big.bin", b"\0" * 1001, "application/octet-stream"))]
    for action in ("send", "save"):
        answer = await bob.post("/compose", data=form | {"action": action}, files=big)
        assert answer.status_code == 413
        assert "typed text survives" in answer.text  # the form comes back as typed
    just = [("files", ("ok.bin", b"\0" * 1000, "application/octet-stream"))]
    assert (
        await bob.post("/compose", data=form | {"action": "send"}, files=just)
    ).status_code == 303
    (got,) = await listing(services, alice_ctx, ALICE, SpecialUse.INBOX)
    assert got.has_attachments
    assert await listing(services, bob_ctx, BOB, SpecialUse.DRAFTS) == []


async def test_draft_saved_then_replaced_not_duplicated(
    services: Services, demo: DemoResult, login_as: LoginAs
) -> None:
    bob_ctx = await ctx_of(services, demo, "bob")
    bob = await login_as("bob")
    _html, form = await open_compose(bob, "")
    form |= {"to": ALICE, "bcc": CAROL, "subject": "Half", "body": "first", "action": "save"}
    first = await bob.post("/compose", data=form, headers=JSON)
    assert first.status_code == 200, first.text
    first_id = first.json()["draft"]
    (kept,) = await listing(services, bob_ctx, BOB, SpecialUse.DRAFTS)
    assert kept.id == first_id and Flag.DRAFT in kept.flags and kept.seen
    upload = [("files", ("plan.txt", b"plan\n", "text/plain"))]
    second = await bob.post(
        "/compose",
        data=form | {"subject": "Whole", "draft_of": str(first_id)},
        files=upload,
        headers=JSON,
    )
    body = second.json()
    assert body["attachments"] == [{"index": 0, "filename": "plan.txt", "size": 5}]
    drafts = await listing(services, bob_ctx, BOB, SpecialUse.DRAFTS)
    assert [(d.id, d.subject) for d in drafts] == [(body["draft"], "Whole")]
    # Continuing the draft shows it, Bcc and attachment included, and replaces it when saved.
    html, again = await open_compose(bob, f"draft={body['draft']}")
    assert again["subject"] == "Whole" and again["bcc"] == CAROL
    assert again["draft_of"] == again["forward_of"] == str(body["draft"])
    assert 'name="keep" value="0" checked' in html
    # Without scripts, saving answers with the draft page.
    plain = await bob.post("/compose", data=again | {"keep": "0", "action": "save"})
    assert plain.status_code == 303 and plain.headers["location"].startswith("/compose?draft=")
    (last,) = await listing(services, bob_ctx, BOB, SpecialUse.DRAFTS)
    assert last.has_attachments and last.subject == "Whole"


async def test_group_drafts_need_write_or_mail(
    services: Services, demo: DemoResult, login_as: LoginAs
) -> None:
    dave_ctx = await ctx_of(services, demo, "dave")
    group_box = await mailbox_id(services, dave_ctx, GROUP)
    bob = await login_as("bob")
    html, form = await open_compose(bob, f"mailbox={group_box}")
    assert form["mailbox"] == str(group_box) and "Save draft" in html
    answer = await bob.post(
        "/compose", data=form | {"subject": "Team note", "action": "save"}, headers=JSON
    )
    assert answer.status_code == 200, answer.text
    (note,) = await listing(services, dave_ctx, GROUP, SpecialUse.DRAFTS)
    assert note.subject == "Team note" and note.sent_by == BOB
    alice = await login_as("alice")
    _html, alice_form = await open_compose(alice, f"mailbox={group_box}")
    refused = await alice.post(
        "/compose",
        data=alice_form | {"mailbox": str(group_box), "subject": "Mine", "action": "save"},
        headers=JSON,
    )
    assert refused.status_code == 403
    # Nor may she replace (delete) bob's draft there.
    refused = await alice.post(
        "/compose",
        data=alice_form | {"draft_of": str(note.id), "subject": "Mine", "action": "save"},
        headers=JSON,
    )
    assert refused.status_code == 404
    assert [d.subject for d in await listing(services, dave_ctx, GROUP, SpecialUse.DRAFTS)] == [
        "Team note"
    ]


async def test_a_draft_cannot_replace_other_mail(
    services: Services, demo: DemoResult, login_as: LoginAs
) -> None:
    dave_ctx = await ctx_of(services, demo, "dave")
    original = await enquiry(services, dave_ctx)
    dave = await login_as("dave")
    _html, form = await open_compose(dave, f"mailbox={await mailbox_id(services, dave_ctx, GROUP)}")
    answer = await dave.post(
        "/compose", data=form | {"draft_of": str(original.id), "action": "save"}, headers=JSON
    )
    assert answer.status_code == 404
    assert (await enquiry(services, dave_ctx)).id == original.id
    assert await listing(services, dave_ctx, GROUP, SpecialUse.DRAFTS) == []


async def test_sending_a_draft_removes_it(
    services: Services, demo: DemoResult, login_as: LoginAs
) -> None:
    bob_ctx, alice_ctx = await ctx_of(services, demo, "bob"), await ctx_of(services, demo, "alice")
    bob = await login_as("bob")
    _html, form = await open_compose(bob, "")
    form |= {"to": ALICE, "subject": "Drafted", "body": "ready", "action": "save"}
    draft_id = (await bob.post("/compose", data=form, headers=JSON)).json()["draft"]
    _html, again = await open_compose(bob, f"draft={draft_id}")
    assert (await bob.post("/compose", data=again | {"action": "send"})).status_code == 303
    assert await listing(services, bob_ctx, BOB, SpecialUse.DRAFTS) == []
    assert [m.subject for m in await listing(services, alice_ctx, ALICE, SpecialUse.INBOX)] == [
        "Drafted"
    ]


async def test_suggest_offers_only_the_own_organisation(
    services: Services,
    demo: DemoResult,
    login_as: LoginAs,
    web: httpx.AsyncClient,
    system: AccessContext,
) -> None:
    await services.directory.create_org(system, "Other Force", "other.example")
    await services.directory.create_user(system, "carla@other.example", display_name="Carol Other")
    await services.directory.set_user_disabled(system, f"erin@{DEMO_DOMAIN}", True)
    bob = await login_as("bob")

    async def ask(q: str) -> list[dict[str, str]]:
        answer = await bob.get("/compose/suggest", params={"q": q}, headers=JSON)
        assert answer.status_code == 200
        found: list[dict[str, str]] = answer.json()
        return found

    assert await ask("car") == [{"address": CAROL, "name": "Carol"}]
    assert await ask("CAROL") == [{"address": CAROL, "name": "Carol"}]
    assert [s["address"] for s in await ask("gm.")] == [GROUP]
    assert [s["address"] for s in await ask("policing")] == [GROUP]  # a word of the name
    assert await ask("er") == []  # erin is disabled
    assert await ask("c") == [] and await ask("") == []
    assert await ask("%") == [] and await ask("_a") == []  # wildcards match literally
    assert len(await ask("polres")) == 0  # the domain is not a prefix of an address
    assert (await web.get("/compose/suggest?q=car", headers=JSON)).status_code == 401


async def test_compose_needs_login_csrf_and_readable_sources(
    services: Services, demo: DemoResult, login_as: LoginAs, web: httpx.AsyncClient
) -> None:
    bob_ctx, erin_ctx = await ctx_of(services, demo, "bob"), await ctx_of(services, demo, "erin")
    assert (await web.get("/compose")).status_code == 303
    bob = await login_as("bob")
    _html, form = await open_compose(bob, "")
    form |= {"to": BOB, "subject": "No token", "action": "send"}
    del form["csrf"]
    assert (await bob.post("/compose", data=form)).status_code == 403
    assert (await bob.post("/compose", data=form | {"csrf": "wrong"})).status_code == 403
    assert await listing(services, bob_ctx, BOB, SpecialUse.INBOX) == []
    original = await enquiry(services, bob_ctx)
    erin = await login_as("erin")
    for query in (f"reply={original.id}", f"forward={original.id}", f"draft={original.id}"):
        assert (await erin.get(f"/compose?{query}")).status_code == 404
    group_box = await mailbox_id(services, bob_ctx, GROUP)
    assert (await erin.get(f"/compose?mailbox={group_box}")).status_code == 404
    _html, erin_form = await open_compose(erin, "")
    sneaky = erin_form | {"to": ALICE, "forward_of": str(original.id), "keep": "0"}
    assert (await erin.post("/compose", data=sneaky | {"action": "send"})).status_code == 404
    assert await listing(services, erin_ctx, f"erin@{DEMO_DOMAIN}", SpecialUse.SENT) == []


@pytest.mark.parametrize("bad", ["not an address", "a@b.example\r\nBcc: x@y.example"])
async def test_bad_recipients_change_nothing(
    services: Services, demo: DemoResult, login_as: LoginAs, bad: str
) -> None:
    bob_ctx = await ctx_of(services, demo, "bob")
    bob = await login_as("bob")
    _html, form = await open_compose(bob, "")
    answer = await bob.post("/compose", data=form | {"to": bad, "subject": "S", "action": "send"})
    assert answer.status_code == 400
    assert 'role="alert"' in answer.text
    assert await listing(services, bob_ctx, BOB, SpecialUse.SENT) == []


async def test_suggest_hides_group_mailboxes_the_viewer_cannot_read(
    demo: DemoResult, login_as: LoginAs
) -> None:
    """A mailbox you may not read does not exist for you, in address completion too."""
    erin = await login_as("erin")
    answer = await erin.get("/compose/suggest", params={"q": "gm."}, headers=JSON)
    assert answer.status_code == 200 and answer.json() == []
    alice = await login_as("alice")
    answer = await alice.get("/compose/suggest", params={"q": "gm."}, headers=JSON)
    assert [s["address"] for s in answer.json()] == [GROUP]
