"""Schemathesis against the served OpenAPI document, authenticated with a demo user's token:
no 5xx, no status code, media type or body outside what the document says.

Dave holds every right on the demo group mailbox, so generated ids and addresses reach real
rights checks. Bounded: a few examples per operation, no deadline per example (the machines
are noisy), the whole run stays well under two minutes on two cores.

The app runs in schemathesis' own event loop thread, so the store is opened there too: a
small ASGI wrapper builds the runtime, the demo and the token at lifespan startup."""

import asyncio
import secrets
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi as schemathesis_asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from securemail import app as runtime_app
from securemail.config import load_settings
from securemail.core.context import system_context
from securemail.services.demo import DEMO_DOMAIN, load_demo
from securemail.store.migrate import upgrade
from securemail.web.app import create_app
from tests.conftest import PG_URL, _create_schema

EXAMPLES_PER_OPERATION = 12
USER = f"dave@{DEMO_DOMAIN}"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


class DemoApp:
    """The real app over a fresh demo store, built when the ASGI lifespan starts."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.inner: Any = None
        self.runtime: Any = None
        self.secret = ""

    async def start(self) -> None:
        self.runtime = runtime_app.build(load_settings(env=self.env))
        await upgrade(self.runtime.db)
        services = self.runtime.services
        demo = await load_demo(services, system_context("test"))
        ctx = await services.auth.authenticate(USER, demo.passwords[USER], channel="web")
        for n in range(3):  # the token in use is not the first id a fuzzer tries to revoke
            await services.api_tokens.create(ctx, f"spare {n}", "read", 1)
        self.secret = await services.api_tokens.create(ctx, "schemathesis", "write", 1)
        self.inner = create_app(services)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            await self.inner(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.runtime is not None:
                    await self.runtime.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


@pytest.fixture(scope="module")
def demo_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoApp]:
    data: Path = tmp_path_factory.mktemp("schemathesis") / "var"
    env = {
        "SECUREMAIL_SERVER_DATA_DIR": str(data),
        "SECUREMAIL_AUTH_ARGON2_TIME_COST": "1",
        "SECUREMAIL_AUTH_ARGON2_MEMORY_KIB": "1024",
        "SECUREMAIL_AUTH_ARGON2_PARALLELISM": "1",
        "SECUREMAIL_AUTH_MIN_PASSWORD_LENGTH": "8",
    }
    schema_name = ""
    if PG_URL:
        schema_name = "t_" + secrets.token_hex(6)
        asyncio.run(_create_schema(schema_name))
        env |= {"SECUREMAIL_DATABASE_URL": PG_URL, "SECUREMAIL_DATABASE_SCHEMA": schema_name}
    app = DemoApp(env)
    yield app
    schemathesis_asgi.shutdown_lifespans()
    if schema_name:
        asyncio.run(_create_schema(schema_name, drop=True))


@pytest.fixture(scope="module")
def api_schema(demo_app: DemoApp) -> Any:
    return schemathesis.openapi.from_asgi("/api/v1/openapi.json", demo_app)


def _exercise(operation: Any, secret: str, statuses: Counter[int]) -> None:
    """Up to EXAMPLES_PER_OPERATION generated requests; the first failing one raises."""

    @given(case=operation.as_strategy(schemathesis.GenerationMode.POSITIVE))
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        response = case.call_and_validate(
            headers={"Authorization": f"Bearer {secret}"}, checks=CHECKS
        )
        statuses[response.status_code] += 1

    run()


def test_api_contract(api_schema: Any, demo_app: DemoApp) -> None:
    """Every operation of the document (schemathesis.pytest's own parametrisation does not
    run under pytest 9, so the operations are walked here, each failure named)."""
    statuses: Counter[int] = Counter()
    failures: list[str] = []
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) > 30
    for operation in operations:
        try:
            _exercise(operation, demo_app.secret, statuses)
        except (Exception, BaseExceptionGroup) as exc:  # every broken operation, not the first
            failures.append(f"{operation.label}: {exc}")
    print(f"schemathesis: {len(operations)} operations, {sum(statuses.values())} calls, "
          f"statuses {dict(sorted(statuses.items()))}")  # fmt: skip
    assert not failures, "\n\n".join(failures)
    assert not any(status >= 500 for status in statuses)
