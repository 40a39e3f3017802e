"""impersonation: a token an operator was given to act as one of the tenant's users

Revision ID: t007
Revises: t006
Create Date: 2026-11-29

``impersonated_by`` names the operator (as they named themselves to the operator API); every
request made with such a token is written to the audit log under that name.
"""

import sqlalchemy as sa
from alembic import op

revision = "t007"
down_revision = "t006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tokens", sa.Column("impersonated_by", sa.String(200), nullable=True))


def downgrade() -> None:
    op.drop_column("tokens", "impersonated_by")
