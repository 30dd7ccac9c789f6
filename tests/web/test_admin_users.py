"""Admin console, users: who may do what (the scoping matrix), creating users one by one and
from CSV files, password and second-factor resets, administrators, and ending sessions; each
checked by what the browser gets and by what the store holds afterwards."""

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pyotp
import pytest

from securemail.core.context import AccessContext
from securemail.core.model import Organisation
from securemail.core.rights import Role
from securemail.services.demo import DEMO_DOMAIN, DEMO_ORG, DemoResult
from securemail.services.registry import Services
from securemail.web.app import create_app
from tests.web.conftest import csrf_of, log_in

OTHER_ORG = "Other Constabulary"
OTHER_DOMAIN = "other.example"
PASSWORD = "correct horse battery staple"
ROLES = ("service", "admin", "other", "dave", "alice")
BOB = f"bob@{DEMO_DOMAIN}"


@dataclass
class World:
    """The demo organisation, a second organisation B with its administrator, a service
    administrator, and a logged-in browser for each of them and for dave and alice."""

    services: Services
    system: AccessContext
    demo: DemoResult
    org_a: Organisation
    org_b: Organisation
    app: Any
    clients: list[httpx.AsyncClient]

    async def browser(self, address: str, password: str) -> httpx.AsyncClient:
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://testserver"
        )
        self.clients.append(client)
        answer = await log_in(client, address, password)
        assert answer.status_code == 303, answer.text
        return client

    async def as_role(self, role: str) -> httpx.AsyncClient:
        if role == "service":
            return await self.browser("ops@service.example", PASSWORD)
        if role == "other":
            return await self.browser(f"boss@{OTHER_DOMAIN}", PASSWORD)
        address = f"{role}@{DEMO_DOMAIN}"
        return await self.browser(address, self.demo.passwords[address])

    async def ctx(self, address: str, password: str | None = None) -> AccessContext:
        secret = password or self.demo.passwords[address]
        return await self.services.auth.authenticate(address, secret, channel="test")


@pytest.fixture
async def world(
    services: Services, system: AccessContext, demo: DemoResult
) -> AsyncIterator[World]:
    org_b = await services.directory.create_org(system, OTHER_ORG, OTHER_DOMAIN)
    await services.directory.create_user(
        system, f"boss@{OTHER_DOMAIN}", display_name="Boss", admin=True, password=PASSWORD
    )
    await services.accounts.create_service_admin(
        system, "ops@service.example", display_name="Operator", password=PASSWORD
    )
    orgs = await services.directory.list_orgs(system)
    org_a = next(o for o in orgs if o.name == DEMO_ORG)
    found = World(services, system, demo, org_a, org_b, create_app(services), [])
    yield found
    for client in found.clients:
        await client.aclose()


async def csrf(client: httpx.AsyncClient) -> str:
    """The session's CSRF token, from a page every logged-in user may open."""
    answer = await client.get("/settings")
    assert answer.status_code == 200
    return csrf_of(answer.text)


async def post(client: httpx.AsyncClient, url: str, **data: str) -> httpx.Response:
    return await client.post(url, data={"csrf": await csrf(client), **data})


async def snapshot(world: World) -> tuple[Any, ...]:
    """Everything a console action on users or sessions could change, as the operator sees it."""
    services, system = world.services, world.system
    accounts = await services.accounts.list_accounts(system)
    bob = await services.accounts.get_account(system, BOB)
    return (accounts, [s.id for s in bob[1]])


# --- the scoping matrix -------------------------------------------------------------------------

Action = Callable[[World, httpx.AsyncClient], Awaitable[httpx.Response]]


async def _list(w: World, c: httpx.AsyncClient) -> httpx.Response:
    return await c.get(f"/admin/users?org={w.org_a.id}")


async def _create(w: World, c: httpx.AsyncClient) -> httpx.Response:
    return await post(c, "/admin/users", address=f"newbie@{DEMO_DOMAIN}", display_name="New")


async def _import(w: World, c: httpx.AsyncClient) -> httpx.Response:
    csv = f"address,display_name\nimported@{DEMO_DOMAIN},Imported\n"
    return await c.post(
        f"/admin/users/import?org={w.org_a.id}",
        data={"csrf": await csrf(c)},
        files={"file": ("users.csv", csv.encode(), "text/csv")},
    )


async def _view(w: World, c: httpx.AsyncClient) -> httpx.Response:
    return await c.get(f"/admin/users/{BOB}")


def _act(action: str) -> Action:
    async def run(w: World, c: httpx.AsyncClient) -> httpx.Response:
        return await post(c, f"/admin/users/{BOB}", action=action)

    return run


async def _end_one(w: World, c: httpx.AsyncClient) -> httpx.Response:
    (_, sessions) = await w.services.accounts.get_account(w.system, BOB)
    return await post(c, f"/admin/users/{BOB}", action="end-session", id=str(sessions[0].id))


OK, CHANGED = 200, 303


def by_role(service: int, admin: int, other: int, dave: int, alice: int) -> dict[str, int]:
    return dict(zip(ROLES, (service, admin, other, dave, alice), strict=True))


# action: (changes the store when allowed, {role: expected status})
MATRIX: dict[str, tuple[Action, bool, dict[str, int]]] = {
    "list users": (_list, False, by_role(OK, OK, 404, 403, 404)),
    "create user": (_create, True, by_role(OK, OK, 400, 403, 404)),
    "import users": (_import, True, by_role(OK, OK, 404, 403, 404)),
    "view user": (_view, False, by_role(OK, OK, 404, 403, 404)),
    "disable": (_act("disable"), True, by_role(303, 303, 404, 403, 404)),
    "reset password": (_act("password"), True, by_role(OK, OK, 404, 403, 404)),
    "reset second factor": (_act("second-factor"), True, by_role(303, 303, 404, 404, 404)),
    "appoint admin": (_act("make-admin"), True, by_role(303, 303, 404, 403, 404)),
    "end all sessions": (_act("end-all"), True, by_role(303, 303, 404, 403, 404)),
    "end one session": (_end_one, True, by_role(303, 303, 404, 403, 404)),
}
CELLS = [(name, role) for name in MATRIX for role in ROLES]


@pytest.mark.parametrize(("action", "role"), CELLS, ids=[f"{a}-{r}" for a, r in CELLS])
async def test_scoping_matrix(world: World, action: str, role: str) -> None:
    # bob has a webmail session and a second factor, so every action has something to change
    await world.as_role("bob")
    bob = await world.ctx(BOB)
    secret = pyotp.random_base32()
    await world.services.credentials.confirm_totp(bob, secret, pyotp.TOTP(secret).now())
    client = await world.as_role(role)
    run, changes, expected = MATRIX[action]
    before = await snapshot(world)

    answer = await run(world, client)

    assert answer.status_code == expected[role], answer.text
    after = await snapshot(world)
    if answer.status_code in (OK, CHANGED) and changes:
        assert after != before, "the action was accepted but changed nothing"
    else:
        assert after == before, "a refused or read-only action changed the store"


# --- the users page --------------------------------------------------------------------------


async def test_the_list_shows_role_login_second_factor_and_sessions(world: World) -> None:
    await world.as_role("bob")
    bob = await world.ctx(BOB)
    secret = pyotp.random_base32()
    await world.services.credentials.confirm_totp(bob, secret, pyotp.TOTP(secret).now())
    admin = await world.as_role("admin")

    page = await admin.get("/admin/users")

    assert page.status_code == 200
    row = page.text.split(f'data-user="{BOB}"')[1].split("</tr>")[0]
    assert 'data-role="user"' in row
    assert 'data-second-factor="yes"' in row
    assert 'data-sessions="1"' in row
    assert "never" not in row  # bob has logged in
    assert f"boss@{OTHER_DOMAIN}" not in page.text  # another organisation's users stay hidden
    admin_row = page.text.split(f'data-user="admin@{DEMO_DOMAIN}"')[1].split("</tr>")[0]
    assert 'data-role="org_admin"' in admin_row


async def test_the_service_admin_sees_every_organisation(world: World) -> None:
    service = await world.as_role("service")
    page = await service.get("/admin/users")
    assert BOB in page.text and f"boss@{OTHER_DOMAIN}" in page.text
    only_b = await service.get(f"/admin/users?org={world.org_b.id}")
    assert BOB not in only_b.text and f"boss@{OTHER_DOMAIN}" in only_b.text


async def test_creating_a_user_shows_the_one_time_password_once(world: World) -> None:
    admin = await world.as_role("admin")
    address = f"frank@{DEMO_DOMAIN}"

    answer = await post(admin, "/admin/users", address=address, display_name="Frank", admin="1")

    assert answer.status_code == 200
    secret = answer.text.split("data-one-time-password>")[1].split("<")[0]
    assert len(secret) >= 12
    (account,) = [a for a in await world.services.accounts.list_accounts(world.system)
                  if a.user.address == address]  # fmt: skip
    assert account.user.role is Role.ORG_ADMIN and account.must_change_password
    again = await admin.get(f"/admin/users/{address}")
    assert secret not in again.text  # shown once
    frank = httpx.AsyncClient(transport=httpx.ASGITransport(app=world.app), base_url="http://t")
    world.clients.append(frank)
    login = await log_in(frank, address, secret)
    assert login.status_code == 303
    assert (await frank.get("/")).headers["location"] == "/settings/password"


async def test_a_chosen_password_is_not_shown_and_needs_no_change(world: World) -> None:
    admin = await world.as_role("admin")
    address = f"gina@{DEMO_DOMAIN}"
    answer = await post(admin, "/admin/users", address=address, display_name="", password=PASSWORD)
    assert answer.status_code == 200
    assert "data-one-time-password" not in answer.text
    ctx = await world.ctx(address, PASSWORD)
    assert ctx.role is Role.USER
    (account, _) = await world.services.accounts.get_account(world.system, address)
    assert account.user.display_name == "gina" and not account.must_change_password


@pytest.mark.parametrize(
    ("fields", "field", "reason"),
    [
        ({"address": "not an address"}, "address-error", "invalid address"),
        ({"address": BOB}, "address-error", "already in use"),
        ({"address": f"x@{OTHER_DOMAIN}"}, "address-error", "not a mail domain of your"),
        ({"address": f"x@{DEMO_DOMAIN}", "password": "short"}, "password-error", "at least"),
        ({"address": f"x@{DEMO_DOMAIN}", "display_name": "a\x01b"}, "name-error", "control"),
    ],
)
async def test_a_refused_user_is_explained_next_to_the_field(
    world: World, fields: dict[str, str], field: str, reason: str
) -> None:
    admin = await world.as_role("admin")
    before = await snapshot(world)

    answer = await post(admin, "/admin/users", **({"display_name": "X"} | fields))

    assert answer.status_code == 400
    assert f'id="{field}"' in answer.text
    assert reason in answer.text.split(f'id="{field}"')[1].split("</p>")[0]
    assert await snapshot(world) == before


# --- importing from CSV ------------------------------------------------------------------------


async def upload(client: httpx.AsyncClient, csv: str, url: str = "/admin/users/import") -> Any:
    return await client.post(
        url, data={"csrf": await csrf(client)},
        files={"file": ("users.csv", csv.encode(), "text/csv")},
    )  # fmt: skip


def report_rows(html: str) -> dict[int, tuple[str, str]]:
    """Row number -> (result, the rest of the row's text) from the result page."""
    rows = {}
    for chunk in html.split('<tr data-row="')[1:]:
        number, rest = chunk.split('"', 1)
        result = rest.split('data-result="')[1].split('"')[0]
        rows[int(number)] = (result, rest.split("</tr>")[0])
    return rows


async def addresses(world: World) -> set[str]:
    return {a.user.address for a in await world.services.accounts.list_accounts(world.system)}


async def test_import_of_good_rows_creates_every_user(world: World) -> None:
    admin = await world.as_role("admin")
    csv = (
        "address,display_name,role,password\r\n"
        f"h1@{DEMO_DOMAIN},Harry One,,\r\n"
        f"h2@{DEMO_DOMAIN},Harry Two,admin,{PASSWORD}\r\n"
        f'h3@{DEMO_DOMAIN},"Three, Harry",user,\r\n'
    )

    answer = await upload(admin, csv)

    assert answer.status_code == 200
    rows = report_rows(answer.text)
    assert {n: r for n, (r, _) in rows.items()} == {2: "created", 3: "created", 4: "created"}
    assert 'class="secret"' in rows[2][1] and 'class="secret"' not in rows[3][1]
    accounts = {
        a.user.address: a for a in await world.services.accounts.list_accounts(world.system)
    }
    assert accounts[f"h2@{DEMO_DOMAIN}"].user.role is Role.ORG_ADMIN
    assert accounts[f"h3@{DEMO_DOMAIN}"].user.display_name == "Three, Harry"
    assert accounts[f"h1@{DEMO_DOMAIN}"].must_change_password
    assert not accounts[f"h2@{DEMO_DOMAIN}"].must_change_password
    one_time = rows[2][1].split('class="secret">')[1].split("<")[0]
    assert (await world.ctx(f"h1@{DEMO_DOMAIN}", one_time)).address == f"h1@{DEMO_DOMAIN}"
    mailboxes = await world.services.mailboxes.list_mailboxes(
        await world.ctx(f"h2@{DEMO_DOMAIN}", PASSWORD)
    )
    assert [m.address for m in mailboxes] == [f"h2@{DEMO_DOMAIN}"]


BAD_ROWS = {
    2: ("not-an-address,Bad,,", "invalid address"),
    3: (f"alice@{DEMO_DOMAIN},Alice Again,,", "already in use"),
    4: (f"boss2@{OTHER_DOMAIN},Elsewhere,,", "not a mail domain of"),
    5: (f"shorty@{DEMO_DOMAIN},Shorty,user,abc", "at least"),
    6: (f"chief@{DEMO_DOMAIN},Chief,superuser,", "unknown role"),
    7: (f"extra@{DEMO_DOMAIN},Extra,user,,surplus", "expected 4 fields"),
}


async def test_import_of_bad_rows_creates_nothing_and_says_why(world: World) -> None:
    admin = await world.as_role("admin")
    before = await snapshot(world)
    lines = ["address,display_name,role,password"] + [text for text, _ in BAD_ROWS.values()]

    answer = await upload(admin, "\n".join(lines) + "\n")

    assert answer.status_code == 200
    rows = report_rows(answer.text)
    assert set(rows) == set(BAD_ROWS)
    for number, (_, reason) in BAD_ROWS.items():
        result, text = rows[number]
        assert result == "refused", number
        assert reason in text, (number, text)
    assert "0 created, 6 refused" in answer.text
    assert await snapshot(world) == before


async def test_import_of_mixed_rows_creates_the_good_ones_only(world: World) -> None:
    admin = await world.as_role("admin")
    before = await addresses(world)
    csv = (
        "address,display_name,role,password\n"
        f"ok1@{DEMO_DOMAIN},Ok One,,\n"
        f"bad@{OTHER_DOMAIN},Elsewhere,,\n"
        f"ok2@{DEMO_DOMAIN},Ok Two,admin,\n"
        f"ok1@{DEMO_DOMAIN},Ok One Again,,\n"  # a duplicate within the file
        f"weak@{DEMO_DOMAIN},Weak,user,abc\n"
        f"ok3@{DEMO_DOMAIN},Ok Three,user,{PASSWORD}\n"
    )

    answer = await upload(admin, csv)

    assert answer.status_code == 200
    results = {n: r for n, (r, _) in report_rows(answer.text).items()}
    assert results == {2: "created", 3: "refused", 4: "created", 5: "refused", 6: "refused",
                       7: "created"}  # fmt: skip
    assert "already in use" in report_rows(answer.text)[5][1]
    created = await addresses(world) - before
    assert created == {f"ok1@{DEMO_DOMAIN}", f"ok2@{DEMO_DOMAIN}", f"ok3@{DEMO_DOMAIN}"}
    (ok1, _) = await world.services.accounts.get_account(world.system, f"ok1@{DEMO_DOMAIN}")
    assert ok1.user.display_name == "Ok One"  # the duplicate row changed nothing
    # nothing half-created: no personal mailbox without its user, none for refused rows
    for address in (f"bad@{OTHER_DOMAIN}", f"weak@{DEMO_DOMAIN}"):
        answer = await admin.get(f"/admin/users/{address}")
        assert answer.status_code in (400, 404)
    boss = await world.ctx(f"boss@{OTHER_DOMAIN}", PASSWORD)
    in_b = {u.address for u in await world.services.directory.list_users(boss)}
    assert f"bad@{OTHER_DOMAIN}" not in in_b


@pytest.mark.parametrize(
    ("csv", "reason"),
    [
        (f"alice@{DEMO_DOMAIN},Alice\n", "header"),
        ("address,display_name\n", "no rows"),
        ("address,display_name,colour\nx@polres.co.uk,X,red\n", "unknown or repeated columns"),
        ("address,display_name\n" + "".join(f"u{i}@{DEMO_DOMAIN},U\n" for i in range(5001)),
         "at most 5000 rows"),
    ],
)  # fmt: skip
async def test_a_malformed_file_is_refused_whole(world: World, csv: str, reason: str) -> None:
    admin = await world.as_role("admin")
    before = await snapshot(world)
    answer = await upload(admin, csv)
    assert answer.status_code == 400
    assert reason in answer.text.split('id="import-error"')[1]
    assert await snapshot(world) == before


async def test_a_file_over_one_megabyte_is_refused(world: World) -> None:
    admin = await world.as_role("admin")
    before = await snapshot(world)
    csv = "address,display_name\n" + f"big@{DEMO_DOMAIN}," + "x" * (1024 * 1024) + "\n"
    answer = await upload(admin, csv)
    assert answer.status_code == 413
    assert "larger than 1024 KiB" in answer.text
    assert await snapshot(world) == before


async def test_the_import_form_has_a_progress_bar_and_works_without_script(world: World) -> None:
    admin = await world.as_role("admin")
    page = await admin.get("/admin/users/import")
    assert page.status_code == 200
    form = page.text.split("<form")[-1]
    assert 'enctype="multipart/form-data"' in form and 'method="post"' in form
    assert "<progress" in form and "data-upload-progress" in form
    assert '<script src="/static/admin.js"' in page.text
    script = await admin.get("/static/admin.js")
    assert script.status_code == 200 and "upload.addEventListener" in script.text


# --- resets, administrators, sessions -----------------------------------------------------------


async def test_a_password_reset_forces_a_change_at_the_next_login(world: World) -> None:
    admin = await world.as_role("admin")

    answer = await post(admin, f"/admin/users/{BOB}", action="password")

    assert answer.status_code == 200
    secret = answer.text.split("data-one-time-password>")[1].split("<")[0]
    bob = httpx.AsyncClient(transport=httpx.ASGITransport(app=world.app), base_url="http://t")
    world.clients.append(bob)
    old = await log_in(bob, BOB, world.demo.passwords[BOB])
    assert old.status_code == 401  # the old password no longer works
    login = await log_in(bob, BOB, secret)
    assert login.status_code == 303 and login.headers["location"] == "/"
    home = await bob.get("/")
    assert home.status_code == 303 and home.headers["location"] == "/settings/password"
    inbox = await bob.get("/settings/sessions")
    assert inbox.headers["location"] == "/settings/password"


async def test_a_second_factor_reset_lets_the_user_in_with_the_password_alone(
    world: World,
) -> None:
    bob = await world.ctx(BOB)
    secret = pyotp.random_base32()
    await world.services.credentials.confirm_totp(bob, secret, pyotp.TOTP(secret).now())
    admin = await world.as_role("admin")

    answer = await post(admin, f"/admin/users/{BOB}", action="second-factor")

    assert answer.status_code == 303
    (account, _) = await world.services.accounts.get_account(world.system, BOB)
    assert not account.second_factor
    bob_client = await world.as_role("bob")  # asserts a direct 303 login
    assert (await bob_client.get("/settings")).status_code == 200


async def test_disable_and_enable(world: World) -> None:
    bob_client = await world.as_role("bob")
    admin = await world.as_role("admin")

    assert (await post(admin, f"/admin/users/{BOB}", action="disable")).status_code == 303
    (account, _) = await world.services.accounts.get_account(world.system, BOB)
    assert account.user.disabled
    assert (await bob_client.get("/")).headers["location"] == "/login"

    assert (await post(admin, f"/admin/users/{BOB}", action="enable")).status_code == 303
    (account, _) = await world.services.accounts.get_account(world.system, BOB)
    assert not account.user.disabled
    me = await post(admin, f"/admin/users/admin@{DEMO_DOMAIN}", action="disable")
    assert me.status_code == 400 and "your own account" in me.text


async def test_the_last_administrator_cannot_step_down(world: World) -> None:
    admin = await world.as_role("admin")
    me = f"admin@{DEMO_DOMAIN}"

    refused = await post(admin, f"/admin/users/{me}", action="remove-admin")

    assert refused.status_code == 400 and "last administrator" in refused.text
    assert (await world.ctx(me)).role is Role.ORG_ADMIN
    assert (await post(admin, f"/admin/users/{BOB}", action="make-admin")).status_code == 303
    assert (await world.ctx(BOB)).role is Role.ORG_ADMIN
    stepped = await post(admin, f"/admin/users/{me}", action="remove-admin")
    assert stepped.status_code == 303
    assert (await world.ctx(me)).role is Role.USER
    assert (await admin.get("/admin/users")).status_code == 404  # no console left for them
    entries = await world.services.audit.list_entries(world.system, limit=50)
    roles = [(e.target, e.detail) for e in entries if e.action == "user.role"]
    assert len(roles) == 2 and all(e.org_id == world.org_a.id for e in entries
                                   if e.action == "user.role")  # fmt: skip


async def test_ending_every_session_sends_the_user_to_login(world: World) -> None:
    bob_one = await world.as_role("bob")
    bob_two = await world.as_role("bob")
    admin = await world.as_role("admin")
    page = await admin.get(f"/admin/users/{BOB}")
    assert page.text.count('data-session-id="') == 2

    answer = await post(admin, f"/admin/users/{BOB}", action="end-all")

    assert answer.status_code == 303
    for client in (bob_one, bob_two):
        again = await client.get("/")
        assert again.status_code == 303 and again.headers["location"] == "/login"
    entries = await world.services.audit.list_entries(world.system, limit=50)
    ended = [e for e in entries if e.action == "session.end" and e.target == BOB]
    assert ended and "all=2" in ended[0].detail and ended[0].org_id == world.org_a.id


async def test_ending_one_session_leaves_the_others(world: World) -> None:
    bob_one = await world.as_role("bob")
    bob_two = await world.as_role("bob")
    admin = await world.as_role("admin")
    (_, sessions) = await world.services.accounts.get_account(world.system, BOB)
    newest = sessions[0].id  # bob_two's: the most recent first
    assert len(sessions) == 2

    answer = await post(admin, f"/admin/users/{BOB}", action="end-session", id=str(newest))

    assert answer.status_code == 303
    (_, left) = await world.services.accounts.get_account(world.system, BOB)
    assert [s.id for s in left] == [sessions[1].id]
    outcomes = {(await c.get("/settings")).status_code for c in (bob_one, bob_two)}
    assert outcomes == {200, 303}
    other = await post(admin, f"/admin/users/{BOB}", action="end-session", id="999999")
    assert other.status_code == 404
