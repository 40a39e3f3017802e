"""directory groups: the groups a tenant's directory keeps over SCIM, and their members

Revision ID: t012
Revises: t011
Create Date: 2026-12-05

A group's members are users; the owner's SSO rules (``role_map``) turn a user's groups into
their role. ``scim_group_members.user_id`` has no foreign key to ``users`` (see ``t011``: the
pooled schema's ``users`` key is ``(tenant_id, id)``); a deleted user's memberships are deleted
with it in code. The key to ``scim_groups`` is made here, beside its table, so the pooled
schema leads it with ``tenant_id`` like the rest.
"""

import sqlalchemy as sa
from alembic import op

revision = "t012"
down_revision = "t011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scim_groups",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("display_name", sa.String(300), nullable=False, unique=True),
        sa.Column("external_id", sa.String(300), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
    )
    op.create_table(
        "scim_group_members",
        sa.Column(
            "group_id",
            sa.BigInteger,
            sa.ForeignKey("scim_groups.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("user_id", sa.BigInteger, primary_key=True, index=True),
        sa.Column("display", sa.String(300), nullable=True),  # as the directory names them
    )


def downgrade() -> None:
    op.drop_table("scim_group_members")
    op.drop_table("scim_groups")
