"""tenant registry

Revision ID: s001
Revises:
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "s001"
down_revision = None
branch_labels = None
depends_on = None

SCHEMA = "tenantapp"


def upgrade() -> None:
    op.execute(sa.schema.CreateSequence(sa.Sequence("tenants_id_seq", schema=SCHEMA)))
    op.create_table(
        "tenants",
        sa.Column(
            "id",
            sa.BigInteger,
            sa.Sequence("tenants_id_seq", schema=SCHEMA),
            server_default=sa.text("nextval('tenantapp.tenants_id_seq')"),
            primary_key=True,
        ),
        sa.Column("slug", sa.String(63), nullable=False),
        sa.Column("schema_name", sa.String(63), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="active"),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.func.now(),
        ),
        sa.PrimaryKeyConstraint("id", name="pk_tenants"),
        sa.UniqueConstraint("slug", name="uq_tenants_slug"),
        sa.UniqueConstraint("schema_name", name="uq_tenants_schema_name"),
        sa.CheckConstraint(
            "status IN ('active', 'suspended', 'deleted')", name="ck_tenants_status"
        ),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("tenants", schema=SCHEMA)
    op.execute(sa.schema.DropSequence(sa.Sequence("tenants_id_seq", schema=SCHEMA)))
