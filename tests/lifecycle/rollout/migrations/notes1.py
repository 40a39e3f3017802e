"""notes (version 1): a note's ``body``

Revision ID: notes1
Revises: {down}
"""

import sqlalchemy as sa
from alembic import op

revision = "notes1"
down_revision = "{down}"


def upgrade() -> None:
    op.create_table(
        "notes",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("body", sa.Text, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("notes")
