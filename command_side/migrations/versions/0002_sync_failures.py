"""sync failures and dead letters

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.create_table(
        "sync_failures",
        sa.Column("store", sa.Text, primary_key=True),
        sa.Column("doc_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("dead", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("first_failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_failed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("sync_failures_dead", "sync_failures", ["store"],
                    postgresql_where=sa.text("dead"))


def downgrade() -> None:
    op.drop_index("sync_failures_dead", table_name="sync_failures")
    op.drop_table("sync_failures")
