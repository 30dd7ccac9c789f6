"""Full-text and field search over messages, one method for SQLite FTS5 and PostgreSQL.

Free text is matched by keyed tokens (store/repos/index.py): the index holds no word. Each
query word is a phrase of tokens: SQLite FTS5 matches it; PostgreSQL narrows by its tsvector
(every token, any order) and keeps the contents whose token text holds each phrase."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, TextClause, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from securemail.core.model import MessageSummary
from securemail.core.search import SearchQuery
from securemail.store.repos.common import keyring_of, like_escape
from securemail.store.repos.index import query_phrases
from securemail.store.repos.summaries import summary_query, to_summary
from securemail.store.schema import contents, messages, seen

# Each condition binds its own parameter; the SQL text itself holds no user input.
_FTS_SQLITE = "contents.id IN (SELECT rowid FROM content_fts WHERE content_fts MATCH :fts)"
_FTS_POSTGRES = (
    "contents.id IN (SELECT content_id FROM content_search "
    "WHERE doc @@ plainto_tsquery('simple', :fts){phrases})"
)
_PHRASE_POSTGRES = " AND strpos(seq, :phrase{n}) > 0"  # the token text is ' '-framed

DRIVE_LIMIT = 400  # full-text hits fetched first, newest first: at least this many
DRIVE_MAX = 5000  # and at most this many (4 pages of the largest page size)


def _phrases(conn: AsyncConnection, query: SearchQuery) -> list[list[str]] | None:
    """The run of keyed tokens each free-text word asks for (store/repos/index.py), all
    required; None when a term holds no letter or digit: the index has nothing to match it."""
    keyring = keyring_of(conn)
    found: dict[tuple[str, ...], None] = {}
    for term in query.terms():
        phrases = query_phrases(keyring, term)
        if not phrases:
            return None
        found.update(dict.fromkeys(tuple(p) for p in phrases))
    return [list(p) for p in found]


def _fts_query(phrases: list[list[str]]) -> str:
    """FTS5: each word's tokens as one quoted phrase; phrases are implicitly ANDed."""
    return " ".join('"' + " ".join(phrase) + '"' for phrase in phrases)


def _postgres_condition(phrases: list[list[str]]) -> TextClause:
    """Every token through the GIN index, then each phrase in the ' '-framed token text."""
    sql = _FTS_POSTGRES.format(
        phrases="".join(_PHRASE_POSTGRES.format(n=n) for n in range(len(phrases)))
    )
    values = {f"phrase{n}": " " + " ".join(p) + " " for n, p in enumerate(phrases)}
    every = " ".join(dict.fromkeys(t for p in phrases for t in p))
    return text(sql).bindparams(fts=every, **values)


def _window(limit: int) -> int:
    """How many of the newest hits to fetch for a page of `limit` results."""
    return min(max(DRIVE_LIMIT, 4 * limit), DRIVE_MAX)


async def _newest_hits(
    conn: AsyncConnection, phrases: list[list[str]], window: int
) -> list[int] | None:
    """On SQLite, the ids of the newest `window` + 1 contents holding every phrase (None: no
    phrase, or PostgreSQL, whose planner chooses by statistics). FTS5 reads them from the end
    of its lists and stops: cheap however common the word."""
    if conn.dialect.name != "sqlite" or not phrases:
        return None
    rows = await conn.execute(
        text(
            "SELECT rowid FROM content_fts WHERE content_fts MATCH :q ORDER BY rowid DESC LIMIT :n"
        ),
        {"q": _fts_query(phrases), "n": window + 1},
    )
    return [int(r[0]) for r in rows]


def _conditions(
    dialect: str, query: SearchQuery, phrases: list[list[str]]
) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    if phrases:
        found = (
            text(_FTS_SQLITE).bindparams(fts=_fts_query(phrases))
            if dialect == "sqlite"
            else _postgres_condition(phrases)
        )
        conds.append(found)  # type: ignore[arg-type]
    for column, value in (
        (contents.c.from_addr, query.from_addr),
        (contents.c.to_addrs, query.to_addr),
        (contents.c.subject, query.subject),
    ):
        if value:
            conds.append(column.ilike(f"%{like_escape(value)}%", escape="\\"))
    if query.since is not None:
        conds.append(messages.c.internal_date >= query.since)
    if query.before is not None:
        conds.append(messages.c.internal_date < query.before)
    if query.unseen is not None:
        conds.append(seen.c.user_id.is_(None) if query.unseen else seen.c.user_id.is_not(None))
    if query.has_attachments is not None:
        conds.append(contents.c.has_attachments.is_(query.has_attachments))
    return conds


async def search(
    conn: AsyncConnection,
    folder_ids: Sequence[int],
    user_id: int,
    query: SearchQuery,
    limit: int,
) -> list[MessageSummary]:
    """Messages in the given folders (already checked by the caller) matching every criterion,
    the newest `limit` of them (by internal date).

    SQLite walks a folder along its date index unless told otherwise, so a rare word would
    cost a scan of the whole folder and a common one a full list of its hits. Instead: with
    at most a window of hits (4 pages), start from them; with more, try the messages of the
    newest window of hits, which answer exactly when no message as new as the last one found has
    an older content (content ids grow with arrival; only an APPEND of old mail breaks that,
    and then the folder walk answers)."""
    if not folder_ids:
        return []
    window = _window(limit)
    phrases = _phrases(conn, query)
    if phrases is None:
        return []
    hits = await _newest_hits(conn, phrases, window)
    if hits is not None and len(hits) <= window:
        return await _among(conn, folder_ids, user_id, query, hits, limit) if hits else []
    if hits is not None:
        found = await _among(conn, folder_ids, user_id, query, hits, limit)
        if len(found) == limit and not await _older_content_since(
            conn, folder_ids, found[-1].internal_date, min(hits)
        ):
            return found
    stmt = (
        summary_query(user_id)
        .where(
            messages.c.folder_id.in_(folder_ids), *_conditions(conn.dialect.name, query, phrases)
        )
        .order_by(messages.c.internal_date.desc(), messages.c.id.desc())
        .limit(limit)
    )
    return [to_summary(r) for r in await conn.execute(stmt)]


async def _among(
    conn: AsyncConnection,
    folder_ids: Sequence[int],
    user_id: int,
    query: SearchQuery,
    content_ids: list[int],
    limit: int,
) -> list[MessageSummary]:
    """The newest `limit` messages of these contents in the folders that meet the criteria
    the index did not (fields, dates, unseen, attachments). "+ 0" keeps SQLite off the
    folder index: it starts from the contents instead."""
    stmt = (
        summary_query(user_id)
        .where(
            (messages.c.folder_id + 0).in_(folder_ids),
            messages.c.content_id.in_(content_ids),
            *_conditions(conn.dialect.name, query, []),
        )
        .order_by(messages.c.internal_date.desc(), messages.c.id.desc())
        .limit(limit)
    )
    return [to_summary(r) for r in await conn.execute(stmt)]


async def _older_content_since(
    conn: AsyncConnection, folder_ids: Sequence[int], since: datetime, below: int
) -> bool:
    """Whether a message dated `since` or later has a content older than content id `below`
    (a range of the folder's date index: the few messages newer than the last one found)."""
    stmt = (
        select(messages.c.id)
        .where(
            messages.c.folder_id.in_(folder_ids),
            messages.c.internal_date >= since,
            messages.c.content_id < below,
        )
        .limit(1)
    )
    return (await conn.scalar(stmt)) is not None
