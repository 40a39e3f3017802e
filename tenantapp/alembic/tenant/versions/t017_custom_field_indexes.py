"""custom fields: indexed ones, and the key function their indexes are built on

Revision ID: t017
Revises: t016
Create Date: 2026-12-05

An owner marks a field ``indexed``; a job builds its index concurrently and records its state
here (``tenantapp.users.custom_indexes``). The index is on ``custom_value_key(custom, NAME)``:
the field's value as text, numbers without trailing zeros, so ``5`` and ``5.0`` have one key.

A function, not ``custom -> NAME``, for shared mode: row-level security lets PostgreSQL use an
index for a condition only if every function in it is LEAKPROOF, and neither ``->`` nor jsonb's
``=`` is. This one cannot fail on any input, so it is declared LEAKPROOF (and its text compared
with text's ``=``, which is), when the migrating role may declare it: only a superuser may.
PL/pgSQL, so the planner does not inline it back into the operators it wraps.
"""

import sqlalchemy as sa
from alembic import op

revision = "t017"
down_revision = "t016"
branch_labels = None
depends_on = None

KEY_FUNCTION = """
CREATE FUNCTION custom_value_key(doc jsonb, name text) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
  value jsonb := doc -> name;
BEGIN
  IF jsonb_typeof(value) = 'number' THEN
    RETURN trim_scale(value::numeric)::text;
  END IF;
  RETURN value::text;
END
$$
"""
# in SQL, so that ``migrate --sql`` prints it too
LEAKPROOF_IF_SUPERUSER = """
DO $$
BEGIN
  IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    ALTER FUNCTION custom_value_key(jsonb, text) LEAKPROOF;
  END IF;
END
$$
"""


def upgrade() -> None:
    op.add_column(
        "custom_fields",
        sa.Column("indexed", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.add_column("custom_fields", sa.Column("index_state", sa.String(16), nullable=True))
    op.add_column("custom_fields", sa.Column("index_error", sa.Text, nullable=True))
    op.execute(KEY_FUNCTION)
    op.execute(LEAKPROOF_IF_SUPERUSER)


def downgrade() -> None:
    op.execute("DROP FUNCTION custom_value_key(jsonb, text)")
    op.drop_column("custom_fields", "index_error")
    op.drop_column("custom_fields", "index_state")
    op.drop_column("custom_fields", "indexed")
