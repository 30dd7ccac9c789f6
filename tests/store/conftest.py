"""Store fixtures: runtimes over the test's store (either blob store), a small organisation,
and direct looks at the tables the repositories fill."""

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text

from securemail import app
from securemail.config import load_settings
from securemail.core.context import AccessContext
from securemail.core.rights import Right
from securemail.services.registry import Services
from securemail.store.migrate import upgrade
from tests.conftest import TestStore

PASSWORD = "correct horse battery staple"
DOMAIN = "polres.co.uk"
GROUP = "gm.zerotolerance@polres.co.uk"
ALICE = f"alice@{DOMAIN}"
BOB = f"bob@{DOMAIN}"
CAROL = f"carol@{DOMAIN}"

MakeRuntime = Callable[..., Awaitable[app.Runtime]]


@pytest.fixture
async def make_runtime(store: TestStore, tmp_path: Path) -> AsyncIterator[MakeRuntime]:
    """Build runtimes over the test's store; `blob_store` goes through a TOML config file."""
    built: list[app.Runtime] = []

    async def make(blob_store: str = "filesystem", migrate: bool = True) -> app.Runtime:
        config = tmp_path / f"securemail-{len(built)}.toml"
        config.write_text(f'[database]\nblob_store = "{blob_store}"\n', encoding="utf-8")
        runtime = app.build(load_settings(config, env=store.env))
        built.append(runtime)
        if migrate:
            await upgrade(runtime.db)
        return runtime

    yield make
    for runtime in built:
        await runtime.close()


@dataclass
class Team:
    """The organisation the store tests use: alice and bob read the group, carol does not."""

    services: Services
    alice: AccessContext
    bob: AccessContext
    carol: AccessContext
    group_id: int


async def make_team(services: Services, system: AccessContext) -> Team:
    await services.directory.create_org(system, "Police Research Institute", DOMAIN)
    for address in (ALICE, BOB, CAROL):
        await services.directory.create_user(system, address, password=PASSWORD)
    await services.directory.create_group(system, GROUP, "Zero Tolerance")
    for address in (ALICE, BOB):
        await services.sharing.grant(system, GROUP, address, Right.READ)
    alice, bob, carol = [
        await services.auth.authenticate(a, PASSWORD, channel="test") for a in (ALICE, BOB, CAROL)
    ]
    group = await services.mailboxes.get_mailbox_by_address(alice, GROUP)
    return Team(services, alice, bob, carol, group.id)


@pytest.fixture
async def team(services: Services, system: AccessContext) -> Team:
    return await make_team(services, system)


async def inbox_id(services: Services, ctx: AccessContext, mailbox_id: int) -> int:
    folders = await services.mailboxes.list_folders(ctx, mailbox_id)
    return next(f.id for f in folders if f.name == "INBOX")


async def count_rows(services: Services, table: Any, *where: Any) -> int:
    async with services.deps.db.read() as conn:
        return int(await conn.scalar(select(func.count()).select_from(table).where(*where)) or 0)


async def raw_sql(services: Services, sql: str) -> list[Any]:
    async with services.deps.db.read() as conn:
        return list((await conn.execute(text(sql))).all())


def message(
    subject: str, body: str, sender: str = "jane@university.example", **extra: str
) -> bytes:
    headers = {"From": sender, "To": GROUP, "Subject": subject, **extra}
    head = "".join(f"{k.replace('_', '-')}: {v}\r\n" for k, v in headers.items())
    return (head + "\r\n" + body + "\r\n").encode("utf-8")
