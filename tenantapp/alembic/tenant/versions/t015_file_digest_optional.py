"""files.sha256: known when the uploader sent one

Revision ID: t015
Revises: t014
Create Date: 2026-12-05

Hashing every upload cost more than sealing and writing it together (SHA-256 runs at 1.7 GB/s
here, the whole upload at 3 GB/s). The SHA-256 is now worked out, and checked, when the
uploader sends it (``Repr-Digest``/``Content-Digest``, RFC 9530); files uploaded without one
have none. Rows written before keep theirs.
"""

import sqlalchemy as sa
from alembic import op

revision = "t015"
down_revision = "t014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column("files", "sha256", existing_type=sa.String(64), nullable=True)


def downgrade() -> None:
    op.execute("UPDATE files SET sha256 = '' WHERE sha256 IS NULL")
    op.alter_column("files", "sha256", existing_type=sa.String(64), nullable=False)
