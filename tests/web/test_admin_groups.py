"""The admin console's group mailboxes, as each kind of user meets them: the service
administrator, this organisation's administrator, another organisation's administrator, a
Manage holder (dave), plain users with (alice) and without (erin) rights on the group. Every
refusal is checked by its status and by the store being exactly as it was."""

import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import text

from securemail.core.context import AccessContext
from securemail.core.errors import NotFound
from securemail.core.rights import ALL_RIGHTS, Right, Role
from securemail.services.demo import DEMO_DOMAIN, DEMO_GROUP, DEMO_GROUP_NAME, DemoResult
from securemail.services.registry import Services
from securemail.store.repos import directory as dir_repo
from securemail.web.app import create_app
from tests.web.conftest import LoginAs, csrf_of, log_in

GROUP = DEMO_GROUP.lower()  # the stored (canonical) address
SPARE = "gm.spare@polres.co.uk"  # an empty group on which dave holds every right
OTHER_GROUP = "gm.bteam@orgb.example"
SERVICE_ADMIN = "root@service.example"
OTHER_ADMIN = "boss@orgb.example"
PASSWORD = "correct horse battery"
ACTORS = ("service", "admin", "other", "dave", "alice", "erin")


def url(address: str, tail: str = "") -> str:
    return f"/admin/groups/{quote(address, safe='')}{tail}"


@dataclass
class Cast:
    """Logged-in clients (made on first use) per actor, with their CSRF tokens, over one store."""

    services: Services
    system: AccessContext
    passwords: dict[str, str]  # of the demo users
    login_as: LoginAs
    app: Any
    clients: dict[str, httpx.AsyncClient] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    own: list[httpx.AsyncClient] = field(default_factory=list)

    async def client(self, who: str) -> httpx.AsyncClient:
        if who not in self.clients:
            if who in ("service", "other"):
                address = SERVICE_ADMIN if who == "service" else OTHER_ADMIN
                transport = httpx.ASGITransport(app=self.app)
                client = httpx.AsyncClient(transport=transport, base_url="http://t")
                self.own.append(client)
                answer = await log_in(client, address, PASSWORD)
                assert answer.status_code == 303, answer.text
            else:
                client = await self.login_as(who)
            self.clients[who] = client
            self.tokens[who] = csrf_of((await client.get("/settings")).text)
        return self.clients[who]

    async def get(self, who: str, path: str) -> httpx.Response:
        return await (await self.client(who)).get(path)

    async def post(
        self, who: str, path: str, data: Mapping[str, str | Sequence[str]] | None = None
    ) -> httpx.Response:
        client = await self.client(who)
        return await client.post(path, data={"csrf": self.tokens[who], **(data or {})})

    async def demo_ctx(self, name: str) -> AccessContext:
        address = f"{name}@{DEMO_DOMAIN}"
        return await self.services.auth.authenticate(
            address, self.passwords[address], channel="test"
        )


async def make_service_admin(services: Services) -> None:
    """A service administrator's login, straight into the store (no organisation)."""
    password_hash = services.deps.hasher.hash(PASSWORD)
    async with services.deps.db.write() as conn:
        await dir_repo.insert_user(
            conn, org_id=None, address=SERVICE_ADMIN, display_name="Root",
            role=Role.SERVICE_ADMIN, password_hash=password_hash, must_change_password=False,
        )  # fmt: skip


@pytest.fixture
async def cast(
    services: Services, system: AccessContext, demo: DemoResult, login_as: LoginAs
) -> AsyncIterator[Cast]:
    await services.directory.create_group(system, SPARE, "Spare team")
    await services.sharing.grant(system, SPARE, f"dave@{DEMO_DOMAIN}", ALL_RIGHTS)
    await services.directory.create_org(system, "Org B", "orgb.example")
    await services.directory.create_user(system, OTHER_ADMIN, admin=True, password=PASSWORD)
    await services.directory.create_group(system, OTHER_GROUP, "B team")
    await make_service_admin(services)
    made = Cast(services, system, demo.passwords, login_as, create_app(services))
    yield made
    for client in made.own:
        await client.aclose()


async def snapshot(services: Services, system: AccessContext) -> object:
    """Every group (name, disabled, grants) and the audit head: what a refusal must not touch."""
    groups = {}
    for row in await services.groups.list_groups(system):
        grants = await services.sharing.list_grants(system, row.mailbox.address)
        groups[row.mailbox.address] = (
            row.mailbox.display_name,
            row.mailbox.disabled,
            {g.user_address: g.rights for g in grants},
        )
    return groups, await services.audit.head(system)


async def rights_of(cast: Cast, group: str, name: str) -> Right:
    grants = await cast.services.sharing.list_grants(cast.system, group)
    address = f"{name}@{DEMO_DOMAIN}"
    return next((g.rights for g in grants if g.user_address == address), Right.NONE)


async def group_of(cast: Cast, address: str) -> tuple[str, bool] | None:
    try:
        found = await cast.services.groups.get_group(cast.system, address)
    except NotFound:
        return None
    return found.mailbox.display_name, found.mailbox.disabled


# --- the matrix -----------------------------------------------------------------------------

Action = Callable[[Cast, str], Awaitable[httpx.Response]]
Check = Callable[[Cast, str, httpx.Response], Awaitable[None]]


async def _list(cast: Cast, who: str) -> httpx.Response:
    return await cast.get(who, "/admin/groups")


async def _list_ok(cast: Cast, who: str, answer: httpx.Response) -> None:
    listed = re.findall(r'<tr data-group="([^"]+)"', answer.text)
    if who == "other":
        assert listed == [OTHER_GROUP]
    elif who == "service":
        assert listed == [OTHER_GROUP, SPARE, GROUP]
    else:
        assert listed == [SPARE, GROUP]


async def _create(cast: Cast, who: str) -> httpx.Response:
    data = {"address": "GM.New@polres.co.uk", "display_name": "New team"}
    return await cast.post(who, "/admin/groups", data)


async def _create_ok(cast: Cast, who: str, answer: httpx.Response) -> None:
    assert answer.headers["location"] == url("gm.new@polres.co.uk", "?done=created")
    assert await group_of(cast, "gm.new@polres.co.uk") == ("New team", False)


async def _rename(cast: Cast, who: str) -> httpx.Response:
    return await cast.post(who, url(GROUP, "/rename"), {"display_name": "Renamed team"})


async def _rename_ok(cast: Cast, who: str, answer: httpx.Response) -> None:
    assert await group_of(cast, GROUP) == ("Renamed team", False)


async def _disable(cast: Cast, who: str) -> httpx.Response:
    return await cast.post(who, url(GROUP, "/disable"), {"disabled": "1"})


async def _disable_ok(cast: Cast, who: str, answer: httpx.Response) -> None:
    assert await group_of(cast, GROUP) == (DEMO_GROUP_NAME, True)


async def _delete(cast: Cast, who: str) -> httpx.Response:
    return await cast.post(who, url(SPARE, "/delete"), {"confirm": "yes"})


async def _delete_ok(cast: Cast, who: str, answer: httpx.Response) -> None:
    assert answer.headers["location"] == "/admin/groups?done=deleted"
    assert await group_of(cast, SPARE) is None


async def _members(cast: Cast, who: str) -> httpx.Response:
    return await cast.get(who, url(GROUP))


async def _members_ok(cast: Cast, who: str, answer: httpx.Response) -> None:
    rows = dict(re.findall(r'<tr data-member="([^"]+)"[^>]*>(.*?)</tr>', answer.text, re.S))
    assert set(rows) == {f"{n}@{DEMO_DOMAIN}" for n in ("alice", "bob", "carol", "dave")}
    ticked = re.findall(r'value="(\w+)"[^>]*checked', rows[f"bob@{DEMO_DOMAIN}"])
    assert ticked == ["read", "write"]


async def _grant(cast: Cast, who: str) -> httpx.Response:
    data = {"user": f"erin@{DEMO_DOMAIN}", "row": "__new__", "rights": ["read"]}
    return await cast.post(who, url(GROUP, "/members"), data)


async def _grant_ok(cast: Cast, who: str, answer: httpx.Response) -> None:
    assert await rights_of(cast, GROUP, "erin") == Right.READ


async def _revoke(cast: Cast, who: str) -> httpx.Response:
    return await cast.post(who, url(GROUP, "/members"), {"user": f"alice@{DEMO_DOMAIN}"})


async def _revoke_ok(cast: Cast, who: str, answer: httpx.Response) -> None:
    assert await rights_of(cast, GROUP, "alice") == Right.NONE


def outcome(statuses: str) -> dict[str, int]:
    """The status each actor gets, in the order of ACTORS."""
    return dict(zip(ACTORS, map(int, statuses.split()), strict=True))


ACTIONS: dict[str, tuple[Action, Check, dict[str, int]]] = {
    # action: (request, check on success, status per actor; 303/200 are successes)
    #                                      service admin other dave alice erin
    "list": (_list, _list_ok, outcome("200 200 200 200 404 404")),
    "create": (_create, _create_ok, outcome("303 303 404 403 404 404")),
    "rename": (_rename, _rename_ok, outcome("303 303 404 403 404 404")),
    "disable": (_disable, _disable_ok, outcome("303 303 404 403 404 404")),
    "delete": (_delete, _delete_ok, outcome("303 303 404 403 404 404")),
    "members": (_members, _members_ok, outcome("200 200 404 200 404 404")),
    "grant": (_grant, _grant_ok, outcome("303 303 404 303 404 404")),
    "revoke": (_revoke, _revoke_ok, outcome("303 303 404 303 404 404")),
}  # fmt: skip


@pytest.mark.parametrize("who", ACTORS)
@pytest.mark.parametrize("action", list(ACTIONS))
async def test_console_matrix(cast: Cast, action: str, who: str) -> None:
    request, check, expected = ACTIONS[action]
    await cast.client(who)  # logging in is audited too: before the snapshot
    before = await snapshot(cast.services, cast.system)
    answer = await request(cast, who)
    assert answer.status_code == expected[who], (action, who, answer.text[:500])
    if answer.status_code in (200, 303):
        await check(cast, who, answer)
    else:
        assert await snapshot(cast.services, cast.system) == before
        # A 404 tells nothing an unknown address would not: no name, no members.
        assert DEMO_GROUP_NAME not in answer.text and "Spare team" not in answer.text
        assert f"bob@{DEMO_DOMAIN}" not in answer.text


async def test_other_admin_lists_only_their_own_groups(cast: Cast) -> None:
    page = (await cast.get("other", "/admin/groups")).text
    assert OTHER_GROUP in page and "polres" not in page.lower()
    everything = (await cast.get("service", "/admin/groups")).text
    assert OTHER_GROUP in everything and GROUP in everything and SPARE in everything


async def test_manage_holder_lists_only_managed_groups_without_admin_forms(cast: Cast) -> None:
    await cast.services.directory.create_group(cast.system, "GM.Other@polres.co.uk", "Other")
    page = (await cast.get("dave", "/admin/groups")).text
    listed = re.findall(r'<tr data-group="([^"]+)"', page)
    assert listed == [SPARE, GROUP]
    assert 'action="/admin/groups"' not in page  # no create form
    group_page = (await cast.get("dave", url(GROUP))).text
    assert "/rename" not in group_page and "/delete" not in group_page
    assert "/disable" not in group_page
    admin_page = (await cast.get("admin", url(GROUP))).text
    assert "/rename" in admin_page and "/delete" in admin_page and "/disable" in admin_page


async def test_member_counts(cast: Cast) -> None:
    page = (await cast.get("admin", "/admin/groups")).text
    counts = dict(re.findall(r'<tr data-group="([^"]+)">.*?class="members">(\d+)<', page, re.S))
    assert counts == {GROUP: "4", SPARE: "1"}


# --- delete ---------------------------------------------------------------------------------


async def test_delete_refused_while_the_group_holds_mail(cast: Cast) -> None:
    await cast.client("admin")
    before = await snapshot(cast.services, cast.system)
    answer = await cast.post("admin", url(GROUP, "/delete"), {"confirm": "yes"})
    assert answer.status_code == 409
    assert "the mailbox still holds 1 message: export or empty it first" in answer.text
    assert await snapshot(cast.services, cast.system) == before


async def test_delete_needs_the_confirmation_box(cast: Cast) -> None:
    await cast.client("admin")
    before = await snapshot(cast.services, cast.system)
    answer = await cast.post("admin", url(SPARE, "/delete"))
    assert answer.status_code == 400 and "tick the box" in answer.text
    assert await snapshot(cast.services, cast.system) == before


async def count_rows(services: Services, table: str, mailbox_id: int) -> int:
    async with services.deps.db.read() as conn:
        sql = text(f"SELECT count(*) FROM {table} WHERE mailbox_id = :m")
        return int(await conn.scalar(sql, {"m": mailbox_id}) or 0)


async def test_delete_of_an_empty_group_removes_everything_and_is_audited(cast: Cast) -> None:
    spare = await cast.services.groups.get_group(cast.system, SPARE)
    dave = await cast.demo_ctx("dave")
    await cast.services.mailboxes.set_subscription(dave, spare.mailbox.id, "INBOX", True)
    assert await count_rows(cast.services, "imap_subscriptions", spare.mailbox.id) == 1
    assert await count_rows(cast.services, "folders", spare.mailbox.id) > 0
    answer = await cast.post("admin", url(SPARE, "/delete"), {"confirm": "yes"})
    assert answer.status_code == 303
    for table in ("folders", "grants", "imap_subscriptions", "mailboxes"):
        column = "id" if table == "mailboxes" else "mailbox_id"
        async with cast.services.deps.db.read() as conn:
            sql = text(f"SELECT count(*) FROM {table} WHERE {column} = :m")
            assert await conn.scalar(sql, {"m": spare.mailbox.id}) == 0, table
    assert SPARE not in [m.address for m in await cast.services.mailboxes.list_mailboxes(dave)]
    [entry] = (await cast.services.audit.query(cast.system, action="group.delete")).entries
    assert (entry.actor, entry.mailbox, entry.org_id) == (
        f"admin@{DEMO_DOMAIN}", SPARE, spare.mailbox.org_id,
    )  # fmt: skip
    # The address is free again.
    await cast.services.directory.create_group(cast.system, SPARE, "Spare again")


# --- rename and disable ---------------------------------------------------------------------


async def test_rename_refuses_bad_names_next_to_the_field(cast: Cast) -> None:
    await cast.client("admin")
    before = await snapshot(cast.services, cast.system)
    for name in ("   ", "x" * 201, "bad\x07name"):
        answer = await cast.post("admin", url(GROUP, "/rename"), {"display_name": name})
        assert answer.status_code == 400
        assert 'id="rename-error"' in answer.text
    assert await snapshot(cast.services, cast.system) == before


async def test_disabled_group_receives_no_mail_and_nobody_opens_it(cast: Cast) -> None:
    alice = await cast.client("alice")
    box = await cast.services.groups.get_group(cast.system, GROUP)
    assert (await alice.get(f"/mail/{box.mailbox.id}")).status_code in (200, 303)
    assert (await cast.post("admin", url(GROUP, "/disable"), {"disabled": "1"})).status_code == 303
    assert (await alice.get(f"/mail/{box.mailbox.id}")).status_code == 404
    raw = b"From: x@example.org\r\nSubject: after\r\n\r\nhello\r\n"
    result = await cast.services.delivery.deliver(cast.system, raw, [DEMO_GROUP])
    assert not result.message_ids and result.unknown == (GROUP,)
    page = (await cast.get("admin", url(GROUP))).text
    assert "disabled: receives no mail" in page
    assert (await cast.post("admin", url(GROUP, "/disable"), {"disabled": "0"})).status_code == 303
    assert (await alice.get(f"/mail/{box.mailbox.id}")).status_code in (200, 303)
    actions = [e.action for e in (await cast.services.audit.query(cast.system)).entries]
    assert actions[:2] == ["group.enable", "group.disable"]


# --- the members table ----------------------------------------------------------------------


async def test_grants_round_trip_through_the_table(cast: Cast) -> None:
    erin = await cast.demo_ctx("erin")
    erin_client = await cast.client("erin")
    box = await cast.services.groups.get_group(cast.system, GROUP)
    assert (await erin_client.get(f"/mail/{box.mailbox.id}")).status_code == 404
    answer = await _grant(cast, "admin")
    assert answer.status_code == 303
    assert await rights_of(cast, GROUP, "erin") == Right.READ
    page = (await erin_client.get(f"/mail/{box.mailbox.id}")).status_code
    assert page in (200, 303)
    home = await erin_client.get("/", follow_redirects=True)
    assert DEMO_GROUP_NAME in home.text
    assert GROUP in [m.address for m in await cast.services.mailboxes.list_mailboxes(erin)]
    # Add write, then take everything.
    data = {"user": f"erin@{DEMO_DOMAIN}", "rights": ["read", "write"]}
    assert (await cast.post("admin", url(GROUP, "/members"), data)).status_code == 303
    assert await rights_of(cast, GROUP, "erin") == Right.READ | Right.WRITE
    table = (await cast.get("admin", url(GROUP))).text
    row = re.search(rf'<tr data-member="erin@{DEMO_DOMAIN}".*?</tr>', table, re.S)
    assert row and re.findall(r'value="(\w+)"[^>]*checked', row.group(0)) == ["read", "write"]
    answer = await cast.post("admin", url(GROUP, "/members"), {"user": f"erin@{DEMO_DOMAIN}"})
    assert answer.status_code == 303
    assert await rights_of(cast, GROUP, "erin") == Right.NONE
    assert (await erin_client.get(f"/mail/{box.mailbox.id}")).status_code == 404
    home = await erin_client.get("/", follow_redirects=True)
    assert DEMO_GROUP_NAME not in home.text
    assert GROUP not in [m.address for m in await cast.services.mailboxes.list_mailboxes(erin)]


@pytest.mark.parametrize(
    ("who", "name", "rights", "status", "message"),
    [
        # carol holds read,mail,manage: she may not hand on write
        ("carol", "erin", ["read", "write"], 403, "rights you hold yourself"),
        # a Manage holder never changes their own rights
        ("dave", "dave", ["read"], 403, "your own rights"),
        ("admin", "erin", ["write"], 400, "every right needs read"),
        ("admin", "nobody", ["read"], 400, "no user nobody@polres.co.uk"),
        ("admin", "", ["read"], 400, "choose a user"),
        ("admin", "erin", [], 400, "tick at least Read"),
    ],
)
async def test_refusals_are_shown_next_to_the_row(
    cast: Cast, who: str, name: str, rights: list[str], status: int, message: str
) -> None:
    await cast.services.sharing.grant(cast.system, GROUP, f"carol@{DEMO_DOMAIN}", Right.MANAGE)
    user = f"{name}@{DEMO_DOMAIN}" if name else ""
    existing = user in {
        g.user_address for g in await cast.services.sharing.list_grants(cast.system, GROUP)
    }
    row = user if existing else "__new__"
    await cast.client(who)
    before = await snapshot(cast.services, cast.system)
    answer = await cast.post(
        who, url(GROUP, "/members"), {"user": user, "row": row, "rights": rights}
    )
    assert answer.status_code == status, answer.text[:400]
    assert await snapshot(cast.services, cast.system) == before
    refused = re.search(r'<tr [^>]*class="[^"]*refused[^"]*".*?</tr>', answer.text, re.S)
    assert refused and message in refused.group(0)


async def test_the_user_picker_offers_only_this_organisations_non_members(cast: Cast) -> None:
    page = (await cast.get("admin", url(GROUP))).text
    picker = re.search(r'<select id="new-member".*?</select>', page, re.S)
    assert picker
    offered = re.findall(r'<option value="([^"]+)"', picker.group(0))
    assert offered == [f"admin@{DEMO_DOMAIN}", f"erin@{DEMO_DOMAIN}"]
    answer = await cast.post(
        "admin", url(GROUP, "/members"), {"user": OTHER_ADMIN, "row": "__new__", "rights": ["read"]}
    )
    assert answer.status_code == 400 and "no user boss@orgb.example" in answer.text


async def test_create_refusals_are_shown_next_to_the_field(cast: Cast) -> None:
    await cast.client("admin")
    before = await snapshot(cast.services, cast.system)
    for address, message in (
        ("not an address", "address"),
        (DEMO_GROUP, "already in use"),
        (f"bob@{DEMO_DOMAIN}", "already in use"),
        ("GM.X@nowhere.example", "does not belong"),
    ):
        answer = await cast.post(
            "admin", "/admin/groups", {"address": address, "display_name": "X"}
        )
        assert answer.status_code == 400, address
        error = re.search(r'<p id="create-error"[^>]*>(.*?)</p>', answer.text, re.S)
        assert error and message in error.group(1), (address, error and error.group(1))
    assert await snapshot(cast.services, cast.system) == before


async def test_forms_without_the_csrf_token_change_nothing(cast: Cast) -> None:
    client = await cast.client("admin")
    before = await snapshot(cast.services, cast.system)
    answer = await client.post(url(GROUP, "/rename"), data={"display_name": "Hijacked"})
    assert answer.status_code == 403
    answer = await client.post(url(SPARE, "/delete"), data={"confirm": "yes", "csrf": "x"})
    assert answer.status_code == 403
    assert await snapshot(cast.services, cast.system) == before


async def test_every_change_is_audited_with_the_group_and_its_organisation(cast: Cast) -> None:
    org_id = (await cast.services.groups.get_group(cast.system, GROUP)).mailbox.org_id
    await cast.client("admin"), await cast.client("dave")  # logging in is audited too
    await cast.post("admin", url(GROUP, "/rename"), {"display_name": "Renamed"})
    await cast.post("admin", url(GROUP, "/disable"), {"disabled": "1"})
    await cast.post("admin", url(GROUP, "/disable"), {"disabled": "0"})
    await _grant(cast, "dave")
    await _revoke(cast, "dave")
    entries = (await cast.services.audit.query(cast.system, limit=5)).entries
    assert [e.action for e in entries] == [
        "revoke", "grant", "group.enable", "group.disable", "group.rename",
    ]  # fmt: skip
    assert {(e.mailbox, e.org_id) for e in entries} == {(GROUP, org_id)}
    assert [e.actor.split("@")[0] for e in entries] == ["dave", "dave", "admin", "admin", "admin"]
    assert entries[-1].target == "Renamed" and DEMO_GROUP_NAME in entries[-1].detail


async def test_manage_holder_edits_a_row_holding_rights_they_lack(cast: Cast) -> None:
    """carol (read, mail, manage) adds mail to bob (read, write): bob keeps write, which
    carol could not have handed on herself; taking bob's write is allowed to her too."""
    await cast.services.sharing.grant(cast.system, GROUP, f"carol@{DEMO_DOMAIN}", Right.MANAGE)
    bob = f"bob@{DEMO_DOMAIN}"
    answer = await cast.post(
        "carol", url(GROUP, "/members"), {"user": bob, "rights": ["read", "write", "mail"]}
    )
    assert answer.status_code == 303, answer.text[:400]
    assert await rights_of(cast, GROUP, "bob") == Right.READ | Right.WRITE | Right.MAIL
    answer = await cast.post("carol", url(GROUP, "/members"), {"user": bob, "rights": ["read"]})
    assert answer.status_code == 303
    assert await rights_of(cast, GROUP, "bob") == Right.READ
