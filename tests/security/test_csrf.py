"""Cross-site request forgery: every state-changing route (found by enumerating the app) refuses
a request without the session's CSRF token, with a wrong one, or with another session's, and
changes nothing; on /api/v1 a bearer token needs no CSRF token, a session cookie does
(X-CSRF-Token)."""

from collections.abc import AsyncIterator

import httpx
import pytest

from securemail.core.context import AccessContext
from securemail.services.demo import load_demo
from securemail.services.registry import Services
from tests.security.test_authz_sweep import (
    PROBES,
    STATE_CHANGING,
    Probe,
    World,
    build_world,
    fill,
    fill_json,
    send,
)

WEB_CHANGES = list({p.key: p for p in PROBES if p.method in STATE_CHANGING
                    and not p.template.startswith("/api/")}.values())  # fmt: skip
API_CHANGES = list({p.key: p for p in PROBES if p.method in STATE_CHANGING
                    and p.template.startswith("/api/")}.values())  # fmt: skip
LOGIN_FORMS = ("/login", "/login/second-factor")  # guarded by the login cookie's token


def refused(probe: Probe, answer: httpx.Response) -> bool:
    """403; a login form answers 400 (its double-submit token); a forged logout is sent home
    (303 to /) with the session intact, so a cross-site form cannot log anybody out."""
    if probe.template in LOGIN_FORMS:
        return answer.status_code in (400, 403)
    if probe.template == "/logout":
        return answer.status_code == 303 and answer.headers["location"] == "/"
    return answer.status_code == 403


@pytest.fixture
async def world(services: Services, system: AccessContext) -> AsyncIterator[World]:
    found = await build_world(services, system, await load_demo(services, system))
    yield found
    await found.close()


def forged_tokens(world: World) -> dict[str, str | None]:
    """The CSRF tokens a forger could send: none, a made-up one, another session's."""
    return {"missing": None, "wrong": "x" * 32, "another session's": world.csrf["alice"]}


async def forged_form(world: World, probe: Probe, token: str | None) -> httpx.Response:
    """Dave (who holds every right) posts the probe's form with a forged token."""
    client = world.browsers["dave"]
    ids = world.ids[probe.target]
    form = {k: fill(str(v), ids) for k, v in probe.form.items()}
    if token is not None:
        form["csrf"] = token
    return await send(
        client, client.build_request(probe.method, fill(probe.template, ids), data=form)
    )


@pytest.mark.parametrize("probe", WEB_CHANGES, ids=str)
async def test_form_without_the_sessions_token_is_refused(world: World, probe: Probe) -> None:
    for name, token in forged_tokens(world).items():
        before = await world.audit_head()
        answer = await forged_form(world, probe, token)
        assert refused(probe, answer), f"{probe}, {name} token: {answer.status_code}"
        assert await world.audit_head() == before, f"{probe}, {name} token changed something"
    assert (await world.browsers["dave"].get("/settings")).status_code == 200  # still signed in


async def session_api(world: World, probe: Probe, token: str | None) -> httpx.Response:
    """The probe's API call made with dave's session cookie instead of a bearer token."""
    client = world.browsers["dave"]
    ids = world.ids[probe.target]
    body = fill_json(probe.json, ids) if probe.json is not None else None
    headers = {"X-CSRF-Token": token} if token is not None else {}
    url = fill(probe.template, ids)
    return await send(client, client.build_request(probe.method, url, json=body, headers=headers))


@pytest.mark.parametrize("probe", API_CHANGES, ids=str)
async def test_session_api_write_needs_the_csrf_header(world: World, probe: Probe) -> None:
    for name, token in forged_tokens(world).items():
        before = await world.audit_head()
        answer = await session_api(world, probe, token)
        assert answer.status_code == 403, f"{probe}, {name} header: {answer.status_code}"
        assert "X-CSRF-Token" in answer.text, answer.text
        assert await world.audit_head() == before


async def test_session_api_write_with_the_header_passes(world: World) -> None:
    ids = world.ids["group"]
    probe = Probe("PATCH", "/api/v1/messages/{message_id}", {}, json={"seen": True})
    answer = await session_api(world, probe, world.csrf["dave"])
    assert answer.status_code == 200, answer.text
    assert answer.json()["id"] == ids["message_id"]


async def test_bearer_api_write_needs_no_csrf(world: World) -> None:
    message_id = world.ids["group"]["message_id"]
    answer = await world.api["alice"].patch(f"/api/v1/messages/{message_id}", json={"seen": True})
    assert answer.status_code == 200, answer.text
