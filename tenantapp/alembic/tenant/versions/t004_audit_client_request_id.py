"""audit: the server's request id and the client's, side by side; room for an email as actor

Revision ID: t004
Revises: t003
Create Date: 2026-11-28

The request id was the client's X-Request-Id when it looked sane, so a client could choose what
the audit log says. Now ``request_id`` is always the server's, and the client's is kept beside
it. A failed login names the email tried as its actor, so the column holds an email's length.
"""

import sqlalchemy as sa
from alembic import op

revision = "t004"
down_revision = "t003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("audit_log", sa.Column("client_request_id", sa.String(64), nullable=True))
    op.alter_column("audit_log", "actor", type_=sa.String(300), existing_nullable=False)


def downgrade() -> None:
    op.execute("UPDATE audit_log SET actor = left(actor, 80)")
    op.alter_column("audit_log", "actor", type_=sa.String(80), existing_nullable=False)
    op.drop_column("audit_log", "client_request_id")
