"""Security headers on every answer: each route for a signed-in user and for anonymous, 404s,
errors and static files carry a CSP without inline script and with frame-ancestors 'none'
(the message-body frame its own stricter policy), nosniff, a Referrer-Policy and no server
version; cookies are HttpOnly and SameSite, and Secure when http.secure_cookies is set."""

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from securemail import app as composition
from securemail.core.context import AccessContext, system_context
from securemail.services.demo import DEMO_DOMAIN, load_demo
from securemail.services.registry import Services
from securemail.store.migrate import upgrade
from securemail.web.app import create_app
from tests.conftest import TestStore
from tests.security.test_authz_sweep import PROBES, Probe, World, ask, build_world
from tests.web.conftest import log_in

BODY_ROUTE = "/mail/{mailbox_id:int}/{folder_id:int}/{message_id:int}/body"


def directives(csp: str) -> dict[str, str]:
    pairs = (part.strip().partition(" ") for part in csp.split(";") if part.strip())
    return {name: value for name, _, value in pairs}


def assert_hardened(answer: httpx.Response, where: str) -> None:
    """What every answer carries, whatever its status or type."""
    headers = answer.headers
    policy = directives(headers.get("content-security-policy", ""))
    assert policy, f"{where}: no Content-Security-Policy"
    scripts = policy.get("script-src", policy.get("default-src", ""))
    assert "'unsafe-inline'" not in scripts and "'unsafe-eval'" not in scripts, where
    assert headers.get("x-content-type-options") == "nosniff", where
    assert headers.get("referrer-policy") in ("no-referrer", "same-origin"), where
    assert not any(c.isdigit() for c in headers.get("server", "")), f"{where}: server version"
    assert "x-powered-by" not in headers, where


def assert_page_policy(answer: httpx.Response, where: str) -> None:
    policy = directives(answer.headers["content-security-policy"])
    assert policy.get("frame-ancestors") == "'none'", where
    if "sandbox" in policy:  # an attachment: nothing runs, nothing loads
        assert policy.get("default-src") == "'none'" and "script-src" not in policy, where
    else:
        assert policy.get("script-src") == "'self'", where


def assert_body_policy(answer: httpx.Response, where: str) -> None:
    """The message body frame: no script at all, sandboxed, framed only by our own pages."""
    policy = directives(answer.headers["content-security-policy"])
    assert policy.get("default-src") == "'none'" and "script-src" not in policy, where
    assert policy.get("sandbox", "").startswith("allow-popups") or "sandbox" in policy, where
    assert "allow-scripts" not in policy.get("sandbox", ""), where
    assert policy.get("frame-ancestors") == "'self'", where


@pytest.fixture
async def world(services: Services, system: AccessContext) -> AsyncIterator[World]:
    found = await build_world(services, system, await load_demo(services, system))
    yield found
    await found.close()


GETS = [p for p in PROBES if p.method == "GET"]


@pytest.mark.parametrize("probe", GETS, ids=str)
async def test_every_page_is_hardened_for_a_user_and_for_anonymous(
    world: World, probe: Probe
) -> None:
    for who in ("dave", "anon"):
        answer = await ask(world, probe, who)
        where = f"{probe} as {who}: {answer.status_code}"
        assert_hardened(answer, where)
        if probe.template == BODY_ROUTE and answer.status_code == 200:
            assert_body_policy(answer, where)
        else:
            assert_page_policy(answer, where)


@pytest.mark.parametrize("probe", [p for p in PROBES if p.method != "GET"], ids=str)
async def test_every_state_change_answer_is_hardened(world: World, probe: Probe) -> None:
    for who in ("bob", "anon"):
        answer = await ask(world, probe, who)
        assert_hardened(answer, f"{probe} as {who}: {answer.status_code}")


async def test_not_found_error_and_static_answers_are_hardened(world: World) -> None:
    browser = world.browsers["alice"]
    answers = {
        "404": await browser.get("/no/such/page"),
        "api 404": await world.api["alice"].get("/api/v1/no-such"),
        "405": await browser.delete("/login"),
        "413": await browser.post("/login", content=b"x", headers={"content-length": "9" * 12}),
        "static": await browser.get("/static/app.css"),
        "static 404": await browser.get("/static/none.js"),
    }  # fmt: skip
    assert answers["413"].status_code == 413 and answers["404"].status_code == 404
    for name, answer in answers.items():
        assert_hardened(answer, name)
        assert_page_policy(answer, name)


def assert_cookie_flags(answer: httpx.Response, secure: bool) -> None:
    cookies = answer.headers.get_list("set-cookie")
    assert cookies, "no cookie was set"
    for cookie in cookies:
        flags = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
        assert "httponly" in flags and "samesite" in flags, cookie
        assert ("secure" in flags) is secure, cookie


async def login_answers(services: Services) -> list[httpx.Response]:
    """The login page (its CSRF cookie) and a successful login (the session cookie)."""
    system = system_context("test")
    demo = await load_demo(services, system)
    transport = httpx.ASGITransport(app=create_app(services))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        page = await client.get("/login")
        address = f"alice@{DEMO_DOMAIN}"
        done = await log_in(client, address, demo.passwords[address])
    return [page, done]


async def test_cookies_are_httponly_and_samesite(services: Services) -> None:
    for answer in await login_answers(services):
        assert_cookie_flags(answer, secure=False)


async def test_cookies_are_secure_when_configured(store: TestStore, tmp_path: Path) -> None:
    settings = replace(store.settings, http=replace(store.settings.http, secure_cookies=True))
    runtime = composition.build(settings)
    await upgrade(runtime.db)
    try:
        for answer in await login_answers(runtime.services):
            assert_cookie_flags(answer, secure=True)
    finally:
        await runtime.close()
