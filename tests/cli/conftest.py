"""Run the real `securemail` entry point as a subprocess against the test's store, and look at
the store from inside to prove what a command changed (or did not)."""

import asyncio
import json
import os
import re
import sys
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, text

from securemail.core.context import AccessContext
from securemail.core.rights import Right
from securemail.services.registry import Services
from tests.conftest import TestStore

SECUREMAIL = Path(sys.executable).parent / "securemail"
PASSWORD = "correct horse battery staple"
# securemail.log's format: "2026-11-27 02:28:50,577 INFO alembic.runtime.migration: ..."
LOG_RECORD = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ [\w.]+: ")


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    @property
    def err_lines(self) -> list[str]:
        return self.err.splitlines()


Cli = Callable[..., Awaitable[Result]]


@pytest.fixture
def cli(store: TestStore, tmp_path: Path) -> Cli:
    """`await cli("user", "list", "--json", stdin=..., env=...)` runs the installed command."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()

    async def run(
        *args: str, stdin: bytes | str = b"", env: Mapping[str, str] | None = None
    ) -> Result:
        data = stdin.encode() if isinstance(stdin, str) else stdin
        proc = await asyncio.create_subprocess_exec(
            str(SECUREMAIL),
            *args,
            env={**os.environ, **store.env, **(env or {})},
            cwd=cwd,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate(data)
        assert proc.returncode is not None
        result = Result(proc.returncode, out.decode(), err.decode())
        assert "Traceback" not in result.err, result.err
        return result

    return run


async def snapshot(services: Services, store: TestStore) -> dict[str, Any]:
    """Every row of every table, and every blob file: equal snapshots mean nothing changed."""
    tables: dict[str, Any] = {}
    async with services.deps.db.read() as conn:
        names = await conn.run_sync(lambda c: inspect(c).get_table_names())
        for name in sorted(names):
            rows = (await conn.execute(text(f'SELECT * FROM "{name}"'))).all()
            tables[name] = sorted(repr(tuple(r)) for r in rows)
    blob_root = store.data_dir / "blobs"
    files = sorted(str(p.relative_to(blob_root)) for p in blob_root.rglob("*")) if (
        blob_root.exists()
    ) else []  # fmt: skip
    return {"tables": tables, "blobs": files}


@dataclass
class Acme:
    """Two organisations: Acme Ltd (alice, bob, group team with bob reading) and Other Org."""

    services: Services
    system: AccessContext


ACME = "Acme Ltd"
ACME_DOMAIN = "acme.example"
ALICE = "alice@acme.example"
BOB = "bob@acme.example"
TEAM = "team@acme.example"
OLGA = "olga@other.example"


@pytest.fixture
async def acme(services: Services, system: AccessContext) -> Acme:
    directory = services.directory
    await directory.create_org(system, ACME, ACME_DOMAIN)
    await directory.create_org(system, "Other Org", "other.example")
    for address in (ALICE, BOB, OLGA):
        await directory.create_user(system, address, password=PASSWORD)
    await directory.create_group(system, TEAM, "The Team")
    await services.sharing.grant(system, TEAM, BOB, Right.READ)
    return Acme(services, system)
