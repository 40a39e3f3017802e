"""tenant usage: a per-tenant, per-day ledger of requests, database time, rows and bytes

Revision ID: s008
Revises: s007
Create Date: 2026-11-28

Each app process adds what it counted every few seconds (``tenantapp.metrics.usage``), so the
ledger is the sum over processes; the operator API reads it.
"""

import sqlalchemy as sa
from alembic import op

revision = "s008"
down_revision = "s007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tenant_usage",
        sa.Column(
            "tenant_id",
            sa.BigInteger,
            sa.ForeignKey("tenantapp.tenants.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("requests", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("errors", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("db_ms", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("rows", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("bytes", sa.BigInteger, nullable=False, server_default="0"),
        schema="tenantapp",
    )


def downgrade() -> None:
    op.drop_table("tenant_usage", schema="tenantapp")
