"""The admin console in real headless Chromium against a real `securemail serve`: the
administrator of polres.co.uk creates a group mailbox, grants erin Read, erin (in a browser
of her own) finds it in her mailbox switcher; the administrator revokes it and erin's open
page loses it at her next request (reload: gone; its address answers 404). Every step is
saved as a screenshot."""

import re
from collections.abc import Iterator
from urllib.parse import quote

import pytest

from securemail.services.demo import DEMO_DOMAIN
from tests.browser.conftest import Pages, Shots, Site, log_in, require_browser, serve_demo

require_browser()
from playwright.sync_api import Locator, Page, expect  # noqa: E402

ADDRESS = "GM.BrowserTeam@polres.co.uk"
NAME = "Browser team enquiries"
ERIN = f"erin@{DEMO_DOMAIN}"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with serve_demo(tmp_path_factory.mktemp("admin-console")) as running:
        yield running


def switcher_entry(page: Page) -> Locator:
    return page.locator("#side .mailbox a", has_text=NAME)


def member_row(page: Page, address: str) -> Locator:
    return page.locator(f'tr[data-member="{address}"]')


def create_group(admin: Page, shots: Shots) -> None:
    admin.get_by_role("link", name="Administration").click()
    expect(admin.locator("h1")).to_have_text("Administration")
    admin.locator(".admin-nav").get_by_role("link", name="Group mailboxes").click()
    expect(admin.locator("h1")).to_have_text("Group mailboxes")
    admin.get_by_label("Address").fill(ADDRESS)
    admin.get_by_label("Display name").fill(NAME)
    shots(admin, "admin-fills-new-group")
    admin.get_by_role("button", name="Create group mailbox").click()
    admin.wait_for_url(re.compile(r"/admin/groups/gm\.browserteam%40polres\.co\.uk\?done=created$"))
    expect(admin.locator("h1")).to_have_text(NAME)
    expect(admin.locator("p.notice")).to_contain_text("was created")
    shots(admin, "admin-group-created")


def grant_erin_read(admin: Page, shots: Shots) -> None:
    admin.locator("#new-member").select_option(ERIN)
    expect(admin.get_by_label("Read for the new member")).to_be_checked()
    shots(admin, "admin-adds-erin-with-read")
    admin.get_by_role("button", name="Add", exact=True).click()
    expect(admin.locator("p.notice")).to_contain_text("rights were saved")
    row = member_row(admin, ERIN)
    expect(row.get_by_label(f"Read for {ERIN}")).to_be_checked()
    for right in ("Write", "Mail", "Delete", "Manage"):
        expect(row.get_by_label(f"{right} for {ERIN}")).not_to_be_checked()
    shots(admin, "admin-erin-holds-read")


def test_admin_grants_and_revokes_and_erins_open_session_follows(
    site: Site, pages: Pages, shots: Shots
) -> None:
    admin = pages.new()
    log_in(admin, site, "admin")
    shots(admin, "admin-logged-in")
    create_group(admin, shots)

    erin = pages.new()
    log_in(erin, site, "erin")
    expect(switcher_entry(erin)).to_have_count(0)
    shots(erin, "erin-before-the-grant")

    grant_erin_read(admin, shots)

    erin.reload()
    expect(switcher_entry(erin)).to_have_count(1)
    expect(switcher_entry(erin)).to_contain_text(ADDRESS, ignore_case=True)
    shots(erin, "erin-sees-the-group-in-her-switcher")
    switcher_entry(erin).click()
    erin.wait_for_url(re.compile(r"/mail/\d+/\d+$"))
    group_url = erin.url
    expect(erin.locator("h1 small")).to_contain_text(ADDRESS, ignore_case=True)
    shots(erin, "erin-opens-the-group")

    # The administrator takes Read (hence everything) away while erin's page stays open.
    row = member_row(admin, ERIN)
    row.get_by_label(f"Read for {ERIN}").uncheck()
    shots(admin, "admin-unticks-erins-read")
    admin.get_by_role("button", name=f"Save rights of {ERIN}").click()
    expect(admin.locator("p.notice")).to_contain_text("rights were saved")
    expect(member_row(admin, ERIN)).to_have_count(0)
    shots(admin, "admin-erin-is-no-member")

    answer = erin.reload()
    assert answer is not None and answer.status == 404
    expect(erin.get_by_text(NAME)).to_have_count(0)
    shots(erin, "erin-reload-the-group-is-gone")
    erin.goto(site.base + "/")
    expect(erin.locator("#side .mailbox")).to_have_count(1)  # her own mailbox only
    expect(switcher_entry(erin)).to_have_count(0)
    shots(erin, "erin-switcher-without-the-group")
    answer = erin.goto(group_url)
    assert answer is not None and answer.status == 404
    console = erin.goto(site.base + "/admin/groups/" + quote(ADDRESS, safe=""))
    assert console is not None and console.status == 404

    # The audit log records both changes, as the administrator sees it.
    admin.goto(site.base + "/admin/audit?mailbox=" + quote(ADDRESS, safe=""))
    actions = admin.locator("table.audit td.action").all_inner_texts()
    assert actions == ["revoke", "grant", "group.create"]
    expect(admin.locator("[data-chain]")).to_have_attribute("data-chain", "yes")
    shots(admin, "admin-audit-of-the-group")
