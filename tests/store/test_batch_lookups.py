"""The batched reads behind IMAP FETCH, POP3 read-ahead and \\Seen recording: the messages
of a list of ids that are in one folder, found by primary key. Before, SQLite (which has no
statistics to tell it otherwise) walked the folder's whole index for every batch of 500, so
fetching a folder cost its size squared."""

from typing import Any

from sqlalchemy import event

from securemail.core.context import AccessContext
from securemail.store.repos import messages as message_repo
from securemail.store.repos import summaries as summary_repo
from tests.store.conftest import ALICE, GROUP, Team, inbox_id, message


async def test_batch_lookups_find_only_the_folders_messages_by_primary_key(
    team: Team, system: AccessContext
) -> None:
    services = team.services
    for subject in ("one", "two", "three"):
        await services.delivery.deliver(system, message(subject, "a"), [GROUP])
    private = await services.delivery.deliver(system, message("private", "b"), [ALICE])
    (elsewhere,) = private.message_ids  # in alice's own INBOX, not the group's
    inbox = await inbox_id(services, team.alice, team.group_id)
    _folder, view = await services.messages.folder_view(team.alice, inbox)
    ids = [m.id for m in view]
    asked = [*ids, elsewhere, 10**9]  # one in another folder, one that does not exist

    db = services.deps.db
    statements: list[tuple[str, Any]] = []

    def seen_sql(_conn: Any, _cursor: Any, sql: str, params: Any, *_rest: Any) -> None:
        if "messages" in sql and " IN " in sql:
            statements.append((sql, params))

    event.listen(db.engine.sync_engine, "before_cursor_execute", seen_sql)
    try:
        async with db.read() as conn:
            states = await message_repo.read_states_in_folder(
                conn, inbox, team.alice.user_id, asked
            )
            summaries = await summary_repo.summaries_in_folder(
                conn, inbox, team.alice.user_id, asked
            )
            blobs = await message_repo.blob_ids_in_folder(conn, inbox, asked)
            present = await message_repo.ids_in_folder(conn, inbox, asked)
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", seen_sql)

    assert len(ids) == 3
    assert set(states) == set(summaries) == set(blobs) == present == set(ids)
    assert {s.blob_id for s in states.values()} == set(blobs.values())
    assert len(statements) == 4
    if not db.is_sqlite:
        return  # PostgreSQL plans by its statistics; the lookups' answers are checked above
    async with db.read() as conn:
        for sql, params in statements:
            plan = (await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params)).all()
            steps = [str(row[-1]) for row in plan]
            on_messages = [s for s in steps if s.startswith(("SEARCH messages", "SCAN messages"))]
            assert on_messages, steps
            assert all("INTEGER PRIMARY KEY" in s for s in on_messages), (sql, steps)
