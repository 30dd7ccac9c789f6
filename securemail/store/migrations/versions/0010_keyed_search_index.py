"""the full-text index holds keyed tokens, never words: rebuilt empty, refilled at start

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27 14:05:00

SQLite's index was FTS5 with the trigram tokenizer over the plain text; it becomes FTS5 with
the unicode61 tokenizer over keyed tokens (store/repos/index.py). PostgreSQL's tsvectors held
the words; they are emptied. `securemail serve` indexes every content missing from the index
from its blob when it starts (store/reseal.py), which needs the keyring a migration lacks.
`secure_delete` makes SQLite overwrite the dropped pages instead of leaving the words in them.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = "subject, from_addr, to_addrs, body"


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("PRAGMA secure_delete = ON")
        op.execute("DROP TABLE content_fts")
        op.execute(f"CREATE VIRTUAL TABLE content_fts USING fts5({_COLUMNS}, tokenize='unicode61')")
        return
    op.execute("DELETE FROM content_search")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE content_fts")
        op.execute(f"CREATE VIRTUAL TABLE content_fts USING fts5({_COLUMNS}, tokenize='trigram')")
        return
    op.execute("DELETE FROM content_search")
