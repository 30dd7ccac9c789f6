"""Usable by keyboard alone and on a phone screen, in real headless Chromium."""

import re
from collections.abc import Iterator

import pytest

from securemail.core.context import AccessContext
from securemail.services.demo import DEMO_DOMAIN, DEMO_GROUP_NAME
from securemail.services.registry import Services
from tests.browser.conftest import Pages, Shots, Site, log_in, require_browser, serve_demo

require_browser()
from playwright.sync_api import Page, expect  # noqa: E402

SUBJECTS = [f"Note {n} about the quarterly figures" for n in range(3)]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    async def prepare(services: Services, ctx: AccessContext) -> None:
        for n, subject in enumerate(SUBJECTS):
            raw = (
                f"From: Colleague <colleague{n}@outside.example>\r\n"
                f"To: alice@{DEMO_DOMAIN}\r\nSubject: {subject}\r\n"
                f"Date: Thu, 26 Nov 2026 1{n}:00:00 +0000\r\n"
                f"Message-ID: <note-{n}@outside.example>\r\n\r\n"
                "A line of text that is long enough to wrap on a narrow phone screen, "
                "with a_very_long_unbroken_token_that_should_not_push_the_page_sideways_at_all\r\n"
            )
            await services.delivery.deliver(ctx, raw.encode(), [f"alice@{DEMO_DOMAIN}"])

    with serve_demo(tmp_path_factory.mktemp("usability"), prepare) as running:
        yield running


def horizontal_overflow(page: Page) -> int:
    """How many pixels the page is wider than the viewport (0: no horizontal scroll)."""
    return int(
        page.evaluate(
            "Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
            " - document.documentElement.clientWidth"
        )
    )


def test_keyboard_alone(site: Site, pages: Pages, shots: Shots) -> None:
    page = pages.new()
    log_in(page, site, "alice")
    expect(page.locator("tr.msg")).to_have_count(len(SUBJECTS))
    help_overlay = page.locator("#help")
    expect(help_overlay).to_be_hidden()
    page.keyboard.press("?")
    expect(help_overlay).to_be_visible()
    expect(help_overlay).to_contain_text("Keyboard shortcuts")
    expect(help_overlay.locator("dt", has_text="j / k")).to_be_visible()
    shots(page, "help-overlay")
    page.keyboard.press("Escape")
    expect(help_overlay).to_be_hidden()

    # j selects the first (newest) message, j again the next, k back; Enter opens it.
    page.keyboard.press("j")
    first = page.locator("tr.msg").nth(0)
    expect(first).to_have_class(re.compile(r"\bselected\b"))
    page.keyboard.press("j")
    expect(page.locator("tr.msg").nth(1)).to_have_class(re.compile(r"\bselected\b"))
    page.keyboard.press("k")
    expect(first).to_have_class(re.compile(r"\bselected\b"))
    shots(page, "first-row-selected")
    newest = SUBJECTS[-1]
    expect(first).to_contain_text(newest)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/mail/\d+/\d+/\d+$"))
    expect(page.locator("h1#subject")).to_have_text(newest)
    shots(page, "opened-by-enter")

    # u goes back to the list, g i to the inbox, / to the search field, c to compose.
    page.keyboard.press("u")
    page.wait_for_url(re.compile(r"/mail/\d+/\d+$"))
    expect(page.locator("table.messages")).to_be_visible()
    page.keyboard.press("/")
    expect(page.locator("#q")).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.locator("#q")).not_to_be_focused()
    shots(page, "back-in-list")

    # The Tab key alone reaches the skip link first, and it leads to the main content.
    page.reload()
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#main")).to_be_focused()


def test_phone_screen(site: Site, pages: Pages, shots: Shots) -> None:
    page = pages.new(viewport={"width": 375, "height": 700}, is_mobile=True, has_touch=True)
    log_in(page, site, "alice")
    shots(page, "phone-inbox")
    menu = page.get_by_role("button", name="Mailboxes")
    expect(menu).to_be_visible()
    expect(menu).to_have_attribute("aria-expanded", "false")
    table = page.locator("table.messages")
    expect(table).to_be_visible()
    for subject in SUBJECTS:
        expect(page.get_by_role("link", name=subject)).to_be_visible()
    assert horizontal_overflow(page) <= 0, "the message list scrolls sideways on a phone"
    box = table.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 375

    page.locator("tr.msg td.subject a").first.click()
    expect(page.locator("h1#subject")).to_be_visible()
    shots(page, "phone-message")
    assert horizontal_overflow(page) <= 0, "a message scrolls sideways on a phone"
    expect(page.locator("nav.back a")).to_be_visible()
    page.locator("nav.back a").click()
    expect(table).to_be_visible()

    menu.click()
    expect(menu).to_have_attribute("aria-expanded", "true")
    group = page.locator("#side .mailbox a", has_text=DEMO_GROUP_NAME)
    expect(group).to_be_visible()
    shots(page, "phone-mailbox-menu-open")
    assert horizontal_overflow(page) <= 0, "the open mailbox menu scrolls sideways"
    group.click()
    expect(page.locator("h1")).to_contain_text("INBOX")
    expect(page.locator("tr.msg")).to_have_count(1)
    shots(page, "phone-group-inbox")
    assert horizontal_overflow(page) <= 0, "the group mailbox scrolls sideways on a phone"
