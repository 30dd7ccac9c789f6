"""Admin console, policy and organisations: who may see and change them (the scoping matrix),
the policy form and its refusals, its effect on users, the TLS-required list, and the
service administrator's organisations page."""

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

import tests.web.test_admin_users as users_tests
from securemail.core.rights import Role
from securemail.services.demo import DEMO_DOMAIN
from tests.web.test_admin_users import BOB, OTHER_DOMAIN, PASSWORD, ROLES, World, post

world = users_tests.world  # the same world: demo org A, org B and its admin, service admin


async def snapshot(w: World) -> tuple[Any, ...]:
    """Everything a policy or organisation action could change, as the operator sees it."""
    services, system = w.services, w.system
    return (
        await services.org_policy.get(system, w.org_a.id),
        await services.policy.list_tls_required(system, w.org_a.name),
        await services.accounts.list_orgs(system),
        [(a.user.address, a.user.role) for a in await services.accounts.list_accounts(system)],
    )


# --- the scoping matrix -------------------------------------------------------------------------

Action = Callable[[World, httpx.AsyncClient], Awaitable[httpx.Response]]


async def _policy_get(w: World, c: httpx.AsyncClient) -> httpx.Response:
    return await c.get(f"/admin/policy?org={w.org_a.id}")


async def _policy_set(w: World, c: httpx.AsyncClient) -> httpx.Response:
    fields = {"allowlist": "partner.example", "size": "", "idle": "45", "password": ""}
    return await post(c, f"/admin/policy?org={w.org_a.id}", **fields)


async def _tls_add(w: World, c: httpx.AsyncClient) -> httpx.Response:
    url = f"/admin/policy/tls?org={w.org_a.id}"
    return await post(c, url, action="add", domain="secure.example")


async def _tls_remove(w: World, c: httpx.AsyncClient) -> httpx.Response:
    url = f"/admin/policy/tls?org={w.org_a.id}"
    return await post(c, url, action="remove", domain="already.example")


async def _orgs_list(w: World, c: httpx.AsyncClient) -> httpx.Response:
    return await c.get("/admin/orgs")


async def _orgs_create(w: World, c: httpx.AsyncClient) -> httpx.Response:
    return await post(c, "/admin/orgs", name="Third Force", domain="third.example")


async def _orgs_domain(w: World, c: httpx.AsyncClient) -> httpx.Response:
    return await post(c, f"/admin/orgs/{w.org_a.id}", action="domain", value="polres.example")


async def _orgs_appoint(w: World, c: httpx.AsyncClient) -> httpx.Response:
    return await post(c, f"/admin/orgs/{w.org_a.id}", action="admin", value=BOB)


def by_role(service: int, admin: int, other: int, dave: int, alice: int) -> dict[str, int]:
    return dict(zip(ROLES, (service, admin, other, dave, alice), strict=True))


# action: (changes the store when allowed, {role: expected status})
MATRIX: dict[str, tuple[Action, bool, dict[str, int]]] = {
    "policy get": (_policy_get, False, by_role(200, 200, 404, 403, 404)),
    "policy set": (_policy_set, True, by_role(303, 303, 404, 403, 404)),
    "tls add": (_tls_add, True, by_role(303, 303, 404, 403, 404)),
    "tls remove": (_tls_remove, True, by_role(303, 303, 404, 403, 404)),
    "orgs list": (_orgs_list, False, by_role(200, 404, 404, 404, 404)),
    "orgs create": (_orgs_create, True, by_role(303, 404, 404, 404, 404)),
    "orgs add domain": (_orgs_domain, True, by_role(303, 404, 404, 404, 404)),
    "orgs appoint admin": (_orgs_appoint, True, by_role(303, 404, 404, 404, 404)),
}
CELLS = [(name, role) for name in MATRIX for role in ROLES]


@pytest.mark.parametrize(("action", "role"), CELLS, ids=[f"{a}-{r}" for a, r in CELLS])
async def test_scoping_matrix(world: World, action: str, role: str) -> None:
    await world.services.policy.add_tls_required(world.system, world.org_a.name, "already.example")
    client = await world.as_role(role)
    run, changes, expected = MATRIX[action]
    before = await snapshot(world)

    answer = await run(world, client)

    assert answer.status_code == expected[role], answer.text
    after = await snapshot(world)
    if answer.status_code in (200, 303) and changes:
        assert after != before, "the action was accepted but changed nothing"
    else:
        assert after == before, "a refused or read-only action changed the store"


# --- the policy form ---------------------------------------------------------------------------


async def test_an_admin_sets_the_policy_of_their_organisation(world: World) -> None:
    admin = await world.as_role("admin")
    page = await admin.get("/admin/policy")  # their own organisation without ?org
    assert page.status_code == 200 and world.org_a.name in page.text

    answer = await post(
        admin, "/admin/policy",
        allowlist="Partner.Example\n\n  cjsm.net  \npartner.example", size="2048", idle="45",
        password="16", second_factor="1",
    )  # fmt: skip

    assert answer.status_code == 303
    policy = await world.services.org_policy.get(world.system, world.org_a.id)
    assert policy.recipient_allowlist == ("partner.example", "cjsm.net")
    assert policy.max_message_bytes == 2048 * 1024
    assert policy.session_idle_minutes == 45
    assert policy.min_password_length == 16
    assert policy.require_second_factor
    # the admin must now enrol a second factor; the service administrator sees the result
    assert (await admin.get("/admin/policy")).headers["location"] == "/settings/security"
    service = await world.as_role("service")
    shown = await service.get(answer.headers["location"])
    assert "The policy was saved." in shown.text
    assert "partner.example\ncjsm.net</textarea>" in shown.text
    assert 'name="second_factor" value="1" checked' in shown.text
    entries = await world.services.audit.list_entries(world.system, limit=20)
    audited = [e for e in entries if e.action == "policy.set"]
    assert audited and audited[0].org_id == world.org_a.id


@pytest.mark.parametrize(
    ("fields", "field", "reason"),
    [
        ({"idle": "1"}, "idle-error", "between 5 and 1440"),
        ({"idle": "soon"}, "idle-error", "whole number"),
        ({"size": "999999"}, "size-error", "between 1024 and"),
        ({"password": "4"}, "password-error", "between 8 and 128"),
        ({"allowlist": "partner.example\nnot_a domain!"}, "allowlist-error", "invalid domain"),
    ],
)
async def test_a_refused_policy_is_explained_next_to_the_field(
    world: World, fields: dict[str, str], field: str, reason: str
) -> None:
    admin = await world.as_role("admin")
    before = await snapshot(world)
    blank = {"allowlist": "", "size": "", "idle": "", "password": ""}

    answer = await post(admin, "/admin/policy", **(blank | fields))

    assert answer.status_code == 400
    assert reason in answer.text.split(f'id="{field}"')[1].split("</p>")[0]
    for value in fields.values():
        assert value.split("\n")[-1] in answer.text  # what was typed is kept
    assert await snapshot(world) == before


async def test_requiring_a_second_factor_sends_users_to_enrol(world: World) -> None:
    alice = await world.as_role("alice")
    assert (await alice.get("/settings")).status_code == 200
    admin = await world.as_role("admin")
    blank = {"allowlist": "", "size": "", "idle": "", "password": ""}

    answer = await post(admin, "/admin/policy", second_factor="1", **blank)

    assert answer.status_code == 303
    again = await alice.get("/settings")
    assert again.status_code == 303 and again.headers["location"] == "/settings/security"


async def test_the_minimum_password_length_applies_to_new_users(world: World) -> None:
    admin = await world.as_role("admin")
    blank = {"allowlist": "", "size": "", "idle": ""}
    assert (await post(admin, "/admin/policy", password="30", **blank)).status_code == 303

    answer = await post(admin, "/admin/users", address=f"ivy@{DEMO_DOMAIN}", password=PASSWORD)

    assert answer.status_code == 400
    assert "at least 30 characters" in answer.text.split('id="password-error"')[1]
    accounts = await world.services.accounts.list_accounts(world.system)
    assert f"ivy@{DEMO_DOMAIN}" not in {a.user.address for a in accounts}


async def test_the_tls_required_list(world: World) -> None:
    admin = await world.as_role("admin")
    url = "/admin/policy/tls"

    added = await post(admin, url, action="add", domain="Secure.Example")
    assert added.status_code == 303
    assert await world.services.policy.list_tls_required(world.system, world.org_a.name) == [
        "secure.example"
    ]
    page = await admin.get(added.headers["location"])
    assert 'data-domain="secure.example"' in page.text

    twice = await post(admin, url, action="add", domain="secure.example")
    assert twice.status_code == 400 and "already requires TLS" in twice.text
    bad = await post(admin, url, action="add", domain="not a domain")
    assert bad.status_code == 400 and "invalid domain" in bad.text.split('id="tls-error"')[1]
    missing = await post(admin, url, action="remove", domain="never.example")
    assert missing.status_code == 404

    removed = await post(admin, url, action="remove", domain="secure.example")
    assert removed.status_code == 303
    assert await world.services.policy.list_tls_required(world.system, world.org_a.name) == []
    entries = await world.services.audit.list_entries(world.system, limit=20)
    actions = [e.action for e in entries if e.org_id == world.org_a.id]
    assert "policy.tls_required.add" in actions and "policy.tls_required.remove" in actions


async def test_the_service_admin_picks_the_organisation(world: World) -> None:
    service = await world.as_role("service")
    picker = await service.get("/admin/policy")
    assert picker.status_code == 200
    assert f'<option value="{world.org_a.id}">' in picker.text
    assert f'<option value="{world.org_b.id}">' in picker.text
    assert 'name="allowlist"' not in picker.text

    answer = await post(
        service, f"/admin/policy?org={world.org_b.id}",
        allowlist="", size="", idle="20", password="",
    )  # fmt: skip

    assert answer.status_code == 303
    assert (
        await world.services.org_policy.get(world.system, world.org_b.id)
    ).session_idle_minutes == 20
    assert (
        await world.services.org_policy.get(world.system, world.org_a.id)
    ).session_idle_minutes is None
    unknown = await service.get("/admin/policy?org=987654")
    assert unknown.status_code == 404


# --- organisations --------------------------------------------------------------------------


async def test_the_service_admin_sets_up_an_organisation(world: World) -> None:
    service = await world.as_role("service")
    page = await service.get("/admin/orgs")
    assert page.status_code == 200
    assert world.org_a.name in page.text and f"admin@{DEMO_DOMAIN}" in page.text
    assert f"boss@{OTHER_DOMAIN}" in page.text

    created = await post(service, "/admin/orgs", name="Third Force", domain="third.example")
    assert created.status_code == 303
    orgs = {o.org.name: o for o in await world.services.accounts.list_orgs(world.system)}
    third = orgs["Third Force"].org
    assert third.domains == ("third.example",) and orgs["Third Force"].admins == ()

    domain = await post(service, f"/admin/orgs/{third.id}", action="domain", value="third.test")
    assert domain.status_code == 303
    user = await post(
        service, "/admin/users", address="chief@third.test", display_name="Chief",
        password=PASSWORD,
    )  # fmt: skip
    assert user.status_code == 200
    appointed = await post(
        service, f"/admin/orgs/{third.id}", action="admin", value="chief@third.test"
    )
    assert appointed.status_code == 303
    orgs = {o.org.name: o for o in await world.services.accounts.list_orgs(world.system)}
    assert orgs["Third Force"].org.domains == ("third.example", "third.test")
    assert orgs["Third Force"].admins == ("chief@third.test",)
    chief = await world.ctx("chief@third.test", PASSWORD)
    assert chief.role is Role.ORG_ADMIN and chief.org_id == third.id


async def test_organisation_refusals_change_nothing(world: World) -> None:
    service = await world.as_role("service")
    before = await snapshot(world)

    taken = await post(service, "/admin/orgs", name="Copycat", domain=DEMO_DOMAIN)
    assert taken.status_code == 400 and "already belongs" in taken.text
    same_name = await post(service, "/admin/orgs", name=world.org_a.name, domain="new.example")
    assert same_name.status_code == 400 and "already exists" in same_name.text
    domain = await post(
        service, f"/admin/orgs/{world.org_b.id}", action="domain", value=DEMO_DOMAIN
    )
    assert domain.status_code == 400
    assert "already belongs" in domain.text.split(f'id="domain-{world.org_b.id}-error"')[1]
    # a user of organisation A is not appointed administrator of organisation B
    elsewhere = await post(service, f"/admin/orgs/{world.org_b.id}", action="admin", value=BOB)
    assert elsewhere.status_code == 404

    assert await snapshot(world) == before
