"""directory users: what SCIM provisions beside the email

Revision ID: t010
Revises: t009
Create Date: 2026-12-05

``active``: a deactivated user keeps its row but can neither log in nor use a token.
``user_name`` and ``external_id``: the directory's names for the user (``userName`` is unique
within the tenant). ``scim``: the SCIM document the directory last sent, sealed with the
tenant's key (it holds personal data: names, phones, addresses).
"""

import sqlalchemy as sa
from alembic import op

revision = "t010"
down_revision = "t009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "users", sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true())
    )
    op.add_column("users", sa.Column("user_name", sa.String(300), nullable=True))
    op.add_column("users", sa.Column("external_id", sa.String(300), nullable=True))
    op.add_column("users", sa.Column("scim", sa.LargeBinary, nullable=True))
    op.create_unique_constraint("users_user_name_key", "users", ["user_name"])
    op.create_index("users_external_id", "users", ["external_id"])


def downgrade() -> None:
    op.drop_index("users_external_id", "users")
    op.drop_constraint("users_user_name_key", "users")
    for column in ("scim", "external_id", "user_name", "active"):
        op.drop_column("users", column)
