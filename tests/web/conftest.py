"""Webmail fixtures: the demo organisation and logged-in httpx clients on the real ASGI app."""

import re
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from securemail.core.context import AccessContext
from securemail.services.demo import DEMO_DOMAIN, DemoResult, load_demo
from securemail.services.registry import Services
from securemail.web.app import create_app

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
async def demo(services: Services, system: AccessContext) -> DemoResult:
    return await load_demo(services, system)


@pytest.fixture
async def web(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    """An anonymous browser on the webmail app."""
    transport = httpx.ASGITransport(app=create_app(services))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page carries no CSRF token"
    return found.group(1)


async def log_in(client: httpx.AsyncClient, address: str, password: str) -> httpx.Response:
    page = await client.get("/login")
    return await client.post(
        "/login", data={"csrf": csrf_of(page.text), "address": address, "password": password}
    )


LoginAs = Callable[[str], Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def login_as(services: Services, demo: DemoResult) -> AsyncIterator[LoginAs]:
    """A fresh logged-in client per demo user: `await login_as("bob")`."""
    clients: list[httpx.AsyncClient] = []
    app = create_app(services)

    async def make(name: str) -> httpx.AsyncClient:
        address = f"{name}@{DEMO_DOMAIN}"
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        )
        clients.append(client)
        answer = await log_in(client, address, demo.passwords[address])
        assert answer.status_code == 303, answer.text
        return client

    yield make
    for client in clients:
        await client.aclose()
