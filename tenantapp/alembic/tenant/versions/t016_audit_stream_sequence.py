"""audit: a stream sequence, given in the order entries became visible

Revision ID: t016
Revises: t015
Create Date: 2026-12-05

``stream_seq`` numbers a tenant's audit entries 1, 2, 3, … for the audit stream
(``tenantapp.audit.streaming``). The ids cannot serve: they are taken when a transaction
inserts, and transactions commit in another order, so a reader following ids would pass over
an entry that commits late, for good. The streamer numbers the entries it finds unnumbered, in
its own transaction, one streamer a tenant at a time: an entry that commits late gets the next
number when it is seen, and the numbers have no gap.
"""

import sqlalchemy as sa
from alembic import op

revision = "t016"
down_revision = "t015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("audit_log", sa.Column("stream_seq", sa.BigInteger, nullable=True))
    op.create_index(
        "audit_log_unsequenced", "audit_log", ["id"], postgresql_where=sa.text("stream_seq IS NULL")
    )
    op.create_index("audit_log_stream_seq", "audit_log", ["stream_seq"])


def downgrade() -> None:
    op.drop_index("audit_log_stream_seq", "audit_log")
    op.drop_index("audit_log_unsequenced", "audit_log")
    op.drop_column("audit_log", "stream_seq")
