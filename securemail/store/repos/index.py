"""The full-text index under keyed tokens: what is indexed for a content, what a query asks.

The index never holds a word of a message. Each word is case-folded and split into its
trigrams (words under three letters stay whole), and each trigram is stored as its keyed token
(security/sealing.py). A query word asks for every token of its trigrams, so any substring of
three or more letters within a word is found, as IMAP SEARCH (RFC 3501 section 6.4.4,
"substring") expects; a query word of one or two letters finds it only as a whole word.
Both engines index the same token text: SQLite FTS5 (unicode61) and PostgreSQL tsvector.
"""

import re

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from securemail.mail.parse import ParsedFields
from securemail.security.sealing import Keyring
from securemail.store.repos.common import keyring_of

_WORD = re.compile(r"\w+")
MAX_INDEXED_WORD = 64  # longer "words" (base64 runs, hashes) add tokens, not findability

# The search-index row of one content, per dialect (also used by store/transfer.py).
FTS_INSERT = {
    "sqlite": "INSERT INTO content_fts (rowid, subject, from_addr, to_addrs, body) "
    "VALUES (:id, :subject, :from_addr, :to_addrs, :body)",
    "postgresql": "INSERT INTO content_search (content_id, doc) VALUES (:id, "
    "to_tsvector('simple', :subject || ' ' || :from_addr || ' ' || :to_addrs || ' ' || :body)) "
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
    """The distinct tokens of `value`, space separated (order says nothing either)."""
    pieces: set[str] = set()
    for word in set(words(value)):  # each distinct word once: mail repeats itself
        word = word[:MAX_INDEXED_WORD]
        if len(word) < 3:
            pieces.add("w" + word)
        else:
            pieces.update(["t" + word[i : i + 3] for i in range(len(word) - 2)])
    return " ".join(sorted(keyring.tokens(pieces)))


def query_tokens(keyring: Keyring, term: str) -> list[str]:
    """The tokens a content must hold to match the query word `term` (empty: none to ask)."""
    pieces: dict[str, None] = {}
    for word in words(term):
        pieces.update(dict.fromkeys(_pieces(word[:MAX_INDEXED_WORD])))
    return keyring.tokens(pieces)


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
