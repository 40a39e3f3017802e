"""sealed custom fields: an owner may mark a field sealed

Revision ID: t009
Revises: t008
Create Date: 2026-12-04

A sealed field's values are stored sealed with the tenant's data key (``users.custom`` holds a
marked string), as users' names are; such a field cannot be filtered on.
"""

import sqlalchemy as sa
from alembic import op

revision = "t009"
down_revision = "t008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "custom_fields",
        sa.Column("sealed", sa.Boolean, nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    op.drop_column("custom_fields", "sealed")
