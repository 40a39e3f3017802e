"""notes, contract: version 1 is gone, and so are ``body`` and the trigger

Revision ID: notes3
Revises: notes2
"""

from alembic import op

revision = "notes3"
down_revision = "notes2"
phase = "contract"


def upgrade() -> None:
    op.execute("DROP TRIGGER notes_in_step ON notes; DROP FUNCTION notes_in_step();")
    op.drop_column("notes", "body")


def downgrade() -> None:
    raise NotImplementedError("a contract step is not undone")
