"""messages are found by folder and MODSEQ: an IMAP session asks what changed since its last

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-27 13:55:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_messages_folder_modseq", "messages", ["folder_id", "modseq"])


def downgrade() -> None:
    op.drop_index("ix_messages_folder_modseq", table_name="messages")
