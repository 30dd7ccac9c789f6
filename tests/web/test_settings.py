"""Webmail settings through httpx on the real ASGI app and store: second factor, recovery
codes, sessions, app passwords, mail-client settings and the password."""

import re
import time

import httpx
import pyotp
import pytest

from securemail.core.context import AccessContext
from securemail.core.errors import AuthenticationFailed
from securemail.core.model import OrgPolicy
from securemail.services.demo import DEMO_DOMAIN, DEMO_GROUP, DEMO_GROUP_NAME, DemoResult
from securemail.services.registry import Services
from securemail.store.repos import directory as dir_repo
from securemail.web.app import create_app
from securemail.web.webmail.settings import browser_name
from tests.web.conftest import LoginAs, csrf_of, log_in

ALICE = f"alice@{DEMO_DOMAIN}"
SECRET = re.compile(r'name="secret" value="([A-Z2-7]+)"')
CODES = re.compile(r"<li><code>([^<]+)</code></li>")
NEW_APP_PASSWORD = re.compile(r'<code class="secret new-app-password">([^<]+)</code>')
SESSION_ROW = re.compile(r'data-session-id="(\d+)"')


def address(name: str) -> str:
    return f"{name}@{DEMO_DOMAIN}"


def anonymous(services: Services) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_app(services))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def post(client: httpx.AsyncClient, url: str, page: str, **fields: str) -> httpx.Response:
    """Submit a form of the settings pages with the CSRF token `page` carries."""
    html = (await client.get(page)).text
    return await client.post(url, data={"csrf": csrf_of(html), **fields})


def previous_code(secret: str) -> str:
    return pyotp.TOTP(secret).at(time.time() - 30)


async def enrol(client: httpx.AsyncClient) -> tuple[str, list[str]]:
    """Set up TOTP as a user would: read the secret off the page, type the app's code."""
    started = await post(client, "/settings/security/enrol", "/settings/security")
    assert started.status_code == 200
    assert 'src="data:image/svg+xml' in started.text  # the QR code, inline
    found = SECRET.search(started.text)
    assert found, "no secret on the enrolment page"
    secret = found.group(1)
    grouped = " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
    assert grouped in started.text  # for typing in by hand
    done = await client.post(
        "/settings/security/confirm",
        # the previous step's code (inside the drift window): the current one stays unused
        data={"csrf": csrf_of(started.text), "secret": secret, "code": previous_code(secret)},
    )
    assert done.status_code == 200, done.text
    assert "shown only this once" in done.text
    codes = CODES.findall(done.text)
    assert len(codes) == 10
    return secret, codes


async def second_factor(client: httpx.AsyncClient, code: str) -> httpx.Response:
    page = await client.get("/login/second-factor")
    return await client.post(
        "/login/second-factor", data={"csrf": csrf_of(page.text), "code": code}
    )


async def failed_logins(services: Services, who: str) -> int:
    async with services.deps.db.read() as conn:
        row = await dir_repo.login_row(conn, who)
    assert row is not None
    return int(row.failed_logins)


# --- second factor ------------------------------------------------------------------------


async def test_enrolment_then_login_needs_the_code(
    services: Services, demo: DemoResult, login_as: LoginAs
) -> None:
    alice = await login_as("alice")
    before = await alice.get("/settings/security")
    assert "Not set up" in before.text
    secret, _codes = await enrol(alice)
    after = await alice.get("/settings/security")
    assert "protected by a second factor" in after.text
    assert '<strong class="codes-left">10</strong>' in after.text
    assert "/settings/security/enrol" not in after.text  # no self-reset offered

    async with anonymous(services) as browser:
        answer = await log_in(browser, ALICE, demo.passwords[ALICE])
        assert answer.status_code == 303
        assert answer.headers["location"] == "/login/second-factor"
        assert (await browser.get("/settings")).headers["location"] == "/login/second-factor"
        code = pyotp.TOTP(secret).now()
        passed = await second_factor(browser, code)
        assert passed.status_code == 303 and passed.headers["location"] == "/"
        assert (await browser.get("/settings")).status_code == 200
    async with anonymous(services) as browser:  # the same code a second time: refused
        await log_in(browser, ALICE, demo.passwords[ALICE])
        assert (await second_factor(browser, code)).status_code == 401


async def test_wrong_confirmation_code_enrols_nothing(
    services: Services, demo: DemoResult, login_as: LoginAs
) -> None:
    alice = await login_as("alice")
    started = await post(alice, "/settings/security/enrol", "/settings/security")
    secret = SECRET.search(started.text).group(1)  # type: ignore[union-attr]
    wrong = f"{(int(pyotp.TOTP(secret).now()) + 500_000) % 1_000_000:06d}"
    answer = await alice.post(
        "/settings/security/confirm",
        data={"csrf": csrf_of(started.text), "secret": secret, "code": wrong},
    )
    assert answer.status_code == 400
    assert "the code does not match" in answer.text
    assert f'value="{secret}"' in answer.text  # the same secret, to try again
    ctx = await services.auth.authenticate(ALICE, demo.passwords[ALICE], channel="test")
    assert not await services.credentials.has_second_factor(ctx)
    altered = await alice.post(
        "/settings/security/confirm",
        data={"csrf": csrf_of(started.text), "secret": "not-base32!", "code": "123456"},
    )
    assert altered.status_code == 400
    assert not await services.credentials.has_second_factor(ctx)


async def test_wrong_code_ends_the_pending_session_and_counts(
    services: Services, demo: DemoResult, login_as: LoginAs
) -> None:
    secret, _codes = await enrol(await login_as("alice"))
    failures = await failed_logins(services, ALICE)
    async with anonymous(services) as browser:
        await log_in(browser, ALICE, demo.passwords[ALICE])
        pending = browser.cookies["sm_session"]
        answer = await second_factor(browser, "12345x")
        assert answer.status_code == 401
        assert "Wrong address, password or code" in answer.text
        assert (await browser.get("/settings")).headers["location"] == "/login"
        # the pending session is gone on the server: even the right code cannot revive it
        browser.cookies.set("sm_session", pending)
        revived = await second_factor(browser, pyotp.TOTP(secret).now())
        assert revived.status_code == 401
        assert (await browser.get("/settings")).headers["location"] == "/login"
    assert await failed_logins(services, ALICE) == failures + 1


async def test_recovery_code_works_once(
    services: Services, demo: DemoResult, login_as: LoginAs
) -> None:
    alice = await login_as("alice")
    _secret, codes = await enrol(alice)
    async with anonymous(services) as browser:
        await log_in(browser, ALICE, demo.passwords[ALICE])
        answer = await second_factor(browser, codes[3])
        assert answer.status_code == 303 and answer.headers["location"] == "/"
        assert (await browser.get("/settings")).status_code == 200
    page = await alice.get("/settings/security")
    assert '<strong class="codes-left">9</strong>' in page.text
    async with anonymous(services) as browser:
        await log_in(browser, ALICE, demo.passwords[ALICE])
        again = await second_factor(browser, codes[3])
        assert again.status_code == 401
        assert (await browser.get("/settings")).headers["location"] == "/login"


async def test_new_recovery_codes_replace_the_old(
    services: Services, demo: DemoResult, login_as: LoginAs
) -> None:
    alice = await login_as("alice")
    _secret, old_codes = await enrol(alice)
    answer = await post(alice, "/settings/security/recovery-codes", "/settings/security")
    assert answer.status_code == 200
    new_codes = CODES.findall(answer.text)
    assert len(new_codes) == 10 and not set(new_codes) & set(old_codes)
    async with anonymous(services) as browser:
        await log_in(browser, ALICE, demo.passwords[ALICE])
        assert (await second_factor(browser, old_codes[0])).status_code == 401
    async with anonymous(services) as browser:
        await log_in(browser, ALICE, demo.passwords[ALICE])
        assert (await second_factor(browser, new_codes[0])).status_code == 303


async def test_recovery_codes_need_a_second_factor(login_as: LoginAs) -> None:
    bob = await login_as("bob")
    answer = await post(bob, "/settings/security/recovery-codes", "/settings/security")
    assert answer.status_code == 400
    assert not CODES.findall(answer.text)


async def test_enrolled_user_cannot_replace_the_factor_themselves(
    services: Services, demo: DemoResult, login_as: LoginAs
) -> None:
    alice = await login_as("alice")
    secret, _codes = await enrol(alice)
    other = pyotp.random_base32()
    page = await alice.get("/settings/security")
    answer = await alice.post(
        "/settings/security/confirm",
        data={"csrf": csrf_of(page.text), "secret": other, "code": pyotp.TOTP(other).now()},
    )
    assert answer.status_code == 303
    assert (await post(alice, "/settings/security/enrol", "/settings/security")).status_code == 303
    async with anonymous(services) as browser:  # the first secret still rules
        await log_in(browser, ALICE, demo.passwords[ALICE])
        assert (await second_factor(browser, pyotp.TOTP(secret).now())).status_code == 303


async def test_required_second_factor_sends_the_user_to_enrol(
    services: Services, demo: DemoResult, system: AccessContext
) -> None:
    org = (await services.directory.list_orgs(system))[0]
    await services.org_policy.set(system, OrgPolicy(org.id, require_second_factor=True))
    async with anonymous(services) as browser:
        await log_in(browser, ALICE, demo.passwords[ALICE])
        assert (await browser.get("/")).headers["location"] == "/settings/security"
        page = await browser.get("/settings/security")
        assert "requires a second factor" in page.text
        await enrol(browser)
        assert (await browser.get("/settings")).status_code == 200


# --- sessions -----------------------------------------------------------------------------


async def test_sessions_list_and_end_another(login_as: LoginAs) -> None:
    first = await login_as("bob")
    second = await login_as("bob")
    page = await first.get("/settings/sessions")
    ids = SESSION_ROW.findall(page.text)
    assert len(ids) == 2
    assert page.text.count("(this session)") == 1
    this = re.search(r'data-session-id="(\d+)" class="this"', page.text)
    assert this is not None
    other = next(i for i in ids if i != this.group(1))
    ended = await first.post(
        "/settings/sessions/end", data={"csrf": csrf_of(page.text), "id": other}
    )
    assert ended.status_code == 303
    after = await first.get(ended.headers["location"])
    assert "The session was ended." in after.text
    assert SESSION_ROW.findall(after.text) == [this.group(1)]
    gone = await second.get("/settings")
    assert gone.status_code == 303 and gone.headers["location"] == "/login"


async def test_ending_this_session_logs_out(login_as: LoginAs) -> None:
    bob = await login_as("bob")
    page = await bob.get("/settings/sessions")
    this = re.search(r'data-session-id="(\d+)" class="this"', page.text)
    assert this is not None
    answer = await bob.post(
        "/settings/sessions/end", data={"csrf": csrf_of(page.text), "id": this.group(1)}
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/login"
    assert (await bob.get("/settings")).headers["location"] == "/login"


async def test_sessions_of_others_cannot_be_ended(login_as: LoginAs) -> None:
    carol = await login_as("carol")
    carol_page = await carol.get("/settings/sessions")
    carol_id = SESSION_ROW.findall(carol_page.text)[0]
    bob = await login_as("bob")
    answer = await post(bob, "/settings/sessions/end", "/settings/sessions", id=carol_id)
    assert answer.status_code == 404
    assert (await carol.get("/settings")).status_code == 200


# --- app passwords --------------------------------------------------------------------------


async def test_app_password_for_imap_only(
    services: Services, demo: DemoResult, login_as: LoginAs
) -> None:
    alice = await login_as("alice")
    answer = await post(
        alice, "/settings/app-passwords", "/settings/app-passwords",
        label="Phone", protocols="imap",
    )  # fmt: skip
    assert answer.status_code == 200
    found = NEW_APP_PASSWORD.search(answer.text)
    assert found, "the new app password is not shown"
    secret = found.group(1)
    ctx = await services.auth.authenticate(ALICE, secret, channel="imap")
    assert ctx.address == ALICE
    with pytest.raises(AuthenticationFailed):
        await services.auth.authenticate(ALICE, secret, channel="pop3")
    listed = await alice.get("/settings/app-passwords")
    assert secret not in listed.text  # shown once only
    assert "Phone" in listed.text and "IMAP" in listed.text
    assert "POP3</td>" not in listed.text


async def test_app_password_revoked(services: Services, login_as: LoginAs) -> None:
    alice = await login_as("alice")
    created = await post(
        alice, "/settings/app-passwords", "/settings/app-passwords",
        label="Laptop", protocols="smtp",
    )  # fmt: skip
    secret = NEW_APP_PASSWORD.search(created.text).group(1)  # type: ignore[union-attr]
    await services.auth.authenticate(ALICE, secret, channel="smtp")
    page = await alice.get("/settings/app-passwords")
    password_id = re.search(r'data-app-password-id="(\d+)"', page.text).group(1)  # type: ignore[union-attr]
    answer = await alice.post(
        "/settings/app-passwords/revoke", data={"csrf": csrf_of(page.text), "id": password_id}
    )
    assert answer.status_code == 303
    after = await alice.get(answer.headers["location"])
    assert "was revoked" in after.text and "Laptop" not in after.text
    with pytest.raises(AuthenticationFailed):
        await services.auth.authenticate(ALICE, secret, channel="smtp")


async def test_app_password_of_another_user_cannot_be_revoked(
    services: Services, login_as: LoginAs
) -> None:
    alice = await login_as("alice")
    created = await post(
        alice, "/settings/app-passwords", "/settings/app-passwords",
        label="Phone", protocols="imap",
    )  # fmt: skip
    secret = NEW_APP_PASSWORD.search(created.text).group(1)  # type: ignore[union-attr]
    page = await alice.get("/settings/app-passwords")
    password_id = re.search(r'data-app-password-id="(\d+)"', page.text).group(1)  # type: ignore[union-attr]
    bob = await login_as("bob")
    answer = await post(
        bob, "/settings/app-passwords/revoke", "/settings/app-passwords", id=password_id
    )
    assert answer.status_code == 404
    await services.auth.authenticate(ALICE, secret, channel="imap")


async def test_app_password_needs_a_protocol(
    services: Services, demo: DemoResult, login_as: LoginAs
) -> None:
    alice = await login_as("alice")
    answer = await post(alice, "/settings/app-passwords", "/settings/app-passwords", label="X")
    assert answer.status_code == 400
    assert "at least one protocol" in answer.text
    assert not NEW_APP_PASSWORD.search(answer.text)
    ctx = await services.auth.authenticate(ALICE, demo.passwords[ALICE], channel="test")
    assert await services.credentials.list_app_passwords(ctx, ALICE) == []
    assert "You have no app passwords." in answer.text


async def test_with_a_second_factor_mail_clients_need_app_passwords(
    services: Services, demo: DemoResult, login_as: LoginAs
) -> None:
    alice = await login_as("alice")
    await enrol(alice)
    page = await alice.get("/settings/app-passwords")
    assert "accept <strong>only app passwords</strong>" in page.text
    with pytest.raises(AuthenticationFailed):
        await services.auth.authenticate(ALICE, demo.passwords[ALICE], channel="imap")
    created = await post(
        alice, "/settings/app-passwords", "/settings/app-passwords",
        label="Outlook", protocols="imap",
    )  # fmt: skip
    secret = NEW_APP_PASSWORD.search(created.text).group(1)  # type: ignore[union-attr]
    login = f"{ALICE}#{DEMO_GROUP}"
    _ctx, mailbox = await services.auth.authenticate_mail_client(login, secret, channel="imap")
    assert mailbox.address.lower() == DEMO_GROUP.lower()


# --- mail clients ---------------------------------------------------------------------------


async def test_client_settings_with_group_login(
    services: Services, demo: DemoResult, login_as: LoginAs
) -> None:
    settings = services.deps.settings
    alice = await login_as("alice")
    page = await alice.get("/settings/clients")
    assert page.status_code == 200
    text = page.text
    assert f"<code>{settings.server.hostname}</code>" in text
    for port in (
        settings.imap.tls_port, settings.imap.port, settings.pop3.tls_port,
        settings.pop3.port, settings.smtp.submissions_port, settings.smtp.submission_port,
    ):  # fmt: skip
        assert f"<code>{port}</code>" in text
    assert f'<code class="login-name">{ALICE}</code>' in text
    logins = re.findall(r'<code class="group-login">([^<]+)</code>', text)
    assert [login.lower() for login in logins] == [f"{ALICE}#{DEMO_GROUP}".lower()]
    assert f"Shared/{DEMO_GROUP}/".lower() in text.lower()
    assert "/.well-known/autoconfig/mail/config-v1.1.xml" in text
    # the login shown really opens the group mailbox, with alice's own password
    _ctx, mailbox = await services.auth.authenticate_mail_client(
        logins[0], demo.passwords[ALICE], channel="pop3"
    )
    assert mailbox.address.lower() == DEMO_GROUP.lower()


async def test_client_settings_without_groups(login_as: LoginAs) -> None:
    erin = await login_as("erin")
    page = await erin.get("/settings/clients")
    assert page.status_code == 200
    assert "group-login" not in page.text
    assert DEMO_GROUP.lower() not in page.text.lower()
    assert "You have no group mailboxes." in page.text


# --- password -------------------------------------------------------------------------------


async def test_password_change(services: Services, demo: DemoResult, login_as: LoginAs) -> None:
    bob = await login_as("bob")
    other = await login_as("bob")
    old = demo.passwords[address("bob")]
    new = "a new and long password"
    answer = await post(
        bob, "/settings/password", "/settings/password", old=old, new=new, repeat=new, others="1"
    )
    assert answer.status_code == 303
    assert "Your password was changed" in (await bob.get(answer.headers["location"])).text
    assert (await other.get("/settings")).headers["location"] == "/login"  # others ended
    await services.auth.authenticate(address("bob"), new, channel="test")
    with pytest.raises(AuthenticationFailed):
        await services.auth.authenticate(address("bob"), old, channel="test")


async def test_password_change_keeps_other_sessions_when_asked(
    demo: DemoResult, login_as: LoginAs
) -> None:
    bob = await login_as("bob")
    other = await login_as("bob")
    old = demo.passwords[address("bob")]
    new = "another long password"
    answer = await post(
        bob, "/settings/password", "/settings/password", old=old, new=new, repeat=new
    )
    assert answer.status_code == 303
    assert (await other.get("/settings")).status_code == 200


@pytest.mark.parametrize(
    ("old", "new", "repeat", "message"),
    [
        ("wrong password!", "a new and long password", "a new and long password", "is wrong"),
        (None, "a new and long password", "a different long one", "differ"),
        (None, "short", "short", "at least"),
        (None, None, None, "must differ from the current one"),
    ],
)
async def test_password_change_refused_changes_nothing(
    services: Services,
    demo: DemoResult,
    login_as: LoginAs,
    old: str | None,
    new: str | None,
    repeat: str | None,
    message: str,
) -> None:
    bob = await login_as("bob")
    current = demo.passwords[address("bob")]
    failures = await failed_logins(services, address("bob"))
    answer = await post(
        bob, "/settings/password", "/settings/password",
        old=old or current, new=new or current, repeat=repeat or current,
    )  # fmt: skip
    assert answer.status_code == 400
    assert message in answer.text
    assert "nothing was changed" in answer.text or message != "is wrong"
    assert await failed_logins(services, address("bob")) == failures  # not a failed login
    await services.auth.authenticate(address("bob"), current, channel="test")
    if new:
        with pytest.raises(AuthenticationFailed):
            await services.auth.authenticate(address("bob"), new, channel="test")


async def test_forced_password_change(
    services: Services, demo: DemoResult, system: AccessContext
) -> None:
    generated = await services.directory.reset_password(system, address("dave"))
    assert generated is not None
    async with anonymous(services) as browser:
        assert (await log_in(browser, address("dave"), generated)).status_code == 303
        assert (await browser.get("/")).headers["location"] == "/settings/password"
        page = await browser.get("/settings/password")
        assert "You must choose a new password" in page.text
        new = "dave's own long password"
        answer = await browser.post(
            "/settings/password",
            data={"csrf": csrf_of(page.text), "old": generated, "new": new, "repeat": new},
        )
        assert answer.status_code == 303
        assert (await browser.get("/")).status_code in (200, 303)
        assert (await browser.get("/")).headers.get("location") != "/settings/password"


# --- every page, every form -----------------------------------------------------------------

PAGES = [
    "/settings",
    "/settings/security",
    "/settings/sessions",
    "/settings/app-passwords",
    "/settings/clients",
    "/settings/password",
]
FORMS = [
    "/settings/security/enrol",
    "/settings/security/confirm",
    "/settings/security/recovery-codes",
    "/settings/sessions/end",
    "/settings/app-passwords",
    "/settings/app-passwords/revoke",
    "/settings/password",
]


@pytest.mark.parametrize("url", PAGES)
async def test_pages_need_a_login(web: httpx.AsyncClient, url: str) -> None:
    answer = await web.get(url)
    assert answer.status_code == 303 and answer.headers["location"] == "/login"


@pytest.mark.parametrize("url", PAGES)
async def test_pages_render_in_the_layout(login_as: LoginAs, url: str) -> None:
    bob = await login_as("bob")
    answer = await bob.get(url)
    assert answer.status_code == 200
    assert 'aria-label="Settings"' in answer.text
    assert 'aria-current="page"' in answer.text
    assert 'class="mailboxes"' in answer.text  # the mailbox list beside the page
    assert DEMO_GROUP_NAME in answer.text


@pytest.mark.parametrize("url", FORMS)
@pytest.mark.parametrize("token", [None, "forged"])
async def test_forms_without_the_csrf_token_are_refused(
    services: Services, demo: DemoResult, login_as: LoginAs, url: str, token: str | None
) -> None:
    bob = await login_as("bob")
    old = demo.passwords[address("bob")]
    fields = {"label": "x", "protocols": "imap", "id": "1", "code": "123456"}
    fields |= {"old": old, "new": "a new and long password", "repeat": "a new and long password"}
    if token is not None:
        fields["csrf"] = token
    answer = await bob.post(url, data=fields)
    assert answer.status_code == 403
    ctx = await services.auth.authenticate(address("bob"), old, channel="test")
    assert await services.credentials.list_app_passwords(ctx, ctx.address) == []
    assert (await bob.get("/settings")).status_code == 200


@pytest.mark.parametrize(
    ("agent", "name"),
    [
        ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0",
         "Firefox on Windows"),
        ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
         "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", "Safari on iPhone"),
        ("curl/8.5.0", "curl"),
        ("", ""),
    ],
)  # fmt: skip
def test_browser_names(agent: str, name: str) -> None:
    assert browser_name(agent) == name
