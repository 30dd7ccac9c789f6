"""Shared fixtures: a migrated database (SQLite file, or PostgreSQL when
SECUREMAIL_TEST_DATABASE_URL is set, each test in a schema of its own) and the services over it."""

import asyncio
import os
import secrets
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from securemail import app
from securemail.config import Settings, async_url, load_settings
from securemail.core.context import AccessContext, system_context
from securemail.services.registry import Services
from securemail.store.migrate import upgrade

PG_URL = os.environ.get("SECUREMAIL_TEST_DATABASE_URL", "")


def pytest_report_header(config: pytest.Config) -> str:
    return f"securemail store: {'PostgreSQL ' + PG_URL if PG_URL else 'SQLite'}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `always_postgres` use the local PostgreSQL on every run; the second CI pass
    (SECUREMAIL_TEST_DATABASE_URL set) would only repeat them, so it leaves them out."""
    if not PG_URL:
        return
    repeated = [item for item in items if item.get_closest_marker("always_postgres")]
    if repeated:
        config.hook.pytest_deselected(items=repeated)
        items[:] = [item for item in items if not item.get_closest_marker("always_postgres")]


def pytest_terminal_summary(
    terminalreporter: object, exitstatus: int, config: pytest.Config
) -> None:
    """In CI (CI=true) a skipped test is a failure: CI installs every outside program."""
    stats = getattr(terminalreporter, "stats", {})
    skipped = stats.get("skipped", [])
    if os.environ.get("CI") == "true" and skipped:
        terminalreporter.write_line(  # type: ignore[attr-defined]
            f"CI forbids skips: {len(skipped)} test(s) skipped", red=True
        )
        config._securemail_ci_skips = True  # type: ignore[attr-defined]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if getattr(session.config, "_securemail_ci_skips", False) and exitstatus == 0:
        session.exitstatus = 1


@dataclass
class TestStore:
    """Where a test's data lives: environment for subprocesses, settings for in-process use."""

    __test__ = False  # not a test class, whatever its name

    data_dir: Path
    env: dict[str, str]
    settings: Settings


async def _create_schema(name: str, drop: bool = False) -> None:
    engine = create_async_engine(async_url(PG_URL))
    async with engine.begin() as conn:
        sql = f'DROP SCHEMA IF EXISTS "{name}" CASCADE' if drop else f'CREATE SCHEMA "{name}"'
        await conn.exec_driver_sql(sql)
    await engine.dispose()


def cheap_env(data_dir: Path) -> dict[str, str]:
    """The settings of a test installation in `data_dir` on SQLite."""
    return {
        "SECUREMAIL_SERVER_DATA_DIR": str(data_dir),
        # Cheap argon2id parameters: the same code path, a fraction of the cost.
        "SECUREMAIL_AUTH_ARGON2_TIME_COST": "1",
        "SECUREMAIL_AUTH_ARGON2_MEMORY_KIB": "1024",
        "SECUREMAIL_AUTH_ARGON2_PARALLELISM": "1",
        "SECUREMAIL_AUTH_MIN_PASSWORD_LENGTH": "8",
    }


@pytest.fixture
def store(tmp_path: Path) -> Iterator[TestStore]:
    """A fresh, empty store for one test (not yet migrated)."""
    env = cheap_env(tmp_path / "var")
    schema = ""
    if PG_URL:
        schema = "t_" + secrets.token_hex(6)
        asyncio.run(_create_schema(schema))
        env["SECUREMAIL_DATABASE_URL"] = PG_URL
        env["SECUREMAIL_DATABASE_SCHEMA"] = schema
    yield TestStore(tmp_path / "var", env, load_settings(env=env))
    if schema:
        asyncio.run(_create_schema(schema, drop=True))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path | None:
    """One SQLite store migrated once per run; `services` copies it instead of migrating
    every test's store (the same migrations, run once: most of the suite's time otherwise).
    PostgreSQL tests still migrate each schema."""
    if PG_URL:
        return None
    data = tmp_path_factory.mktemp("template") / "var"

    async def migrate() -> None:
        runtime = app.build(load_settings(env={"SECUREMAIL_SERVER_DATA_DIR": str(data)}))
        await upgrade(runtime.db)
        await runtime.close()

    asyncio.run(migrate())
    return data / "securemail.db"


@pytest.fixture
async def services(store: TestStore, sqlite_template: Path | None) -> AsyncIterator[Services]:
    if sqlite_template is not None:
        store.data_dir.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal"):
            source = sqlite_template.with_name(sqlite_template.name + suffix)
            if source.exists():
                shutil.copyfile(source, store.data_dir / source.name)
    runtime = app.build(store.settings)
    if sqlite_template is None:
        await upgrade(runtime.db)
    yield runtime.services
    await runtime.close()


@pytest.fixture
def system() -> AccessContext:
    return system_context("test")
