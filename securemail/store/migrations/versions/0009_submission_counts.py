"""recent_submissions: one row per message a user submitted in the last hour, for the
[limits] max_submissions_per_hour count shared by every node

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "recent_submissions",
        sa.Column("id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recent_submissions")),
    )
    with op.batch_alter_table("recent_submissions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_recent_submissions_at"), ["at"], unique=False)
        batch_op.create_index("ix_recent_submissions_user_at", ["user_id", "at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("recent_submissions", schema=None) as batch_op:
        batch_op.drop_index("ix_recent_submissions_user_at")
        batch_op.drop_index(batch_op.f("ix_recent_submissions_at"))
    op.drop_table("recent_submissions")
