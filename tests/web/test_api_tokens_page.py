"""The API tokens settings page: a token made there is shown once and works on /api/v1 with
its scope; revoking it stops it."""

import re

import httpx

from securemail.services.demo import DemoResult
from securemail.services.registry import Services
from securemail.web.app import create_app
from tests.web.conftest import LoginAs, csrf_of

TOKEN = re.compile(r'class="secret new-api-token">(smt_[^<]+)<')


async def make_token(client: httpx.AsyncClient, label: str, scope: str) -> str:
    page = await client.get("/settings/api-tokens")
    answer = await client.post(
        "/settings/api-tokens",
        data={"csrf": csrf_of(page.text), "label": label, "scope": scope, "days": "7"},
    )
    assert answer.status_code == 200
    found = TOKEN.search(answer.text)
    assert found, "the new token is not shown"
    return found.group(1)


async def test_token_is_shown_once_and_works_with_its_scope(
    services: Services, demo: DemoResult, login_as: LoginAs
) -> None:
    bob = await login_as("bob")
    secret = await make_token(bob, "reporting script", "read")
    listing = await bob.get("/settings/api-tokens")
    assert "reporting script" in listing.text and secret not in listing.text
    api = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(services)), base_url="http://testserver"
    )
    async with api:
        auth = {"Authorization": f"Bearer {secret}"}
        me = await api.get("/api/v1/me", headers=auth)
        assert me.status_code == 200 and me.json()["address"] == "bob@polres.co.uk"
        own = (
            await services.mailboxes.get_personal_mailbox(
                await services.auth.context_for(me.json()["id"], channel="test")
            )
        ).id
        refused = await api.post(
            f"/api/v1/mailboxes/{own}/folders", headers=auth, json={"name": "Scripts"}
        )
        assert refused.status_code == 403  # a read-only token, on bob's own mailbox
        names = [
            f.name
            for f in await services.mailboxes.list_folders(
                await services.auth.context_for(me.json()["id"], channel="test"), own
            )
        ]
        assert "Scripts" not in names
        token_id = re.search(r'data-token-id="(\d+)"', listing.text)
        assert token_id
        page = await bob.get("/settings/api-tokens")
        revoked = await bob.post(
            "/settings/api-tokens/revoke", data={"csrf": csrf_of(page.text), "id": token_id[1]}
        )
        assert revoked.status_code == 303
        assert (await api.get("/api/v1/me", headers=auth)).status_code == 401


async def test_bad_token_requests_change_nothing(
    services: Services, demo: DemoResult, login_as: LoginAs
) -> None:
    alice = await login_as("alice")
    page = await alice.get("/settings/api-tokens")
    for days in ("0", "400", "x"):
        answer = await alice.post(
            "/settings/api-tokens",
            data={"csrf": csrf_of(page.text), "label": "x", "scope": "read", "days": days},
        )
        assert answer.status_code == 400
    forged = await alice.post(
        "/settings/api-tokens", data={"csrf": "forged", "label": "x", "scope": "read", "days": "7"}
    )
    assert forged.status_code == 403
    ctx = await services.auth.authenticate(
        "alice@polres.co.uk", demo.passwords["alice@polres.co.uk"], channel="test"
    )
    assert await services.api_tokens.list(ctx) == []
