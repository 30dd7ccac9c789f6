"""The full-text index under keyed tokens: what is indexed for a content, what a query asks.

The index never holds a word of a message. Each word is case-folded and split into its
trigrams (words under three letters stay whole), and each trigram is stored as its keyed token
(security/sealing.py). A content's text is the run of tokens of each distinct word, in the
word's order, each run ended by a boundary; the runs are sorted by their tokens, so the text
says nothing of the order of words. A query word asks for the run of its own trigrams as a
phrase, so exactly the contents with a word holding it as a substring of three or more letters
are found, as IMAP SEARCH (RFC 3501 section 6.4.4, "substring") expects; a query word of one or
two letters finds it only as a whole word. Both engines index the same text: SQLite FTS5
(unicode61) asks the phrase itself; PostgreSQL finds candidates by a tsvector of the tokens
and keeps those whose token text holds the phrase.
"""

import re

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from securemail.mail.parse import ParsedFields
from securemail.security.sealing import Keyring
from securemail.store.repos.common import keyring_of

_WORD = re.compile(r"\w+")
MAX_INDEXED_WORD = 64  # longer "words" (base64 runs, hashes) add tokens, not findability
BOUNDARY = "z"  # ends each word's run; never a token (tokens are 16 hex digits)

# The search-index row of one content, per dialect (also used by store/transfer.py).
FTS_INSERT = {
    "sqlite": "INSERT INTO content_fts (rowid, subject, from_addr, to_addrs, body) "
    "VALUES (:id, :subject, :from_addr, :to_addrs, :body)",
    "postgresql": "INSERT INTO content_search (content_id, doc, seq) "
    "SELECT :id, strip(to_tsvector('simple', d)), ' ' || d || ' ' FROM (SELECT "
    "CAST(:subject AS TEXT) || ' ' || :from_addr || ' ' || :to_addrs || ' ' || :body AS d) AS s "
    "ON CONFLICT DO NOTHING",
}


def _pieces(word: str) -> list[str]:
    if len(word) < 3:
        return ["w" + word]
    return ["t" + word[i : i + 3] for i in range(len(word) - 2)]


def words(value: str) -> list[str]:
    """The case-folded words of `value` (runs of letters, digits and underscores)."""
    return _WORD.findall(value.casefold())


def index_text(keyring: Keyring, value: str) -> str:
    """Each distinct word of `value` as the run of its tokens ended by BOUNDARY, the runs in
    the order of their tokens (not of the words), space separated."""
    distinct = {word[:MAX_INDEXED_WORD] for word in words(value)}  # mail repeats itself
    runs = sorted(" ".join(keyring.tokens(_pieces(word))) for word in distinct)
    return " ".join(f"{run} {BOUNDARY}" for run in runs)


def query_phrases(keyring: Keyring, term: str) -> list[list[str]]:
    """The runs of tokens a content must hold, each as a phrase, to match the query text
    `term`: one per word (empty: the text has no word to ask)."""
    return [keyring.tokens(_pieces(word[:MAX_INDEXED_WORD])) for word in words(term)]


def index_params(keyring: Keyring, content_id: int, fields: ParsedFields) -> dict[str, object]:
    return {
        "id": content_id,
        "subject": index_text(keyring, fields.subject),
        "from_addr": index_text(keyring, fields.from_addr),
        "to_addrs": index_text(keyring, f"{fields.to_addrs} {fields.cc_addrs}"),
        "body": index_text(keyring, fields.text),
    }


async def index_content(conn: AsyncConnection, content_id: int, fields: ParsedFields) -> None:
    params = index_params(keyring_of(conn), content_id, fields)
    await conn.execute(text(FTS_INSERT[conn.dialect.name]), params)
