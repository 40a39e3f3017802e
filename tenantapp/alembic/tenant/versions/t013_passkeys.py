"""passkeys: WebAuthn credentials as a second factor

Revision ID: t013
Revises: t012
Create Date: 2026-12-05

A user's passkeys (``identity.passkeys``): the credential's id and public key as the
authenticator made them, its signature counter (a clone shows as a counter that goes back). No
foreign key to ``users`` (see ``t011``); a deleted user's passkeys are deleted with it in code.
"""

import sqlalchemy as sa
from alembic import op

revision = "t013"
down_revision = "t012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "passkeys",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("user_id", sa.BigInteger, nullable=False, index=True),
        sa.Column("credential_id", sa.LargeBinary, nullable=False, unique=True),
        sa.Column("public_key", sa.LargeBinary, nullable=False),
        sa.Column("sign_count", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("passkeys")
