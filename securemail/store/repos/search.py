"""Full-text and field search over messages, one method for SQLite FTS5 and PostgreSQL."""

from collections.abc import Sequence
from dataclasses import replace

from sqlalchemy import ColumnElement, and_, text
from sqlalchemy.ext.asyncio import AsyncConnection

from securemail.core.model import MessageSummary
from securemail.core.search import SearchQuery
from securemail.store.repos.common import like_escape
from securemail.store.repos.messages import summary_query, to_summary
from securemail.store.schema import contents, messages, seen

# Each condition binds its own parameter; the SQL text itself holds no user input.
_FTS_SQLITE = "contents.id IN (SELECT rowid FROM content_fts WHERE content_fts MATCH :term)"
_FTS_SQLITE_SHORT = (
    "contents.id IN (SELECT rowid FROM content_fts WHERE subject LIKE :term ESCAPE '\\' "
    "OR from_addr LIKE :term ESCAPE '\\' OR to_addrs LIKE :term ESCAPE '\\' "
    "OR body LIKE :term ESCAPE '\\')"
)
_FTS_POSTGRES = (
    "contents.id IN (SELECT content_id FROM content_search "
    "WHERE doc @@ plainto_tsquery('simple', :term))"
)


def _fts_condition(dialect: str, index: int, term: str) -> ColumnElement[bool]:
    """One free-text word: SQLite trigram FTS5 (substring) or PostgreSQL tsquery (word)."""
    if dialect == "sqlite" and len(term) >= 3:  # quoted phrase: indexed substring match
        sql, value = _FTS_SQLITE, '"' + term.replace('"', '""') + '"'
    elif dialect == "sqlite":  # trigrams need 3 characters: scan for shorter words
        sql, value = _FTS_SQLITE_SHORT, f"%{like_escape(term)}%"
    else:
        sql, value = _FTS_POSTGRES, term
    name = f"term{index}"
    clause = text(sql.replace(":term", f":{name}"))
    return clause.bindparams(**{name: value})  # type: ignore[return-value]


DRIVE_LIMIT = 2000  # at most this many full-text hits: fetch them first, then their messages


def _fts_query(terms: list[str]) -> str:
    """Every word of 3+ characters as one FTS5 query: quoted phrases, implicitly ANDed."""
    return " ".join('"' + t.replace('"', '""') + '"' for t in terms)


async def _few_hits(conn: AsyncConnection, query: SearchQuery) -> list[int] | None:
    """On SQLite, the content ids matching every indexed word when there are few of them
    (None: no indexed word, or too many hits to list). With few hits the search starts from
    them; with many it walks the folder newest first and stops at a page's worth. Without
    this choice SQLite always walks the folder, and a rare word then costs a full scan."""
    long_terms = [t for t in query.terms() if len(t) >= 3]
    if conn.dialect.name != "sqlite" or not long_terms:
        return None
    rows = await conn.execute(
        text("SELECT rowid FROM content_fts WHERE content_fts MATCH :q LIMIT :n"),
        {"q": _fts_query(long_terms), "n": DRIVE_LIMIT + 1},
    )
    ids = [int(r[0]) for r in rows]
    return ids if len(ids) <= DRIVE_LIMIT else None


def _conditions(dialect: str, query: SearchQuery) -> list[ColumnElement[bool]]:
    terms = query.terms()
    if dialect == "sqlite" and any(len(t) >= 3 for t in terms):  # one MATCH for all of them
        long_terms = [t for t in terms if len(t) >= 3]
        clause = text(_FTS_SQLITE.replace(":term", ":fts")).bindparams(fts=_fts_query(long_terms))
        conds: list[ColumnElement[bool]] = [clause]  # type: ignore[list-item]
        terms = [t for t in terms if len(t) < 3]
    else:
        conds = []
    conds += [_fts_condition(dialect, i, term) for i, term in enumerate(terms)]
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
    """Messages in the given folders (already checked by the caller) matching every criterion."""
    if not folder_ids:
        return []
    hits = await _few_hits(conn, query)
    if hits is not None:  # every long word matched here; the short ones stay conditions
        if not hits:
            return []
        short = replace(query, text=" ".join(t for t in query.terms() if len(t) < 3))
        conds = [messages.c.content_id.in_(hits), *_conditions(conn.dialect.name, short)]
    else:
        conds = _conditions(conn.dialect.name, query)
    # "+ 0": with few hits, keep SQLite off the folder index, which would walk every message
    in_folders = (messages.c.folder_id + 0 if hits is not None else messages.c.folder_id).in_(
        folder_ids
    )
    stmt = (
        summary_query(user_id)
        .where(in_folders, and_(True, *conds))
        .order_by(messages.c.internal_date.desc(), messages.c.id.desc())
        .limit(limit)
    )
    rows = await conn.execute(stmt)
    return [to_summary(r) for r in rows]
