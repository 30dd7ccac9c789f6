"""Both blob stores: one copy of a content for many recipients, the bytes back on request,
NotFound for anything else; a message delivered to several mailboxes shares one content row."""

import hashlib

import pytest
from sqlalchemy import select

from securemail import app
from securemail.core.context import AccessContext
from securemail.core.errors import NotFound
from securemail.store.blobs import DatabaseBlobStore, FilesystemBlobStore
from securemail.store.schema import blob_data, contents, messages
from tests.conftest import TestStore
from tests.store.conftest import ALICE, BOB, GROUP, MakeRuntime, count_rows, make_team, message

KINDS = ["filesystem", "database"]
RAW = message("Evaluation data", "The pilot figures are attached.")


def blob_files(store: TestStore) -> list[str]:
    root = store.data_dir / "blobs"
    return sorted(p.name for p in root.rglob("*") if p.is_file()) if root.exists() else []


async def stored_blobs(runtime: app.Runtime, store: TestStore) -> list[str]:
    """What the configured blob store holds, looked at directly (files or rows)."""
    if isinstance(runtime.services.deps.blobs, FilesystemBlobStore):
        return blob_files(store)
    async with runtime.db.read() as conn:
        return sorted(r[0] for r in await conn.execute(select(blob_data.c.id)))


@pytest.mark.parametrize("kind", KINDS)
async def test_the_configured_blob_store_is_used(
    kind: str, make_runtime: MakeRuntime, store: TestStore, system: AccessContext
) -> None:
    runtime = await make_runtime(kind)
    expected = FilesystemBlobStore if kind == "filesystem" else DatabaseBlobStore
    assert isinstance(runtime.services.deps.blobs, expected)
    await make_team(runtime.services, system)
    await runtime.services.delivery.deliver(system, RAW, [GROUP])
    sha = hashlib.sha256(RAW).hexdigest()
    assert await stored_blobs(runtime, store) == [sha]
    # Nothing leaks into the other store.
    if kind == "database":
        assert blob_files(store) == []
    else:
        assert await count_rows(runtime.services, blob_data) == 0


@pytest.mark.parametrize("kind", KINDS)
async def test_one_content_is_stored_once_for_many_recipients(
    kind: str, make_runtime: MakeRuntime, store: TestStore, system: AccessContext
) -> None:
    runtime = await make_runtime(kind)
    services = runtime.services
    await make_team(services, system)
    first = await services.delivery.deliver(system, RAW, [GROUP, ALICE, BOB])
    again = await services.delivery.deliver(system, RAW, [ALICE])
    assert first.delivered == (GROUP, ALICE, BOB) and again.delivered == (ALICE,)
    assert await stored_blobs(runtime, store) == [hashlib.sha256(RAW).hexdigest()]
    assert await count_rows(services, contents) == 1
    async with runtime.db.read() as conn:
        content_ids = [r[0] for r in await conn.execute(select(messages.c.content_id))]
    assert len(content_ids) == 4 and len(set(content_ids)) == 1


@pytest.mark.parametrize("kind", KINDS)
async def test_every_recipient_opens_the_same_bytes(
    kind: str, make_runtime: MakeRuntime, system: AccessContext
) -> None:
    runtime = await make_runtime(kind)
    team = await make_team(runtime.services, system)
    result = await runtime.services.delivery.deliver(system, RAW, [GROUP, ALICE, BOB])
    group_msg, alice_msg, bob_msg = result.message_ids
    opened = [
        await runtime.services.messages.open_message(team.alice, group_msg),
        await runtime.services.messages.open_message(team.alice, alice_msg),
        await runtime.services.messages.open_message(team.bob, bob_msg),
    ]
    assert [m.raw for m in opened] == [RAW] * 3


@pytest.mark.parametrize("kind", KINDS)
async def test_get_returns_the_bytes_and_unknown_ids_are_not_found(
    kind: str, make_runtime: MakeRuntime, system: AccessContext
) -> None:
    runtime = await make_runtime(kind)
    blobs = runtime.services.deps.blobs
    data = b"\x00\xffbinary\r\n.\r\n" * 1000
    async with runtime.db.write() as conn:
        blob_id = await blobs.put(conn, data)
    assert blob_id == hashlib.sha256(data).hexdigest()
    async with runtime.db.read() as conn:
        assert await blobs.get(conn, blob_id) == data
        assert await blobs.exists(conn, blob_id)
        unknown = hashlib.sha256(b"never stored").hexdigest()
        assert not await blobs.exists(conn, unknown)
        for bad in (unknown, "", "../../etc/passwd", blob_id.upper(), blob_id[:-1]):
            with pytest.raises(NotFound):
                await blobs.get(conn, bad)


@pytest.mark.parametrize("kind", KINDS)
async def test_mail_delivered_to_nobody_leaves_no_blob(
    kind: str, make_runtime: MakeRuntime, store: TestStore, system: AccessContext
) -> None:
    runtime = await make_runtime(kind)
    await make_team(runtime.services, system)
    result = await runtime.services.delivery.deliver(system, RAW, ["nobody@polres.co.uk"])
    assert result.delivered == () and result.unknown == ("nobody@polres.co.uk",)
    assert await count_rows(runtime.services, contents) == 0
    assert await stored_blobs(runtime, store) == []
