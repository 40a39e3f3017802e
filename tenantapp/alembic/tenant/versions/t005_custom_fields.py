"""custom fields: a tenant's own fields on its users, defined by its owner

Revision ID: t005
Revises: t004
Create Date: 2026-11-28

The definitions are rows of ``custom_fields``; the values live in ``users.custom`` (JSONB),
validated against the definitions by the app (``tenantapp.users.custom``).
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "t005"
down_revision = "t004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "custom_fields",
        sa.Column("name", sa.String(63), primary_key=True),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("required", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("choices", JSONB, nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
    )
    op.add_column(
        "users",
        sa.Column("custom", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    )


def downgrade() -> None:
    op.drop_column("users", "custom")
    op.drop_table("custom_fields")
