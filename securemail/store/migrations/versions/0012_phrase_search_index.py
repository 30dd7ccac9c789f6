"""the keyed index holds each word's tokens in order: emptied, refilled at start

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-27 17:20:00

Migration 0010's index held a content's trigram tokens as a set, so a query word matched any
content holding its trigrams in any order (`bmtok05555` found `bmtok05551`). The index now holds
each word's tokens as a run (store/repos/index.py) and a query word is asked as a phrase;
PostgreSQL keeps the token text beside its tsvector (`seq`) to check the phrase. The old rows
cannot be turned into runs without the words, so the index is emptied and `securemail serve`
indexes the missing contents again from their blobs when it starts (store/reseal.py).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DELETE FROM content_fts")
        return
    op.execute("DELETE FROM content_search")
    op.execute("ALTER TABLE content_search ADD COLUMN seq TEXT NOT NULL")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DELETE FROM content_fts")
        return
    op.execute("DELETE FROM content_search")
    op.execute("ALTER TABLE content_search DROP COLUMN seq")
