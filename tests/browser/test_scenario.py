"""The reference scenario of the demo organisation, in real headless Chromium against a real
`securemail serve`: an enquiry arrives for GM.ZeroTolerance; alice opens it in the group
mailbox; carol replies as the group; bob files a message from his inbox into the group; alice
has no Move-into-group action; erin sees no group mailbox; new mail appears without reloading.

The tests share one server and run in file order (each step builds on the previous one, as in
the scenario); every step is saved as a screenshot.
"""

import re
import smtplib
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from securemail.services.demo import DEMO_DOMAIN, DEMO_GROUP, DEMO_GROUP_NAME
from tests.browser.conftest import Pages, Shots, Site, log_in, require_browser, serve_demo

require_browser()
from playwright.sync_api import Locator, Page, expect  # noqa: E402

DEMO_SUBJECT = "Enquiry: zero tolerance policing evaluation data"  # the demo's own
ENQUIRY_SUBJECT = "Enquiry: stop-and-search figures for 2026"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with serve_demo(tmp_path_factory.mktemp("scenario")) as running:
        yield running


def send_by_smtp(site: Site, to: str, subject: str, body: str, sender: str) -> None:
    """Mail from the outside world, through the MX listener, as any other MTA would send it."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = f"<{time.time_ns()}@outside.example>"
    message.set_content(body)
    with smtplib.SMTP("127.0.0.1", site.ports["smtp"], timeout=30) as smtp:
        smtp.send_message(message, from_addr=sender.split("<")[-1].rstrip(">"), to_addrs=[to])


def group_link(page: Page) -> Locator:
    return page.locator("#side .mailbox a", has_text=DEMO_GROUP_NAME)


def open_group(page: Page) -> None:
    """Choose the group mailbox in the switcher (opening the menu first on a narrow screen)."""
    link = group_link(page)
    if not link.is_visible():
        page.locator(".menu-toggle").click()
    link.click()
    expect(page.locator("h1")).to_contain_text("INBOX")
    expect(page.locator("h1 small")).to_contain_text(DEMO_GROUP, ignore_case=True)


def folder_link(page: Page, name: str) -> Locator:
    return page.locator("#side .mailbox.current .folders a", has_text=re.compile(rf"^{name}\b"))


def test_enquiry_arrives_and_alice_opens_it_in_the_group(
    site: Site, pages: Pages, shots: Shots
) -> None:
    send_by_smtp(
        site,
        DEMO_GROUP,
        ENQUIRY_SUBJECT,
        "Dear team,\n\ncould you send the stop-and-search figures?\n\nTom",
        "Tom Reader <tom.reader@press.example>",
    )
    page = pages.new()
    log_in(page, site, "alice")
    shots(page, "alice-logged-in")
    expect(page.locator(".me")).to_have_text(f"alice@{DEMO_DOMAIN}")
    expect(group_link(page)).to_contain_text(DEMO_GROUP, ignore_case=True)
    expect(group_link(page).locator(".badge")).to_have_text("2")  # the demo's and this one

    open_group(page)
    shots(page, "alice-group-inbox")
    row = page.locator("tr.msg", has_text=ENQUIRY_SUBJECT)
    expect(row).to_have_class(re.compile(r"\bunread\b"))
    expect(page.locator("tr.msg", has_text="zero tolerance policing evaluation")).to_be_visible()

    row.get_by_role("link", name=ENQUIRY_SUBJECT).click()
    expect(page.locator("h1#subject")).to_have_text(ENQUIRY_SUBJECT)
    expect(page.locator("pre.plain")).to_contain_text("stop-and-search figures")
    expect(page.locator(".readby")).to_contain_text("alice")
    shots(page, "alice-reads-enquiry")
    # alice holds Read only: no Delete, no Flag, no Move of group mail.
    toolbar = page.locator("article .toolbar")
    expect(toolbar.get_by_role("button", name="Delete")).to_have_count(0)
    expect(toolbar.get_by_role("button", name="Flag")).to_have_count(0)
    expect(toolbar.get_by_role("button", name="Move")).to_have_count(0)

    page.locator("nav.back a").click()
    expect(page.locator("tr.msg", has_text=ENQUIRY_SUBJECT)).not_to_have_class(
        re.compile(r"\bunread\b")
    )
    shots(page, "alice-back-in-group-inbox")


def test_carol_replies_as_the_group_and_sent_shows_sent_by_carol(
    site: Site, pages: Pages, shots: Shots
) -> None:
    page = pages.new()
    log_in(page, site, "carol")
    open_group(page)
    shots(page, "carol-group-inbox")
    page.locator("tr.msg", has_text=DEMO_SUBJECT).get_by_role("link").click()
    shots(page, "carol-opens-enquiry")
    page.get_by_role("link", name="Reply", exact=True).click()
    page.wait_for_url(re.compile(r"/compose\?reply=\d+"))
    sender = page.locator('select[name="from"]')
    expect(sender).to_be_visible()
    chosen = sender.locator("option:checked")
    expect(chosen).to_contain_text(
        DEMO_GROUP, ignore_case=True
    )  # replying in a group defaults to the group
    expect(page.locator('[name="to"]')).to_have_value(re.compile("jane.smith@university.example"))
    expect(page.locator('[name="subject"]')).to_have_value(re.compile(r"^Re: .*evaluation data"))
    page.locator('[name="body"]').fill("Dear Jane,\n\nthe evaluation data is in our 2025 report.\n")
    shots(page, "carol-reply-form")
    page.locator('button[name="action"][value="send"]').click()
    page.wait_for_load_state()
    shots(page, "carol-after-send")

    if not folder_link(page, "Sent").is_visible():
        open_group(page)  # the page after sending may show another mailbox
    folder_link(page, "Sent").click()
    expect(page.locator("h1")).to_contain_text("Sent")
    reply = page.locator("tr.msg", has_text="evaluation data")
    expect(reply).to_have_count(1)
    expect(reply.locator(".sentby")).to_have_text(re.compile(r"Sent by (carol|Carol)"))
    expect(reply.locator("td.from")).to_contain_text("jane.smith@university.example")
    shots(page, "group-sent-shows-sent-by-carol")
    reply.locator("td.subject a").click()  # the message itself names its sender in full
    expect(page.locator("p.sentby")).to_have_text(re.compile(r"Sent by (carol|Carol)"))
    expect(page.locator("p.sentby")).to_be_visible()
    shots(page, "reply-says-sent-by-carol")

    # Another member sees the same: the group's Sent belongs to the group, not to carol.
    other = pages.new()
    log_in(other, site, "alice")
    open_group(other)
    folder_link(other, "Sent").click()
    expect(other.locator("tr.msg", has_text="evaluation data").locator(".sentby")).to_have_text(
        re.compile(r"Sent by (carol|Carol)")
    )
    shots(other, "alice-sees-sent-by-carol")


def test_bob_moves_a_message_from_his_inbox_into_the_group(
    site: Site, pages: Pages, shots: Shots
) -> None:
    subject = "Forwarded enquiry about body-worn cameras"
    send_by_smtp(
        site,
        f"bob@{DEMO_DOMAIN}",
        subject,
        "Hi Bob, I was told to ask you directly.",
        "Sam <sam@outside.example>",
    )
    page = pages.new()
    log_in(page, site, "bob")
    expect(page.locator("h1 small")).to_contain_text(f"bob@{DEMO_DOMAIN}")
    shots(page, "bob-own-inbox")
    page.locator("tr.msg", has_text=subject).get_by_role("link").click()
    expect(page.locator("h1#subject")).to_have_text(subject)
    shots(page, "bob-opens-message")

    move = page.locator("article select[name=move_to]")
    target = move.locator("option", has_text=f"{DEMO_GROUP_NAME} / INBOX")
    expect(target).to_have_count(1)
    move.select_option(value=target.get_attribute("value"))
    shots(page, "bob-chooses-group-inbox")
    page.locator("article").get_by_role("button", name="Move", exact=True).click()
    page.wait_for_load_state()
    expect(page.locator("tr.msg", has_text=subject)).to_have_count(0)  # gone from his inbox
    shots(page, "bob-inbox-after-move")

    open_group(page)
    expect(page.locator("tr.msg", has_text=subject)).to_have_count(1)
    shots(page, "group-inbox-has-bobs-message")

    dave = pages.new()
    log_in(dave, site, "dave")
    open_group(dave)
    expect(dave.locator("tr.msg", has_text=subject)).to_have_count(1)
    shots(dave, "dave-sees-filed-message")


def test_alice_finds_no_move_into_group_action(site: Site, pages: Pages, shots: Shots) -> None:
    subject = "Personal note for alice"
    send_by_smtp(
        site, f"alice@{DEMO_DOMAIN}", subject, "Just for you.", "Kim <kim@outside.example>"
    )
    page = pages.new()
    log_in(page, site, "alice")
    shots(page, "alice-own-inbox")
    # In the list: the move selector offers her own folders only, never the group's.
    move = page.locator("#list-form select[name=move_to]")
    expect(move.locator("option", has_text="Trash")).to_have_count(1)
    expect(move.locator("option", has_text=DEMO_GROUP_NAME)).to_have_count(0)
    expect(page.locator("select[name=copy_to] option", has_text=DEMO_GROUP_NAME)).to_have_count(0)

    page.locator("tr.msg", has_text=subject).get_by_role("link").click()
    expect(page.locator("h1#subject")).to_have_text(subject)
    shots(page, "alice-opens-own-message")
    options = page.locator("article select[name=move_to] option")
    labels = options.all_inner_texts()
    assert any("Trash" in label for label in labels), labels  # moving works, just not there
    assert not any(DEMO_GROUP_NAME in label for label in labels), labels
    assert not page.get_by_text(re.compile("Move to .*Zero Tolerance")).count()
    shots(page, "alice-move-targets-without-group")


def test_erin_sees_no_group_mailbox(site: Site, pages: Pages, shots: Shots) -> None:
    page = pages.new()
    log_in(page, site, "erin")
    shots(page, "erin-logged-in")
    expect(page.locator("#side .mailbox")).to_have_count(1)
    expect(page.locator("#side")).not_to_contain_text(DEMO_GROUP_NAME)
    expect(page.locator("#side")).not_to_contain_text(DEMO_GROUP, ignore_case=True)
    assert DEMO_GROUP.lower() not in page.content().lower()

    # The group's URLs answer 404 to her, exactly like a mailbox that does not exist.
    alice = pages.new()
    log_in(alice, site, "alice")
    href = group_link(alice).get_attribute("href")
    assert href
    answer = page.goto(site.base + href)
    assert answer is not None and answer.status == 404
    expect(page.locator("body")).not_to_contain_text(DEMO_GROUP, ignore_case=True)
    shots(page, "erin-group-url-404")
    missing = page.goto(site.base + "/mail/999999/1")
    assert missing is not None and missing.status == 404


def test_new_mail_appears_without_reloading(
    site: Site, pages: Pages, shots: Shots, tmp_path: Path
) -> None:
    page = pages.new()
    log_in(page, site, "alice")
    open_group(page)
    shots(page, "alice-watches-group-inbox")
    page.evaluate("window.__no_reload = 'still the same document'")
    before = page.url
    subject = f"Live enquiry {time.time_ns()}"
    send_by_smtp(site, DEMO_GROUP, subject, "Is anyone there?", "Lee <lee@outside.example>")
    sent_at = time.monotonic()  # the 250 reply: the message is committed
    row = page.locator("tr.msg", has_text=subject)
    expect(row).to_be_visible(timeout=5_000)
    waited = time.monotonic() - sent_at
    shots(page, "new-row-appeared")
    assert waited < 1.0, f"the new message took {waited:.2f}s to appear"
    assert page.url == before
    assert page.evaluate("window.__no_reload") == "still the same document"  # no navigation
    expect(row).to_have_class(re.compile(r"\bunread\b"))
    expect(page.locator(".listhead")).to_contain_text("unread")
