"""seen rows carry their message's folder, for fast per-user unread counts

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 06:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("seen", schema=None) as batch_op:
        batch_op.add_column(sa.Column("folder_id", ID, nullable=True))
    op.execute(
        "UPDATE seen SET folder_id = "
        "(SELECT messages.folder_id FROM messages WHERE messages.id = seen.message_id)"
    )
    op.execute("DELETE FROM seen WHERE folder_id IS NULL")  # rows of vanished messages
    with op.batch_alter_table("seen", schema=None) as batch_op:
        batch_op.alter_column("folder_id", existing_type=ID, nullable=False)
        batch_op.create_index("ix_seen_user_folder", ["user_id", "folder_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("seen", schema=None) as batch_op:
        batch_op.drop_index("ix_seen_user_folder")
        batch_op.drop_column("folder_id")
