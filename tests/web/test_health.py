"""/healthz and /readyz for load balancers: liveness, readiness, draining, security headers."""

import dataclasses
from pathlib import Path

import httpx

from securemail.services.registry import Services
from securemail.store.db import Database
from securemail.web.app import create_app
from securemail.web.health import Readiness


def client(app: object) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


async def test_healthz_says_ok_with_the_security_headers(services: Services):
    async with client(create_app(services)) as web:
        answer = await web.get("/healthz")
    assert answer.status_code == 200
    assert answer.text == "ok"
    assert "default-src 'self'" in answer.headers["content-security-policy"]
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["cache-control"] == "no-store"


async def test_readyz_is_200_while_the_database_answers(services: Services):
    async with client(create_app(services)) as web:
        answer = await web.get("/readyz")
    assert answer.status_code == 200
    assert answer.json()["status"] == "ok"
    assert "content-security-policy" in answer.headers


async def test_readyz_is_503_while_draining_and_healthz_stays_200(services: Services):
    readiness = Readiness()
    async with client(create_app(services, readiness)) as web:
        assert (await web.get("/readyz")).status_code == 200
        readiness.draining = True
        answer = await web.get("/readyz")
        assert answer.status_code == 503
        assert answer.json() == {"status": "draining"}
        assert (await web.get("/healthz")).status_code == 200


async def test_readyz_is_503_when_the_database_does_not_answer(services: Services, tmp_path: Path):
    # A real SQLite engine on a file that is not a database: every query fails.
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not an SQLite database\n" * 200)
    broken = Database(f"sqlite+aiosqlite:///{garbage}", 100)
    app = create_app(Services.build(dataclasses.replace(services.deps, db=broken)))
    try:
        async with client(app) as web:
            answer = await web.get("/readyz")
    finally:
        await broken.dispose()
    assert answer.status_code == 503
    assert answer.json() == {"status": "unavailable"}


async def test_health_is_not_in_the_api_schema(services: Services):
    async with client(create_app(services)) as web:
        schema = (await web.get("/api/v1/openapi.json")).json()
    assert "/healthz" not in schema["paths"]
    assert "/readyz" not in schema["paths"]
