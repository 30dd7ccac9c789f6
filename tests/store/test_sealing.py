"""Encryption at rest: a store copied without its key file shows no message text, the search
index included; keys rotate while a runtime keeps serving; the index refills itself."""

from pathlib import Path

from sqlalchemy import select, text

from securemail.core.context import AccessContext
from securemail.core.search import SearchQuery
from securemail.security.sealing import Keyring
from securemail.store.repos import credentials as cred_repo
from securemail.store.reseal import index_missing, key_usage, reseal
from securemail.store.schema import users
from tests.conftest import TestStore
from tests.store.conftest import GROUP, MakeRuntime, Team, inbox_id, make_team

BODY_WORD = "Quokkazanzibar"
ATTACHED_WORD = "Marmosetvalparaiso"
SUBJECT = "Witness statement"
SECRET_MAIL = (
    f"From: jane@university.example\r\nTo: {GROUP}\r\nSubject: {SUBJECT}\r\n"
    "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n"
    f"--b1\r\nContent-Type: text/plain\r\n\r\nThe witness saw {BODY_WORD} at noon.\r\n"
    "--b1\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=a.txt\r\n"
    f"\r\nAttached notes: {ATTACHED_WORD}.\r\n--b1--\r\n"
).encode()
TOTP_SEED = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def readable_forms(word: str) -> list[bytes]:
    """How a word would show in a file: as text in either case, or as PostgreSQL hex."""
    return [word.encode(), word.lower().encode(), word.encode().hex().encode()]


async def everything_stored(team: Team, store: TestStore) -> bytes:
    """Every byte a thief gets without the key file: data directory files but the key, and
    on PostgreSQL every row of every table of the schema as text."""
    found = b""
    for path in sorted(store.data_dir.rglob("*")):
        if path.is_file() and path.name != "data.keys":
            found += path.read_bytes()
    db = team.services.deps.db
    if not db.is_sqlite:
        async with db.read() as conn:
            tables = await conn.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
            )
            for (table,) in tables.all():
                rows = await conn.execute(text(f'SELECT t::text FROM "{table}" t'))
                found += "\n".join(r[0] for r in rows).encode()
    return found


async def test_the_store_without_its_key_holds_no_message_text(
    team: Team, system: AccessContext, store: TestStore
) -> None:
    services = team.services
    await services.delivery.deliver(system, SECRET_MAIL, [GROUP])
    async with services.deps.db.write() as conn:
        await cred_repo.set_totp_secret(conn, team.alice.user_id, TOTP_SEED)

    stolen = await everything_stored(team, store)

    for word in (BODY_WORD, ATTACHED_WORD, TOTP_SEED, "witness saw"):
        assert not any(form in stolen for form in readable_forms(word)), word
    # What stays readable, as docs/threat-model.md says: the subject line is metadata.
    assert SUBJECT.encode() in stolen
    # The user still finds the message by any word of it, and a piece of a word.
    for words in (BODY_WORD, "zanzib", "witness noon"):
        hits = await services.messages.search(team.alice, team.group_id, SearchQuery(text=words))
        assert [h.subject for h in hits] == [SUBJECT], words
    async with services.deps.db.read() as conn:
        assert await cred_repo.totp_secret(conn, team.alice.user_id) == TOTP_SEED
        stored = await conn.scalar(
            select(users.c.totp_secret).where(users.c.id == team.alice.user_id)
        )
    assert str(stored).startswith("sealed1:")


async def test_keys_rotate_while_a_runtime_serves(
    make_runtime: MakeRuntime, system: AccessContext, store: TestStore
) -> None:
    serving = await make_runtime()  # a node that keeps running through the rotation
    team = await make_team(serving.services, system)
    first = await serving.services.delivery.deliver(system, SECRET_MAIL, [GROUP])
    async with serving.db.write() as conn:
        await cred_repo.set_totp_secret(conn, team.alice.user_id, TOTP_SEED)
    key_file = store.data_dir / "secrets" / "data.keys"
    before = await key_usage(serving.db, serving.services.deps.blobs)
    assert set(before.blobs) == {1} and set(before.secrets) == {1}

    operator = Keyring.load(key_file, create=False)  # `securemail keys rotate`, elsewhere
    assert operator.rotate() == 2
    tool = await make_runtime(migrate=False)
    resealed = await reseal(tool.db, tool.services.deps.blobs, operator)

    assert resealed == sum(before.blobs.values()) + 1  # every blob and the TOTP seed
    after = await key_usage(tool.db, tool.services.deps.blobs)
    assert set(after.blobs) == {2} and set(after.secrets) == {2} and after.stale(2) == 0
    # The serving node never restarted: it opens what key 2 sealed and still searches.
    opened = await serving.services.messages.open_message(team.alice, first.message_ids[0])
    assert BODY_WORD.encode() in opened.raw
    hits = await serving.services.messages.search(
        team.alice, team.group_id, SearchQuery(text=BODY_WORD)
    )
    assert len(hits) == 1
    async with serving.db.read() as conn:
        assert await cred_repo.totp_secret(conn, team.alice.user_id) == TOTP_SEED
    assert "key 2 " in key_file.read_text()


async def test_a_store_whose_index_was_emptied_is_indexed_again(
    team: Team, system: AccessContext
) -> None:
    """Migration 0010 empties the index (its words were in clear); serve refills it."""
    services = team.services
    await services.delivery.deliver(system, SECRET_MAIL, [GROUP])
    folder = await inbox_id(services, team.alice, team.group_id)
    query = SearchQuery(text=BODY_WORD)
    db = services.deps.db
    table = "content_fts" if db.is_sqlite else "content_search"
    async with db.write() as conn:
        await conn.execute(text(f"DELETE FROM {table}"))
    assert await services.messages.search(team.alice, team.group_id, query, folder) == []

    assert await index_missing(db, services.deps.blobs) == 1

    hits = await services.messages.search(team.alice, team.group_id, query, folder)
    assert [h.subject for h in hits] == [SUBJECT]
    assert await index_missing(db, services.deps.blobs) == 0


def test_the_key_file_is_private(store: TestStore, tmp_path: Path) -> None:
    path = tmp_path / "keys" / "data.keys"
    keyring = Keyring.load(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert keyring.key_ids == [1]
    assert Keyring.load(path, create=False).token("abc") == keyring.token("abc")
