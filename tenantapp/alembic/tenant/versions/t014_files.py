"""files: a tenant's files, their contents sealed in the file store

Revision ID: t014
Revises: t013
Create Date: 2026-12-05

One row per stored file (``tenantapp.files``): its name, the type sniffed from its first bytes,
its size and SHA-256, and the key its contents are sealed with, itself sealed with the
tenant's data key. The contents live in the file store under the tenant's prefix, named by
``blob`` (a random id: nothing of the file's name reaches the store). No foreign key to
``users`` (see ``t011``).
"""

import sqlalchemy as sa
from alembic import op

revision = "t014"
down_revision = "t013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "files",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("blob", sa.String(32), nullable=False, unique=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("sealed_key", sa.LargeBinary, nullable=False),
        sa.Column("uploaded_by", sa.BigInteger, nullable=True, index=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
    )


def downgrade() -> None:
    op.drop_table("files")
