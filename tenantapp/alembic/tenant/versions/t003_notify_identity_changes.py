"""notify in-process caches when users or tokens change

Revision ID: t003
Revises: t002
Create Date: 2026-11-24

Token owners (user id, role, expiry) are cached in memory by every app process; any UPDATE,
DELETE or TRUNCATE of users or tokens tells them to forget this schema's entries. Inserts need
no notice: a new token or user was never cached.
"""

from alembic import op

revision = "t003"
down_revision = "t002"
branch_labels = None
depends_on = None

TABLES = ("users", "tokens")


def upgrade() -> None:
    for table in TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_changed AFTER UPDATE OR DELETE OR TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION tenantapp.notify_identity_change()"
        )


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"DROP TRIGGER {table}_changed ON {table}")
