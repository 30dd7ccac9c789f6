"""Personal API tokens: shown once, stored as a keyed hash, scoped, expiring, revocable."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from securemail.core.errors import AuthenticationFailed, InvalidInput, PermissionDenied
from securemail.security.app_passwords import app_password_hash
from securemail.services.demo import DemoResult
from securemail.services.registry import Services
from securemail.store.repos import directory as dir_repo
from securemail.store.schema import api_tokens, audit_log
from tests.api.conftest import ApiAs, address, assert_problem, web_context
from tests.web.conftest import log_in


async def _rows(services: Services) -> list[object]:
    async with services.deps.db.read() as conn:
        return list((await conn.execute(select(api_tokens))).all())


@pytest.fixture
async def browser(app: FastAPI, demo: DemoResult) -> httpx.AsyncClient:
    """Bob logged in to webmail: the session cookie also opens the API."""
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    answer = await log_in(client, address("bob"), demo.passwords[address("bob")])
    assert answer.status_code == 303
    return client


async def _csrf(services: Services, client: httpx.AsyncClient) -> str:
    _ctx, session = await services.sessions.resolve(client.cookies["sm_session"])
    return session.csrf_token


async def test_created_in_a_session_shown_once_and_stored_as_a_keyed_hash(
    services: Services, browser: httpx.AsyncClient
) -> None:
    refused = await browser.post("/api/v1/tokens", json={"label": "cli", "scope": "read"})
    assert_problem(refused, 403)  # a session's write needs the CSRF header
    assert await _rows(services) == []
    headers = {"X-CSRF-Token": await _csrf(services, browser)}
    made = await browser.post(
        "/api/v1/tokens", json={"label": "cli", "scope": "read", "days": 7}, headers=headers
    )
    assert made.status_code == 201, made.text
    secret = made.json()["secret"]
    assert secret.startswith("smt_") and len(secret) > 40
    token = made.json()["token"]
    assert token["scope"] == "read" and token["label"] == "cli" and not token["expired"]
    expires = datetime.fromisoformat(token["expires_at"])
    assert timedelta(days=6) < expires - datetime.now(UTC) <= timedelta(days=7)
    (row,) = await _rows(services)
    assert row.token_hash == app_password_hash(services.deps.app_password_key, secret)
    assert secret not in repr(row)
    listed = (await browser.get("/api/v1/tokens")).json()
    assert [t["id"] for t in listed] == [token["id"]]
    assert "secret" not in listed[0] and secret not in (await browser.get("/api/v1/tokens")).text
    me = await browser.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert me.json()["address"] == address("bob") and me.json()["via"] == "token"


async def test_a_token_cannot_mint_tokens(api_as: ApiAs) -> None:
    bob = await api_as("bob")
    assert_problem(await bob.post("/tokens", json={"label": "more", "scope": "write"}), 403)


async def test_read_only_token_reads_but_every_write_is_refused(api_as: ApiAs) -> None:
    alice = await api_as("alice", scope="read")
    personal = next(m for m in (await alice.get("/mailboxes")).json() if m["kind"] == "personal")
    assert (await alice.get(f"/mailboxes/{personal['id']}/folders")).status_code == 200
    assert (await alice.get("/me")).json()["scope"] == "read"
    writes = [
        alice.post(f"/mailboxes/{personal['id']}/folders", json={"name": "Cases"}),
        alice.patch("/messages/1", json={"seen": True}),
        alice.delete("/messages/1"),
        alice.post("/messages/copy", json={"ids": [1], "folder_id": 1}),
        alice.delete("/tokens/1"),
    ]
    for pending in writes:
        body = assert_problem(await pending, 403)
        assert "read-only" in body["detail"]


async def test_expired_revoked_and_disabled_tokens_fail_alike(
    services: Services, demo: DemoResult, api_as: ApiAs
) -> None:
    bob = await api_as("bob")
    carol = await api_as("carol")
    assert (await bob.get("/me")).status_code == 200
    bob_token = (await bob.get("/tokens")).json()[0]
    async with services.deps.db.write() as conn:
        await conn.execute(
            update(api_tokens)
            .where(api_tokens.c.id == bob_token["id"])
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    body = assert_problem(await bob.get("/me"), 401)
    assert (await bob.get("/me")).headers["www-authenticate"].startswith("Bearer")
    assert "expired" in body["detail"]
    # Carol revokes her own token; Bob's id does not exist for her.
    carol_token = (await carol.get("/tokens")).json()[0]
    assert_problem(await carol.delete(f"/tokens/{bob_token['id']}"), 404)
    assert (await carol.delete(f"/tokens/{carol_token['id']}")).status_code == 204
    assert_problem(await carol.get("/me"), 401)
    # A disabled owner's token stops at the next request.
    dave = await api_as("dave")
    ctx = await web_context(services, demo, "admin")
    await services.directory.set_user_disabled(ctx, address("dave"), True)
    assert_problem(await dave.get("/mailboxes"), 401)
    assert_problem(await dave.get("/me", headers={"Authorization": "Bearer smt_nope"}), 401)
    assert_problem(await dave.get("/me", headers={"Authorization": "Basic Ym9iOmJvYg=="}), 401)


async def test_last_used_is_written_at_most_once_a_minute(
    services: Services, api_as: ApiAs
) -> None:
    bob = await api_as("bob")
    assert (await _rows(services))[0].last_used_at is None
    await bob.get("/me")
    first = (await _rows(services))[0].last_used_at
    assert first is not None
    await bob.get("/me")
    assert (await _rows(services))[0].last_used_at == first


async def test_create_and_revoke_are_audited(services: Services, demo: DemoResult) -> None:
    ctx = await web_context(services, demo, "erin")
    token, _secret = await services.api_tokens.issue(ctx, "laptop", "write", 1)
    await services.api_tokens.revoke(ctx, token.id)
    async with services.deps.db.read() as conn:
        rows = (
            await conn.execute(select(audit_log).where(audit_log.c.action.like("api_token.%")))
        ).all()
    assert [(r.action, r.actor) for r in rows] == [
        ("api_token.create", address("erin")),
        ("api_token.revoke", address("erin")),
    ]
    assert f"id={token.id}" in rows[1].detail


async def test_the_service_refuses_bad_requests_and_changes_nothing(
    services: Services, demo: DemoResult
) -> None:
    ctx = await web_context(services, demo, "erin")
    for scope, days, label in (("admin", 1, "x"), ("read", 0, "x"), ("read", 366, "x")):
        with pytest.raises(InvalidInput):
            await services.api_tokens.create(ctx, label, scope, days)
    with pytest.raises(InvalidInput):
        await services.api_tokens.create(ctx, "a\x00b", "read", 1)
    with pytest.raises(PermissionDenied):
        await services.api_tokens.create(replace(ctx, channel="api"), "x", "read", 1)
    assert await _rows(services) == []
    for bad in ("", "smt_", "nope", "smt_" + "x" * 500):
        with pytest.raises(AuthenticationFailed):
            await services.api_tokens.authenticate(bad)
    async with services.deps.db.read() as conn:
        assert (await dir_repo.find_user_by_address(conn, address("erin"))) is not None
