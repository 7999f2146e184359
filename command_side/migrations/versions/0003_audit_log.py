"""audit log (one row per command and per refused request); the request id of each change

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, UUID

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("key_name", sa.Text, nullable=False),
        sa.Column("client", sa.Text, nullable=False),
        sa.Column("method", sa.Text, nullable=False),
        sa.Column("route", sa.Text, nullable=False),
        sa.Column("doc_ids", ARRAY(UUID(as_uuid=True)), nullable=False, server_default="{}"),
        sa.Column("versions", ARRAY(sa.Integer), nullable=False, server_default="{}"),
        sa.Column("idempotency_key", sa.Text),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("outcome", sa.Text, nullable=False),
        sa.Column("request_id", sa.Text),
        sa.Column("detail", sa.Text),
    )
    op.create_index("audit_log_at", "audit_log", ["at"])
    op.create_index("audit_log_key", "audit_log", ["key_name", "at"])
    op.create_index("audit_log_docs", "audit_log", ["doc_ids"], postgresql_using="gin")
    op.add_column("outbox", sa.Column("request_id", sa.Text))


def downgrade() -> None:
    op.drop_column("outbox", "request_id")
    op.drop_table("audit_log")
