"""folders carry their message count, kept by every statement that adds or removes one

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27 10:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("folders", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("message_count", sa.BigInteger(), nullable=False, server_default="0")
        )
    op.execute(
        "UPDATE folders SET message_count = "
        "(SELECT count(*) FROM messages WHERE messages.folder_id = folders.id)"
    )


def downgrade() -> None:
    with op.batch_alter_table("folders", schema=None) as batch_op:
        batch_op.drop_column("message_count")
