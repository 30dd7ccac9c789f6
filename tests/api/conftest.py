"""API fixtures: the demo organisation, the real ASGI app, and clients holding a personal
token (`await api_as("bob")`, `await api_as("alice", scope="read")`)."""

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

import httpx
import pytest
from fastapi import FastAPI

from securemail.core.context import AccessContext
from securemail.services.demo import DEMO_DOMAIN, DemoResult, load_demo
from securemail.services.registry import Services
from securemail.web.app import create_app

PROBLEM = "application/problem+json"


@pytest.fixture
async def demo(services: Services, system: AccessContext) -> DemoResult:
    return await load_demo(services, system)


@pytest.fixture
def app(services: Services) -> FastAPI:
    return create_app(services)


def address(name: str) -> str:
    return name if "@" in name else f"{name}@{DEMO_DOMAIN}"


async def web_context(services: Services, demo: DemoResult, name: str) -> AccessContext:
    """The context a webmail login gives `name` (tokens are made in webmail)."""
    who = address(name)
    return await services.auth.authenticate(who, demo.passwords[who], channel="web")


class ApiAs(Protocol):
    def __call__(self, name: str, scope: str = "write") -> Awaitable[httpx.AsyncClient]: ...


@pytest.fixture
async def anonymous(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
async def api_as(services: Services, demo: DemoResult, app: FastAPI) -> AsyncIterator[ApiAs]:
    clients: list[httpx.AsyncClient] = []

    async def make(name: str, scope: str = "write") -> httpx.AsyncClient:
        ctx = await web_context(services, demo, name)
        secret = await services.api_tokens.create(ctx, f"tests {name}", scope, 30)
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://testserver/api/v1",
            headers={"Authorization": f"Bearer {secret}"},
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """An RFC 9457 problem with `status`: the media type and every required member."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM), response.headers
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    for member in ("type", "title", "detail"):
        assert isinstance(body[member], str) and body[member], body
    return body


Finder = Callable[[httpx.AsyncClient, str], Awaitable[dict[str, Any]]]


async def mailbox_of(client: httpx.AsyncClient, kind_or_address: str) -> dict[str, Any]:
    """The caller's personal mailbox ("personal") or the mailbox with that address."""
    listed = (await client.get("/mailboxes")).json()
    for mailbox in listed:
        if kind_or_address == "personal" and mailbox["kind"] == "personal":
            return dict(mailbox)
        if mailbox["address"].lower() == kind_or_address.lower():
            return dict(mailbox)
    raise AssertionError(f"{kind_or_address} not among {listed}")


async def folder_of(client: httpx.AsyncClient, mailbox_id: int, use: str) -> dict[str, Any]:
    folders = (await client.get(f"/mailboxes/{mailbox_id}/folders")).json()
    return dict(next(f for f in folders if f["special_use"] == use or f["name"] == use))
