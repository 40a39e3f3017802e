"""per-tenant settings and feature flags: overrides of the ini's defaults, on the registry row

Revision ID: s006
Revises: s005
Create Date: 2026-11-28

On the tenants row, so the directory that resolves a tenant carries them and the row's trigger
(s003) tells every process's cache when they change.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "s006"
down_revision = "s005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for column in ("settings", "flags"):
        op.add_column(
            "tenants",
            sa.Column(column, JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
            schema="tenantapp",
        )


def downgrade() -> None:
    for column in ("settings", "flags"):
        op.drop_column("tenants", column, schema="tenantapp")
