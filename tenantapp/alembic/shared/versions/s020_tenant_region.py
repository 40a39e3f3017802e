"""a tenant may be pinned to a region

Revision ID: s020
Revises: s019
Create Date: 2026-12-05

``region``: where the tenant's data must stay (``tenantapp.residency``): created, moved,
imported and restored only onto servers labelled with that region. NULL: not pinned.
"""

from alembic import op

revision = "s020"
down_revision = "s019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE tenantapp.tenants ADD COLUMN region varchar(32)")


def downgrade() -> None:
    op.execute("ALTER TABLE tenantapp.tenants DROP COLUMN region")
