"""Webmail routes through httpx on the real ASGI app: logging in and out, CSRF, cookies,
security headers, the body frame and attachments, idle expiry and disabled users."""

import re
import time
from datetime import UTC, datetime, timedelta

import httpx
import pyotp
import pytest

from securemail.core.context import AccessContext
from securemail.core.model import Folder
from securemail.services.demo import DEMO_DOMAIN, DEMO_GROUP, DemoResult
from securemail.services.registry import Services
from securemail.store.repos import web_sessions as session_repo
from securemail.web.app import create_app
from securemail.web.webmail.login import FAILED_MESSAGE
from tests.web.conftest import LoginAs, csrf_of, log_in

BOB = f"bob@{DEMO_DOMAIN}"
PDF = b"%PDF-1.4\n% not really a pdf\n"
WITH_ATTACHMENT = (
    b"From: Tom Reporter <tom@press.example>\r\nTo: " + BOB.encode() + b"\r\n"
    b"Subject: Questions attached\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
    b"--b1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
    b"<p>Please see the <b>questions</b>.</p>\r\n"
    b"--b1\r\nContent-Type: application/pdf\r\n"
    b'Content-Disposition: attachment; filename="questions.pdf"\r\n'
    b"Content-Transfer-Encoding: base64\r\n\r\n"
    b"JVBERi0xLjQKJSBub3QgcmVhbGx5IGEgcGRmCg==\r\n--b1--\r\n"
)
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)


async def ctx_of(services: Services, demo: DemoResult, name: str) -> AccessContext:
    address = f"{name}@{DEMO_DOMAIN}"
    return await services.auth.authenticate(address, demo.passwords[address], channel="test")


async def inbox_of(services: Services, ctx: AccessContext) -> tuple[int, Folder]:
    box = await services.mailboxes.get_personal_mailbox(ctx)
    folders = await services.mailboxes.list_folders(ctx, box.id)
    return box.id, next(f for f in folders if f.name == "INBOX")


def cookies_set(response: httpx.Response) -> dict[str, str]:
    """Set-Cookie headers by cookie name, whole header as the value."""
    return {h.split("=", 1)[0]: h for h in response.headers.get_list("set-cookie")}


# ---------------------------------------------------------------- logging in


async def test_login_succeeds_with_a_strict_httponly_session_cookie(
    web: httpx.AsyncClient, demo: DemoResult
) -> None:
    answer = await log_in(web, BOB, demo.passwords[BOB])
    assert answer.status_code == 303 and answer.headers["location"] == "/"
    cookie = cookies_set(answer)["sm_session"]
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
    assert "Path=/" in cookie
    assert "Secure" not in cookie  # plain http in tests, secure_cookies off
    home = await web.get("/")
    assert home.status_code == 303 and home.headers["location"].startswith("/mail/")
    page = await web.get(home.headers["location"])
    assert page.status_code == 200 and BOB in page.text


async def test_login_form_cookie_is_strict_and_httponly(web: httpx.AsyncClient) -> None:
    page = await web.get("/login")
    assert page.status_code == 200
    cookie = cookies_set(page)["sm_login"]
    assert "HttpOnly" in cookie and "samesite=strict" in cookie.lower()
    assert csrf_of(page.text) in cookie


async def test_unknown_address_and_wrong_password_look_the_same(
    web: httpx.AsyncClient, demo: DemoResult
) -> None:
    unknown = await log_in(web, f"nobody@{DEMO_DOMAIN}", "whatever-password")
    wrong = await log_in(web, BOB, demo.passwords[BOB] + "x")
    other_domain = await log_in(web, "bob@elsewhere.example", demo.passwords[BOB])
    assert unknown.status_code == wrong.status_code == other_domain.status_code == 401
    assert FAILED_MESSAGE in unknown.text
    # The same client keeps its login token: the pages must be byte for byte the same.
    assert unknown.text == wrong.text == other_domain.text
    for answer in (unknown, wrong, other_domain):
        assert "sm_session" not in cookies_set(answer)
    assert (await web.get("/")).headers["location"] == "/login"


@pytest.mark.parametrize("token", [None, "", "forged-token"])
async def test_login_needs_the_double_submitted_token(
    web: httpx.AsyncClient, demo: DemoResult, token: str | None
) -> None:
    await web.get("/login")  # the cookie half is set; the form half is missing or wrong
    data = {"address": BOB, "password": demo.passwords[BOB]}
    if token is not None:
        data["csrf"] = token
    answer = await web.post("/login", data=data)
    assert answer.status_code == 400
    assert "expired" in answer.text
    assert "sm_session" not in cookies_set(answer)


async def test_login_token_without_its_cookie_is_refused(
    services: Services, demo: DemoResult
) -> None:
    """A cross-site form can copy a token from nowhere: the cookie half must match."""
    transport = httpx.ASGITransport(app=create_app(services))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        token = csrf_of((await client.get("/login")).text)
        client.cookies.clear()
        answer = await client.post(
            "/login", data={"csrf": token, "address": BOB, "password": demo.passwords[BOB]}
        )
        assert answer.status_code == 400
        assert "sm_session" not in cookies_set(answer)


async def test_pages_need_a_session(web: httpx.AsyncClient, demo: DemoResult) -> None:
    for url in ("/", "/mail/1", "/mail/1/1", "/mail/1/1/1", "/mail/1/folders", "/mail/1/search"):
        answer = await web.get(url)
        assert answer.status_code == 303 and answer.headers["location"] == "/login", url
    answer = await web.post("/mail/1/1/actions", data={"action": "delete", "ids": "1"})
    assert answer.status_code == 401
    assert (await web.get("/events")).status_code == 303
    web.cookies.set("sm_session", "made-up-token")
    assert (await web.get("/")).headers["location"] == "/login"


async def test_second_factor(services: Services, demo: DemoResult, web: httpx.AsyncClient) -> None:
    bob = await ctx_of(services, demo, "bob")
    secret = pyotp.random_base32()
    totp = pyotp.TOTP(secret)
    # enrol with the previous step's code, so the current one is still unused at login
    await services.credentials.confirm_totp(bob, secret, totp.at(time.time() - 30))
    answer = await log_in(web, BOB, demo.passwords[BOB])
    assert answer.headers["location"] == "/login/second-factor"
    assert (await web.get("/")).headers["location"] == "/login/second-factor"
    page = await web.get("/login/second-factor")
    assert page.status_code == 200
    wrong = await web.post("/login/second-factor", data={"csrf": csrf_of(page.text), "code": "1"})
    assert wrong.status_code == 401 and FAILED_MESSAGE in wrong.text
    assert (await web.get("/")).headers["location"] == "/login"  # the password is asked again
    await log_in(web, BOB, demo.passwords[BOB])
    page = await web.get("/login/second-factor")
    done = await web.post(
        "/login/second-factor", data={"csrf": csrf_of(page.text), "code": totp.now()}
    )
    assert done.status_code == 303 and done.headers["location"] == "/"
    assert (await web.get("/")).headers["location"].startswith("/mail/")


# ---------------------------------------------------------------- logging out


async def test_logout_ends_the_session_and_needs_the_token(
    services: Services, demo: DemoResult, login_as: LoginAs
) -> None:
    bob = await login_as("bob")
    token = bob.cookies["sm_session"]
    forged = await bob.post("/logout", data={"csrf": "forged"})
    assert forged.status_code == 303 and forged.headers["location"] == "/"
    assert (await bob.get("/")).headers["location"].startswith("/mail/")  # still logged in
    assert (await bob.post("/logout")).headers["location"] == "/"
    page = await bob.get((await bob.get("/")).headers["location"])
    out = await bob.post("/logout", data={"csrf": csrf_of(page.text)})
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert 'sm_session=""' in cookies_set(out)["sm_session"]  # the browser forgets it
    assert (await bob.get("/")).headers["location"] == "/login"
    # The old token is dead on the server too, not only forgotten by the browser.
    transport = httpx.ASGITransport(app=create_app(services))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as replay:
        replay.cookies.set("sm_session", token)
        assert (await replay.get("/")).headers["location"] == "/login"


# ---------------------------------------------------------------- CSRF on actions


async def test_actions_need_the_csrf_token(
    services: Services, demo: DemoResult, login_as: LoginAs, system: AccessContext
) -> None:
    ctx = await ctx_of(services, demo, "bob")
    box, inbox = await inbox_of(services, ctx)
    raw = b"From: a@example.org\r\nSubject: keep me\r\n\r\nbody\r\n"
    [message_id] = (await services.delivery.deliver(system, raw, [BOB])).message_ids
    bob = await login_as("bob")
    url = f"/mail/{box}/{inbox.id}/actions"
    for extra in ({}, {"csrf": "forged"}, {"csrf": ""}):
        answer = await bob.post(url, data={"action": "delete", "ids": str(message_id)} | extra)
        assert answer.status_code == 403, extra
        assert "reload the page" in answer.text
    answer = await bob.post(f"/mail/{box}/empty-trash", data={})
    assert answer.status_code == 403
    summary = await services.messages.get_summary(ctx, message_id)
    assert summary.folder_id == inbox.id
    # Scripts may send the token as a header instead.
    page = await bob.get(f"/mail/{box}/{inbox.id}")
    answer = await bob.post(
        url,
        data={"action": "delete", "ids": str(message_id)},
        headers={"X-CSRF-Token": csrf_of(page.text)},
    )
    assert answer.status_code == 303
    assert (await services.messages.get_summary(ctx, message_id)).folder_id != inbox.id


async def test_another_users_token_is_not_good_for_my_session(
    services: Services, demo: DemoResult, login_as: LoginAs, system: AccessContext
) -> None:
    ctx = await ctx_of(services, demo, "bob")
    box, inbox = await inbox_of(services, ctx)
    raw = b"From: a@example.org\r\nSubject: keep me\r\n\r\nbody\r\n"
    [message_id] = (await services.delivery.deliver(system, raw, [BOB])).message_ids
    carol = await login_as("carol")
    carol_token = csrf_of((await carol.get((await carol.get("/")).headers["location"])).text)
    bob = await login_as("bob")
    answer = await bob.post(
        f"/mail/{box}/{inbox.id}/actions",
        data={"csrf": carol_token, "action": "delete", "ids": str(message_id)},
    )
    assert answer.status_code == 403
    assert (await services.messages.get_summary(ctx, message_id)).folder_id == inbox.id


# ---------------------------------------------------------------- headers


@pytest.fixture
async def bob_mail(services: Services, demo: DemoResult, system: AccessContext) -> dict[str, int]:
    ctx = await ctx_of(services, demo, "bob")
    box, inbox = await inbox_of(services, ctx)
    [message_id] = (await services.delivery.deliver(system, WITH_ATTACHMENT, [BOB])).message_ids
    return {"box": box, "inbox": inbox.id, "message": message_id}


async def test_pages_carry_the_security_headers_and_no_inline_code(
    login_as: LoginAs, bob_mail: dict[str, int], web: httpx.AsyncClient
) -> None:
    bob = await login_as("bob")
    box, inbox, message = bob_mail["box"], bob_mail["inbox"], bob_mail["message"]
    pages = [
        await web.get("/login"),
        await bob.get(f"/mail/{box}/{inbox}"),
        await bob.get(f"/mail/{box}/{inbox}/{message}"),
        await bob.get(f"/mail/{box}/folders"),
        await bob.get(f"/mail/{box}/search", params={"q": "questions", "advanced": "1"}),
        await bob.get("/mail/999999/1"),  # an error page too
    ]
    for page in pages:
        url = str(page.url)
        assert page.headers["content-type"].startswith("text/html"), url
        csp = page.headers["content-security-policy"]
        directives = {d.split()[0]: d for d in (p.strip() for p in csp.split(";")) if d}
        assert directives["script-src"] == "script-src 'self'", url
        assert "unsafe-inline" not in directives["style-src"], url
        assert directives["frame-ancestors"] == "frame-ancestors 'none'", url
        assert directives["object-src"] == "object-src 'none'", url
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["x-frame-options"] == "DENY"
        assert page.headers["cache-control"] == "no-store"
        assert page.headers["referrer-policy"] == "no-referrer"
        # The policy forbids inline code: a page relying on it would break in browsers.
        assert not INLINE_SCRIPT.search(page.text), url
        assert " style=" not in page.text and "<style" not in page.text, url
        assert re.search(r"\son[a-z]+=", page.text) is None, url


async def test_body_frame_has_its_own_sandboxed_policy_without_scripts(
    login_as: LoginAs, bob_mail: dict[str, int]
) -> None:
    bob = await login_as("bob")
    base = f"/mail/{bob_mail['box']}/{bob_mail['inbox']}/{bob_mail['message']}"
    page = await bob.get(base)
    assert f'src="{base}/body"' in page.text and "sandbox=" in page.text
    body = await bob.get(f"{base}/body")
    assert body.status_code == 200
    assert "<b>questions</b>" in body.text
    csp = body.headers["content-security-policy"]
    assert "sandbox" in csp
    assert "allow-scripts" not in csp and "allow-same-origin" not in csp
    assert "script-src" not in csp  # default-src 'none' covers scripts
    assert "default-src 'none'" in csp
    assert "img-src 'self';" in csp  # remote images blocked until asked for
    assert body.headers["x-content-type-options"] == "nosniff"
    remote = await bob.get(f"{base}/body", params={"remote": "1"})
    assert "https:" in remote.headers["content-security-policy"]


async def test_attachment_downloads_as_attachment_with_its_declared_type(
    login_as: LoginAs, bob_mail: dict[str, int]
) -> None:
    bob = await login_as("bob")
    base = f"/mail/{bob_mail['box']}/{bob_mail['inbox']}/{bob_mail['message']}"
    page = await bob.get(base)
    [index] = re.findall(rf'href="{re.escape(base)}/part/(\d+)" download>questions.pdf<', page.text)
    part = await bob.get(f"{base}/part/{index}")
    assert part.status_code == 200
    assert part.content == PDF
    assert part.headers["content-type"] == "application/pdf"
    disposition = part.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    assert 'filename="questions.pdf"' in disposition
    assert part.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in part.headers["content-security-policy"]
    # Asking for inline display of something that is not an image still downloads it.
    inline = await bob.get(f"{base}/part/{index}", params={"inline": "1"})
    assert inline.headers["content-disposition"].startswith("attachment;")
    assert (await bob.get(f"{base}/part/99")).status_code == 404


# ---------------------------------------------------------------- session end


async def _age_sessions(services: Services, user_id: int, age: timedelta) -> None:
    async with services.deps.db.write() as conn:
        for row in await session_repo.list_sessions(conn, user_id):
            await session_repo.touch_session(conn, row.id, datetime.now(UTC) - age)


async def test_idle_session_expires(
    services: Services, demo: DemoResult, login_as: LoginAs
) -> None:
    idle = services.deps.settings.http.session_idle_minutes
    ctx = await ctx_of(services, demo, "bob")
    bob = await login_as("bob")
    await _age_sessions(services, ctx.user_id, timedelta(minutes=idle - 1))
    assert (await bob.get("/")).headers["location"].startswith("/mail/")  # not idle yet
    await _age_sessions(services, ctx.user_id, timedelta(minutes=idle, seconds=5))
    answer = await bob.get("/")
    assert answer.status_code == 303 and answer.headers["location"] == "/login"
    await _age_sessions(services, ctx.user_id, timedelta(0))  # the session row is gone
    assert (await bob.get("/")).headers["location"] == "/login"


async def test_a_request_keeps_the_session_alive(
    services: Services, demo: DemoResult, login_as: LoginAs
) -> None:
    idle = services.deps.settings.http.session_idle_minutes
    ctx = await ctx_of(services, demo, "bob")
    bob = await login_as("bob")
    await _age_sessions(services, ctx.user_id, timedelta(minutes=idle - 1))
    assert (await bob.get("/")).headers["location"].startswith("/mail/")
    async with services.deps.db.read() as conn:
        [row] = await session_repo.list_sessions(conn, ctx.user_id)
    seen = row.last_seen_at.replace(tzinfo=row.last_seen_at.tzinfo or UTC)
    assert datetime.now(UTC) - seen < timedelta(minutes=1)


async def test_a_disabled_users_session_ends_at_the_next_request(
    services: Services, login_as: LoginAs, system: AccessContext
) -> None:
    bob = await login_as("bob")
    page = await bob.get((await bob.get("/")).headers["location"])
    assert page.status_code == 200
    await services.directory.set_user_disabled(system, BOB, True)
    assert (await bob.get(str(page.url))).headers["location"] == "/login"
    answer = await bob.post(
        str(page.url).replace("http://testserver", "") + "/actions",
        data={"csrf": csrf_of(page.text), "action": "read", "ids": "1"},
    )
    assert answer.status_code == 401
    await services.directory.set_user_disabled(system, BOB, False)
    assert (await bob.get("/")).headers["location"] == "/login"  # ended, not suspended


async def test_the_group_is_listed_with_its_unread_count(login_as: LoginAs) -> None:
    alice = await login_as("alice")
    page = await alice.get((await alice.get("/")).headers["location"])
    assert DEMO_GROUP.lower() in page.text.lower()
    listed = r'GM\.ZeroTolerance@polres\.co\.uk</span>\s*<span class="badge"[^>]*>1<'
    assert re.search(listed, page.text, re.IGNORECASE)
