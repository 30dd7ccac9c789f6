"""Hostile mail opened in real Chromium: every message of the hostile corpus (tests/web/
hostile_corpus.py, over 100 HTML and MIME attacks) plus a few canaries of our own that would
leave traces if any of their script ran. For each message: no script runs (no dialog, no
`__pwned`, no console output), no request leaves for another origin, no window opens, the page
does not navigate away, and it stays usable (the back link is visible and works).

Blocking is shown to be real, not an artefact of the test: loading remote content on request
makes the very request that was absent before, and a page outside the app that does run script
is caught by the same hooks.
"""

import re
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from securemail.core.context import AccessContext
from securemail.services.demo import DEMO_DOMAIN
from securemail.services.registry import Services
from tests.browser.conftest import Pages, Shots, Site, log_in, require_browser, serve_demo
from tests.web.hostile_corpus import corpus

require_browser()
from playwright.sync_api import ConsoleMessage, Dialog, Page, Request, expect  # noqa: E402

READER = "dave"
DISCARD_PIXEL = "http://127.0.0.1:9/p.gif"  # in the corpus' "pixel-hidden"
PWN = "window.__pwned=1;try{parent.__pwned=1}catch(e){};try{top.__pwned=1}catch(e){}"
BEACON = "fetch('http://127.0.0.1:9/beacon');new Image().src='http://127.0.0.1:9/img'"
CANARY_HEAD = (
    "From: Canary <canary@sender.invalid>\r\nTo: dave@polres.co.uk\r\n"
    "Date: Thu, 26 Nov 2026 09:15:00 +0000\r\nMIME-Version: 1.0\r\n"
    "Content-Type: text/html; charset=utf-8\r\n"
)
CANARIES = {
    "canary-script": f"<p>c</p><script>{PWN};{BEACON}</script>",
    "canary-onerror": f'<img src="x" onerror="{PWN};{BEACON}">',
    "canary-svg-onload": f'<svg onload="{PWN};{BEACON}"></svg>',
    "canary-body-onload": f'<body onload="{PWN};{BEACON}"><p>c</p></body>',
    "canary-autofocus": f'<input autofocus onfocus="{PWN};{BEACON}">',
    "canary-iframe-srcdoc": f'<iframe srcdoc="<script>{PWN};{BEACON}</script>"></iframe>',
    "canary-data-iframe": '<iframe src="data:text/html,<script>parent.__pwned=1</script>">',
    "canary-object-data": '<object data="data:text/html,<script>top.__pwned=1</script>"></object>',
    "canary-style-import": "<style>@import url(http://127.0.0.1:9/import.css);</style><p>c</p>",
    "canary-meta-refresh": '<meta http-equiv="refresh" content="0;url=http://127.0.0.1:9/r">',
    "canary-link-prefetch": '<link rel="prefetch" href="http://127.0.0.1:9/prefetch"><p>c</p>',
}


def messages() -> list[tuple[str, bytes]]:
    canaries = [
        (name, (CANARY_HEAD + f"Subject: {name}\r\n\r\n{html}").encode())
        for name, html in CANARIES.items()
    ]
    return corpus() + canaries


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    delivered: dict[str, int] = {}
    refused: dict[str, str] = {}

    async def prepare(services: Services, ctx: AccessContext) -> None:
        for name, raw in messages():
            try:
                result = await services.delivery.deliver(ctx, raw, [f"{READER}@{DEMO_DOMAIN}"])
            except Exception as exc:  # reported by test_every_hostile_message_is_delivered
                refused[name] = repr(exc)
                continue
            if result.message_ids:
                delivered[name] = result.message_ids[0]
            else:
                refused[name] = repr(result)

    with serve_demo(tmp_path_factory.mktemp("hostile"), prepare) as running:
        running.extra["delivered"] = delivered
        running.extra["refused"] = refused
        yield running


class Watch:
    """Everything a page does that a hostile message might cause."""

    def __init__(self, page: Page, origin: str) -> None:
        self.origin = origin
        self.requests: list[str] = []
        self.dialogs: list[str] = []
        self.console: list[str] = []
        self.popups: list[str] = []
        page.on("request", self._request)
        page.on("dialog", self._dialog)
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.console.append(f"pageerror: {error}"))
        page.context.on("page", lambda other: self.popups.append(other.url))

    def _request(self, request: Request) -> None:
        self.requests.append(request.url)

    def _dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def _console(self, message: ConsoleMessage) -> None:
        self.console.append(f"{message.type}: {message.text}")

    def clear(self) -> None:
        for seen in (self.requests, self.dialogs, self.console, self.popups):
            seen.clear()

    def foreign(self) -> list[str]:
        """Requests for anything but our own origin (data: and about: never leave)."""
        ours = urlsplit(self.origin)
        out = []
        for url in self.requests:
            parts = urlsplit(url)
            if parts.scheme in ("data", "about", "blob"):
                continue
            if (parts.scheme, parts.netloc) != (ours.scheme, ours.netloc):
                out.append(url)
        return out


# The back link is on screen and the topmost element where a reader would click it.
BACK_LINK_ON_TOP = """() => {
  const link = document.querySelector("nav.back a");
  if (!link) return false;
  const box = link.getBoundingClientRect();
  if (box.width === 0 || box.height === 0 || getComputedStyle(link).visibility !== "visible")
    return false;
  const hit = document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2);
  return hit === link || link.contains(hit);
}"""


def pwned(page: Page) -> list[str]:
    """Frames in which a canary managed to set `__pwned`."""
    hits = []
    for frame in page.frames:
        try:
            value = frame.evaluate("typeof window.__pwned")
        except Exception as exc:  # a frame that went away is reported, not ignored
            hits.append(f"{frame.url}: cannot inspect ({exc})")
            continue
        if value != "undefined":
            hits.append(frame.url)
    return hits


def inbox_url(page: Page) -> str:
    match = re.search(r"(/mail/\d+/\d+)$", page.url)
    assert match, page.url
    return match.group(1)


def mark_all_read(page: Page) -> None:
    """Select every message of each list page and press "Mark read", as a reader would."""
    list_url = page.url
    number = 1
    while True:
        page.goto(f"{list_url}?page={number}")
        boxes = page.locator("#list-form input[name=ids]")
        if boxes.count() == 0:
            return
        page.evaluate(
            "document.querySelectorAll('#list-form input[name=ids]')"
            ".forEach((box) => { box.checked = true; })"
        )
        # Generous: on PostgreSQL marking 50 messages read takes seconds (reported).
        page.locator("#list-form").get_by_role("button", name="Mark read").click(timeout=60_000)
        page.wait_for_load_state()
        expect(page.locator("#list-form tr.msg.unread")).to_have_count(0, timeout=60_000)
        if not page.locator("nav.pages a[rel=next]").count():
            return
        number += 1


def test_every_hostile_message_is_delivered(site: Site) -> None:
    """The mail transport takes every hostile message (what cannot be shown safely is the
    renderer's business, not a reason to lose mail or crash the delivery)."""
    assert site.extra["refused"] == {}


def test_the_watch_catches_a_script_that_runs(pages: Pages) -> None:
    """Control: the same hooks see a dialog, a global and a foreign request when script does
    run, so their silence below means something."""
    page = pages.new()
    watch = Watch(page, "http://127.0.0.1:1")
    page.set_content(f"<p>control</p><script>alert(1);{PWN};{BEACON}</script>")
    page.wait_for_timeout(200)
    assert watch.dialogs == ["alert: 1"]
    assert pwned(page) == [page.url]
    assert "http://127.0.0.1:9/beacon" in watch.foreign()
    page.set_content('<nav class="back"><a href="#">back</a></nav>')
    assert page.evaluate(BACK_LINK_ON_TOP) is True
    cover = '<div style="position:fixed;top:0;left:0;width:100%;height:100%"></div>'
    page.set_content(f'<nav class="back"><a href="#">back</a></nav>{cover}')
    assert page.evaluate(BACK_LINK_ON_TOP) is False


def test_hostile_corpus_in_chromium(site: Site, pages: Pages, shots: Shots) -> None:
    all_messages = messages()
    assert len(corpus()) >= 100
    delivered: dict[str, int] = site.extra["delivered"]
    assert len(delivered) >= 100
    page = pages.new()
    log_in(page, site, READER)
    inbox = inbox_url(page)
    started = time.monotonic()
    mark_all_read(page)  # opening then changes no flag: no live update refetches each page
    watch = Watch(page, site.base)
    problems: dict[str, list[str]] = {}
    for number, (name, _) in enumerate([m for m in all_messages if m[0] in delivered]):
        url = f"{site.base}{inbox}/{delivered[name]}"
        watch.clear()
        answer = page.goto(url, wait_until="load")
        page.wait_for_timeout(30)  # let meta refreshes, timers and late loads show themselves
        found: list[str] = []
        if answer is None or answer.status != 200:
            found.append(f"status {answer.status if answer else None}")
        if page.url != url:
            found.append(f"navigated to {page.url}")
        found += [f"request {u}" for u in watch.foreign()]
        found += [f"dialog {d}" for d in watch.dialogs]
        found += [f"console {c}" for c in watch.console]
        found += [f"popup {p}" for p in watch.popups]
        found += [f"__pwned in {f}" for f in pwned(page)]
        for frame in page.frames[1:]:  # the body iframe stays on its own body URL
            if not frame.url.startswith(url + "/body"):
                found.append(f"frame at {frame.url}")
        back = page.locator("nav.back a")
        if not page.evaluate(BACK_LINK_ON_TOP):
            found.append("back link hidden or covered")
        if number % 10 == 0:
            shots(page, name)
        if found:
            problems[name] = found
            shots(page, f"problem-{name}")
        if number % 10 == 5:  # now and then really go back, as a reader would
            back.click()
            page.wait_for_url(re.compile(re.escape(inbox) + r"$"))
            expect(page.locator("table.messages")).to_be_visible()
    elapsed = time.monotonic() - started
    print(f"{len(delivered)} hostile messages opened in {elapsed:.0f}s")
    assert not problems, "\n".join(f"{n}: {p}" for n, p in problems.items())


def test_remote_content_loads_only_when_asked(site: Site, pages: Pages, shots: Shots) -> None:
    delivered: dict[str, int] = site.extra["delivered"]
    page = pages.new()
    log_in(page, site, READER)
    url = f"{site.base}{inbox_url(page)}/{delivered['pixel-hidden']}"
    watch = Watch(page, site.base)
    page.goto(url, wait_until="load")
    page.wait_for_timeout(300)
    shots(page, "pixel-blocked")
    assert watch.foreign() == []
    notice = page.get_by_role("link", name="Load remote content for this message")
    expect(notice).to_be_visible()

    notice.click()
    page.wait_for_url(re.compile(r"\?remote=1$"))
    page.wait_for_load_state("load")
    deadline = time.monotonic() + 5
    while DISCARD_PIXEL not in watch.foreign() and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    shots(page, "pixel-loaded-on-request")
    assert DISCARD_PIXEL in watch.foreign(), watch.requests
    assert watch.dialogs == [] and pwned(page) == []
