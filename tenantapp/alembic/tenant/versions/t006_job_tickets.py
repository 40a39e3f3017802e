"""job tickets: the jobs a tenant's transactions asked for, written in those transactions

Revision ID: t006
Revises: t005
Create Date: 2026-11-29

A request that defers a job writes a ticket here, in its own transaction, so a rolled-back
request leaves none; the ticket is relayed to the queue after the commit, and the job deletes
it in the transaction that does its work, so a ticket relayed twice runs once
(``tenantapp.jobs``).
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "t006"
down_revision = "t005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_tickets",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("task", sa.String(100), nullable=False),
        sa.Column("args", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("relayed_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("job_tickets")
