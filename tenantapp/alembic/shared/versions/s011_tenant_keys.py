"""tenant keys: each tenant's data keys, wrapped by a key-encryption key

Revision ID: s011
Revises: s010
Create Date: 2026-11-29

The key-encryption keys are never in the database (settings or environment). A tenant's rows
here go with its registry row: purging the tenant destroys its keys (crypto-shredding).
"""

import sqlalchemy as sa
from alembic import op

revision = "s011"
down_revision = "s010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tenant_keys",
        sa.Column(
            "tenant_id",
            sa.BigInteger,
            sa.ForeignKey("tenantapp.tenants.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("kek", sa.String(64), nullable=False),
        sa.Column("wrapped", sa.LargeBinary, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        schema="tenantapp",
    )


def downgrade() -> None:
    op.drop_table("tenant_keys", schema="tenantapp")
