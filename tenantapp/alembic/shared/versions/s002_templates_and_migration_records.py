"""schema templates and per-tenant migration records

Revision ID: s002
Revises: s001
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "s002"
down_revision = "s001"
branch_labels = None
depends_on = None

SCHEMA = "tenantapp"


def upgrade() -> None:
    op.create_table(
        "schema_templates",
        sa.Column("revision", sa.String(64), nullable=False),
        sa.Column("ddl", sa.Text, nullable=False),
        sa.Column(
            "captured_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint("revision", name="pk_schema_templates"),
        schema=SCHEMA,
    )
    op.create_table(
        "tenant_migrations",
        sa.Column("tenant_id", sa.BigInteger, nullable=False),
        sa.Column("revision", sa.String(64), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("duration_ms", sa.Integer, nullable=True),
        sa.Column(
            "attempted_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint("tenant_id", name="pk_tenant_migrations"),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            [f"{SCHEMA}.tenants.id"],
            name="fk_tenant_migrations_tenant_id_tenants",
            ondelete="CASCADE",
        ),
        sa.CheckConstraint("status IN ('ok', 'failed')", name="ck_tenant_migrations_status"),
        schema=SCHEMA,
    )
    # tenants made before this revision: their revision is read from their own schema later
    op.execute(
        f"INSERT INTO {SCHEMA}.tenant_migrations (tenant_id, revision, status) "  # noqa: S608
        f"SELECT id, NULL, 'ok' FROM {SCHEMA}.tenants"
    )


def downgrade() -> None:
    op.drop_table("tenant_migrations", schema=SCHEMA)
    op.drop_table("schema_templates", schema=SCHEMA)
