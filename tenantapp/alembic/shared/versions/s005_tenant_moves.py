"""tenant moves: the durable record of each tenant's move between modes and servers

Revision ID: s005
Revises: s004
Create Date: 2026-11-28

A move goes copying → switched → done (or failed); a run that dies is resumed from its record:
before the switch the copy starts over, after it only the clean-up is left.
"""

import sqlalchemy as sa
from alembic import op

revision = "s005"
down_revision = "s004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tenant_moves",
        sa.Column("tenant_id", sa.BigInteger, nullable=False),
        sa.Column("source_mode", sa.String(16), nullable=False),
        sa.Column("source_server", sa.String(63), nullable=False),
        sa.Column("source_schema", sa.String(63), nullable=False),
        sa.Column("target_mode", sa.String(16), nullable=False),
        sa.Column("target_server", sa.String(63), nullable=False),
        sa.Column("target_schema", sa.String(63), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("rows_copied", sa.BigInteger, nullable=True),
        sa.Column("pause_ms", sa.Integer, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column(
            "started_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint("tenant_id", name="pk_tenant_moves"),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenantapp.tenants.id"],
            name="fk_tenant_moves_tenant_id_tenants",
            ondelete="CASCADE",
        ),
        schema="tenantapp",
    )


def downgrade() -> None:
    op.drop_table("tenant_moves", schema="tenantapp")
