"""plans: the plan a tenant is on, and the plan a move takes it to

Revision ID: s025
Revises: s024
Create Date: 2026-12-05

A plan (declared in the ini: ``tenantapp.plan.NAME.*``) places a tenant (mode, server or
region) and sets its quotas, pace, settings and flags beneath its own overrides. When a new plan
places the tenant elsewhere, the online move carries it (``tenant_moves.plan``) and the switch
sets it in the same registry update, so the limits change with the place.
"""

import sqlalchemy as sa
from alembic import op

revision = "s025"
down_revision = "s024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tenants", sa.Column("plan", sa.String(63), nullable=True), schema="tenantapp")
    op.add_column(
        "tenant_moves", sa.Column("plan", sa.String(63), nullable=True), schema="tenantapp"
    )


def downgrade() -> None:
    op.drop_column("tenant_moves", "plan", schema="tenantapp")
    op.drop_column("tenants", "plan", schema="tenantapp")
