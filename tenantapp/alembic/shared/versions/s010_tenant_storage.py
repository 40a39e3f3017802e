"""tenant storage: each tenant's size as last measured, for its storage quota

Revision ID: s010
Revises: s009
Create Date: 2026-11-29

On the tenants row, so the directory entry a request resolves carries it; a periodic job per
tenant (``quotas.measure_storage``) keeps it current.
"""

import sqlalchemy as sa
from alembic import op

revision = "s010"
down_revision = "s009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tenants", sa.Column("storage_bytes", sa.BigInteger), schema="tenantapp")
    op.add_column(
        "tenants",
        sa.Column("storage_measured_at", sa.DateTime(timezone=True)),
        schema="tenantapp",
    )


def downgrade() -> None:
    op.drop_column("tenants", "storage_measured_at", schema="tenantapp")
    op.drop_column("tenants", "storage_bytes", schema="tenantapp")
