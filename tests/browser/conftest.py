"""Real-browser fixtures: Debian's headless Chromium driven by Playwright's sync API, against a
real `securemail serve` child process on 127.0.0.1 (every port 0) over the demo organisation.

The tests skip with a one-line reason when /usr/bin/chromium or the playwright package is
missing (never `playwright install`: the browser is the distribution's); CI installs both and
forbids skips.
"""

import asyncio
import os
import re
import secrets
import shutil
import threading
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

from securemail import app
from securemail.config import load_settings
from securemail.core.context import AccessContext, system_context
from securemail.services.demo import DEMO_DOMAIN, load_demo
from securemail.services.registry import Services
from securemail.store.migrate import upgrade
from tests.conftest import PG_URL, TestStore, _create_schema
from tests.e2e.serve_process import ServeProcess

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
T = TypeVar("T")
REPO = Path(__file__).resolve().parents[2]

try:
    from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright
except ImportError:  # pragma: no cover - depends on the environment
    sync_playwright = None  # type: ignore[assignment]


def require_browser() -> None:
    """Skip the calling test module, with a one-line reason, when there is no browser to drive
    (a conftest cannot skip at import time; each module calls this before importing playwright)."""
    if sync_playwright is None:
        pytest.skip("the playwright Python package is not installed", allow_module_level=True)
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"{CHROMIUM} is missing (Debian package chromium)", allow_module_level=True)


def run_async(work: Awaitable[T]) -> T:
    """Run a coroutine to completion in a thread of its own: Playwright's sync API keeps an
    event loop registered in the test's thread, where asyncio.run() refuses to start."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, work).result()  # type: ignore[arg-type]


# --- the server -------------------------------------------------------------------------


Prepare = Callable[[Services, AccessContext], Awaitable[None]]


@dataclass
class Site:
    """A running `securemail serve` with the demo organisation loaded."""

    base: str
    ports: dict[str, int]
    passwords: dict[str, str]
    store: TestStore
    process: ServeProcess
    extra: dict[str, Any] = field(default_factory=dict)

    def password(self, name: str) -> str:
        return self.passwords[f"{name}@{DEMO_DOMAIN}"]


def _store_env(data_dir: Path, schema: str) -> dict[str, str]:
    """The same environment as tests/conftest.py's `store`, for a module-scoped server."""
    env = {
        "SECUREMAIL_SERVER_DATA_DIR": str(data_dir),
        "SECUREMAIL_AUTH_ARGON2_TIME_COST": "1",
        "SECUREMAIL_AUTH_ARGON2_MEMORY_KIB": "1024",
        "SECUREMAIL_AUTH_ARGON2_PARALLELISM": "1",
        "SECUREMAIL_AUTH_MIN_PASSWORD_LENGTH": "8",
    }
    if schema:
        env["SECUREMAIL_DATABASE_URL"] = PG_URL
        env["SECUREMAIL_DATABASE_SCHEMA"] = schema
    return env


async def _load(store: TestStore, prepare: Prepare | None) -> dict[str, str]:
    runtime = app.build(store.settings)
    try:
        await upgrade(runtime.db)
        ctx = system_context("browser-test")
        demo = await load_demo(runtime.services, ctx)
        if prepare is not None:
            await prepare(runtime.services, ctx)
        return demo.passwords
    finally:
        await runtime.close()


@contextmanager
def serve_demo(tmp: Path, prepare: Prepare | None = None) -> Iterator[Site]:
    """Load the demo organisation (and whatever `prepare` adds) into a fresh store, then run
    `securemail serve` over it until the block ends."""
    schema = "t_" + secrets.token_hex(6) if PG_URL else ""
    if schema:
        run_async(_create_schema(schema))
    env = _store_env(tmp / "var", schema)
    store = TestStore(tmp / "var", env, load_settings(env=env))
    try:
        passwords = run_async(_load(store, prepare))
        process = ServeProcess(env, store.data_dir, tmp)
        ports = process.start()
        # Keep reading its log so that a chatty server never blocks on a full pipe.
        assert process.proc is not None and process.proc.stderr is not None
        drain = threading.Thread(target=process.log.extend, args=(process.proc.stderr,))
        drain.daemon = True
        drain.start()
        try:
            yield Site(f"http://127.0.0.1:{ports['http']}", ports, passwords, store, process)
        finally:
            process.terminate()
    finally:
        if schema:
            run_async(_create_schema(schema, drop=True))


# --- the browser ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator["Browser"]:
    """Per module, not per session: Playwright's sync API keeps an event loop running in the
    main thread while it is started, and asyncio tests after it could not run their own."""
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def output_dir() -> Path:
    configured = os.environ.get("SECUREMAIL_TEST_OUTPUT")
    return Path(configured) if configured else REPO / "test-output"


class Shots:
    """Numbered PNG screenshots of each step: <output>/screenshots/<test>/<nn>-<step>.png."""

    def __init__(self, test_name: str) -> None:
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", test_name)
        self.directory = output_dir() / "screenshots" / safe
        shutil.rmtree(self.directory, ignore_errors=True)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.count = 0

    def __call__(self, page: "Page", step: str) -> Path:
        self.count += 1
        path = self.directory / f"{self.count:02d}-{re.sub(r'[^A-Za-z0-9_-]+', '-', step)}.png"
        page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 0
        return path


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Shots:
    return Shots(request.node.name)


@dataclass
class Pages:
    """One browser context (own cookies) per user; closed at the end of the test."""

    browser: "Browser"
    contexts: list["BrowserContext"] = field(default_factory=list)

    def new(self, **options: Any) -> "Page":
        context = self.browser.new_context(**options)
        context.set_default_timeout(10_000)
        self.contexts.append(context)
        return context.new_page()


@pytest.fixture
def pages(browser: "Browser") -> Iterator[Pages]:
    made = Pages(browser)
    yield made
    for context in made.contexts:
        context.close()


def log_in(page: "Page", site: Site, name: str) -> None:
    """Log in through the login form as a person would; end on the first mailbox page."""
    page.goto(site.base + "/login")
    page.get_by_label("Email address").fill(f"{name}@{DEMO_DOMAIN}")
    page.get_by_label("Password").fill(site.password(name))
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/mail/\d+/\d+$"))
