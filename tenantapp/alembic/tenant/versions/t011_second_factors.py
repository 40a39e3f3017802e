"""second factors: TOTP per user, recovery codes, and the challenges between a login's steps

Revision ID: t011
Revises: t010
Create Date: 2026-12-05

``totp_secret`` is sealed with the tenant's key; ``totp_enabled`` once the user proved a code
with it; ``totp_last_step``: the last time step a code was accepted for (a code works once).
A challenge is what a password login hands back instead of a token when a second factor is
due: kept as its SHA-256, short-lived, a few attempts.

No foreign key to ``users``: in the pooled schema (shared mode) ``users``' key is
``(tenant_id, id)`` by the time a later migration runs, so ``REFERENCES users (id)`` cannot be
made there (``tenancy.pooling``). User ids are never reused, so a row left by a deleted user is
inert; ``users.actions`` deletes them with the user.
"""

import sqlalchemy as sa
from alembic import op

revision = "t011"
down_revision = "t010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("users", sa.Column("totp_secret", sa.LargeBinary, nullable=True))
    op.add_column(
        "users", sa.Column("totp_enabled", sa.Boolean, nullable=False, server_default=sa.false())
    )
    op.add_column("users", sa.Column("totp_last_step", sa.BigInteger, nullable=True))
    op.create_table(
        "login_challenges",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("digest", sa.String(64), nullable=False, unique=True),
        sa.Column("user_id", sa.BigInteger, nullable=False, index=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_table(
        "recovery_codes",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("user_id", sa.BigInteger, nullable=False, index=True),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("recovery_codes")
    op.drop_table("login_challenges")
    for column in ("totp_last_step", "totp_enabled", "totp_secret"):
        op.drop_column("users", column)
