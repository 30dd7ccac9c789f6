"""Administration over /api/v1: organisations, users, group mailboxes, grants and the audit
log, under the services' scoping (service admin, organisation admin, Manage holder, user)."""

from sqlalchemy import update

from securemail.services.demo import DEMO_GROUP
from securemail.services.registry import Services
from securemail.store.schema import users
from tests.api.conftest import ApiAs, address, assert_problem


async def test_users_created_listed_disabled_enabled_and_reset(api_as: ApiAs) -> None:
    admin, bob = await api_as("admin"), await api_as("bob")
    made = await admin.post("/users", json={"address": address("frank"), "display_name": "Frank"})
    assert made.status_code == 201, made.text
    assert made.json()["user"]["address"] == address("frank") and made.json()["one_time_password"]
    assert_problem(await admin.post("/users", json={"address": address("frank")}), 409)
    assert_problem(await admin.post("/users", json={"address": "frank@elsewhere.example"}), 400)
    assert_problem(await bob.post("/users", json={"address": address("gina")}), 403)
    assert_problem(await bob.get("/users"), 403)
    listed = [u["address"] for u in (await admin.get("/users")).json()]
    assert address("frank") in listed and address("bob") in listed
    off = await admin.post(f"/users/{address('bob')}/disable")
    assert off.status_code == 200 and off.json()["disabled"] is True
    assert_problem(await bob.get("/me"), 401)
    assert (await admin.post(f"/users/{address('bob')}/enable")).json()["disabled"] is False
    assert (await bob.get("/me")).status_code == 200
    reset = await admin.post(f"/users/{address('bob')}/reset-password")
    assert reset.status_code == 200 and reset.json()["one_time_password"]
    chosen = await admin.post(
        f"/users/{address('bob')}/reset-password", json={"password": "a-long-passphrase"}
    )
    assert chosen.json()["one_time_password"] is None
    assert_problem(await admin.post(f"/users/{address('admin')}/disable"), 400)
    assert_problem(await admin.post("/users/nobody@polres.co.uk/disable"), 404)


async def test_orgs_for_the_service_admin_only(services: Services, api_as: ApiAs) -> None:
    admin, bob = await api_as("admin"), await api_as("bob")
    assert [o["name"] for o in (await admin.get("/orgs")).json()] == ["Police Research Institute"]
    assert_problem(
        await admin.post("/orgs", json={"name": "Other", "domain": "other.example"}), 403
    )
    assert_problem(await bob.get("/orgs"), 403)
    async with services.deps.db.write() as conn:
        await conn.execute(
            update(users).where(users.c.address == address("admin")).values(role="service_admin")
        )
    made = await admin.post("/orgs", json={"name": "Other", "domain": "other.example"})
    assert made.status_code == 201 and made.json()["domains"] == ["other.example"]
    assert len((await admin.get("/orgs")).json()) == 2
    assert_problem(
        await admin.post("/orgs", json={"name": "Other", "domain": "third.example"}), 409
    )
    assert_problem(await admin.post("/orgs", json={"name": "Bad", "domain": "no"}), 400)


async def test_group_grants_open_and_close_the_mailbox(api_as: ApiAs) -> None:
    admin, erin = await api_as("admin"), await api_as("erin")
    dave, alice = await api_as("dave"), await api_as("alice")
    made = await admin.post(
        "/groups", json={"address": "GM.Cases@polres.co.uk", "display_name": "Cases"}
    )
    assert made.status_code == 201, made.text
    group = made.json()["address"]
    assert group in [g["address"] for g in (await admin.get("/groups")).json()]
    assert_problem(await erin.get("/groups"), 403)
    assert [m["kind"] for m in (await erin.get("/mailboxes")).json()] == ["personal"]
    granted = await admin.put(
        f"/groups/{group}/grants/{address('erin')}", json={"rights": ["read", "write"]}
    )
    assert granted.status_code == 200 and granted.json() == {
        "user": address("erin"),
        "rights": ["read", "write"],
    }
    assert any(m["address"] == group for m in (await erin.get("/mailboxes")).json())
    narrowed = await admin.put(
        f"/groups/{group}/grants/{address('erin')}", json={"rights": ["read"]}
    )
    assert narrowed.json()["rights"] == ["read"]
    assert (await admin.get(f"/groups/{group}/grants")).json() == [
        {"user": address("erin"), "rights": ["read"]}
    ]
    assert_problem(
        await admin.put(f"/groups/{group}/grants/{address('erin')}", json={"rights": ["write"]}),
        400,
    )
    assert_problem(
        await admin.put(f"/groups/{group}/grants/{address('erin')}", json={"rights": ["fly"]}), 400
    )
    assert_problem(
        await erin.put(
            f"/groups/{group}/grants/{address('erin')}", json={"rights": ["read", "manage"]}
        ),
        403,
    )
    assert_problem(await dave.get(f"/groups/{group}/grants"), 404)  # not his group: not there
    assert (await admin.delete(f"/groups/{group}/grants/{address('erin')}")).status_code == 204
    assert [m["kind"] for m in (await erin.get("/mailboxes")).json()] == ["personal"]
    # Dave holds Manage on the demo group: he grants there, only rights he holds himself.
    ok = await dave.put(f"/groups/{DEMO_GROUP}/grants/{address('erin')}", json={"rights": ["read"]})
    assert ok.status_code == 200
    assert_problem(
        await alice.put(
            f"/groups/{DEMO_GROUP}/grants/{address('erin')}", json={"rights": ["read"]}
        ),
        403,
    )
    assert_problem(
        await dave.put(f"/groups/{DEMO_GROUP}/grants/{address('dave')}", json={"rights": ["read"]}),
        403,
    )


async def test_audit_pages_filters_and_verification(api_as: ApiAs) -> None:
    admin, dave, bob = await api_as("admin"), await api_as("dave"), await api_as("bob")
    first = await admin.get("/audit", params={"limit": 3})
    assert first.status_code == 200 and len(first.json()["items"]) == 3
    ids: list[int] = []
    cursor = None
    while True:
        params = {"limit": 4, "action": "grant"} | ({"cursor": cursor} if cursor else {})
        page = (await admin.get("/audit", params=params)).json()
        ids += [e["id"] for e in page["items"]]
        assert all(e["action"] == "grant" for e in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(ids) == 4 and ids == sorted(ids, reverse=True)  # the demo's four grants
    mine = await dave.get("/audit", params={"mailbox": DEMO_GROUP})
    assert mine.status_code == 200 and {e["mailbox"] for e in mine.json()["items"]} == {
        DEMO_GROUP.lower()
    }
    assert_problem(await bob.get("/audit"), 403)
    assert_problem(await bob.get("/audit", params={"mailbox": DEMO_GROUP}), 403)
    assert_problem(await admin.get("/audit", params={"cursor": "zzzz"}), 400)
    verified = (await admin.get("/audit/verify")).json()
    assert verified["ok"] is True and verified["checked"] > 10
    assert_problem(await bob.get("/audit/verify"), 403)
