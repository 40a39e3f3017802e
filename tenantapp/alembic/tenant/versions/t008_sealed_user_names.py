"""sealed user names: users.name holds the name sealed with the tenant's data key

Revision ID: t008
Revises: t007
Create Date: 2026-11-29

Names already there stay readable as they are (UTF-8 bytes, without the seal mark) and are
sealed on their next write, or all at once by ``tenantapp-admin reseal``: no key is needed to
migrate. A downgrade keeps sealed names as marked base64 text (no name can hold the control
character that marks them), which the upgrade turns back into the same bytes: a round trip
loses nothing.
"""

from alembic import op

revision = "t008"
down_revision = "t007"
branch_labels = None
depends_on = None


KEPT = "E'\\x01sealed:'"


def upgrade() -> None:
    op.execute(
        "ALTER TABLE users ALTER COLUMN name TYPE bytea USING CASE"
        f" WHEN starts_with(name, {KEPT}) THEN decode(substr(name, 9), 'base64')"
        " ELSE convert_to(name, 'UTF8') END"
    )


def downgrade() -> None:
    kept = f"{KEPT} || translate(encode(name, 'base64'), E'\\n', '')"
    op.execute(
        "ALTER TABLE users ALTER COLUMN name TYPE text USING CASE"
        f" WHEN substring(name from 1 for 1) = '\\xff'::bytea THEN {kept}"
        " ELSE convert_from(name, 'UTF8') END"
    )
