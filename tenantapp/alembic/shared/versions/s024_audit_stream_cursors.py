"""how far each tenant's audit stream was delivered

Revision ID: s024
Revises: s023
Create Date: 2026-12-05

``delivered_seq``: the last audit entry (by ``stream_seq``, t016) the configured sink took.
The streamer sends from the next one; an entry sent but not acknowledged is sent again.
"""

from alembic import op

revision = "s024"
down_revision = "s023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE TABLE tenantapp.audit_stream_cursors ("
        " tenant_id bigint PRIMARY KEY REFERENCES tenantapp.tenants (id) ON DELETE CASCADE,"
        " delivered_seq bigint NOT NULL DEFAULT 0,"
        " delivered_at timestamptz)"
    )


def downgrade() -> None:
    op.execute("DROP TABLE tenantapp.audit_stream_cursors")
