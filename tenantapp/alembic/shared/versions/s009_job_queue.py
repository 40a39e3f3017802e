"""job queue: procrastinate's tables and functions, in a schema of their own

Revision ID: s009
Revises: s008
Create Date: 2026-11-29

The queue of tenant jobs (``tenantapp.jobs``) lives on the registry's server, in the schema
``procrastinate``. Its definition is procrastinate's own, as the installed version ships it;
a later procrastinate release that changes it ships a migration of its own (see README), which
a later revision here applies.
"""

from alembic import op
from procrastinate.schema import SchemaManager

revision = "s009"
down_revision = "s008"
branch_labels = None
depends_on = None

SCHEMA = "procrastinate"


def upgrade() -> None:
    op.execute(f"CREATE SCHEMA {SCHEMA}")
    # procrastinate's SQL names its objects without a schema: it is created where the path points
    # (the shared tree sets no path of its own: DEFAULT puts it back)
    op.execute(f"SET LOCAL search_path = {SCHEMA}")
    _verbatim(SchemaManager.get_schema())
    op.execute("SET LOCAL search_path TO DEFAULT")
    # its functions and triggers find its tables from any connection, whatever its path
    _verbatim(
        f"""
        DO $$
        DECLARE f record;
        BEGIN
            FOR f IN SELECT p.oid::regprocedure AS signature FROM pg_proc p
                     JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = '{SCHEMA}'
            LOOP
                EXECUTE format('ALTER FUNCTION %s SET search_path = {SCHEMA}', f.signature);
            END LOOP;
        END $$
        """
    )


def _verbatim(sql: str) -> None:
    """Run ``sql`` as written: it has ``%`` and ``:`` that are not parameters (``--sql``
    would double the one, SQLAlchemy would bind the other)."""
    context = op.get_context()
    if context.as_sql:
        context.impl.static_output(sql.strip() + context.impl.command_terminator)
    else:
        op.get_bind().connection.driver_connection.execute(sql)  # no parameters: as written


def downgrade() -> None:
    op.execute(f"DROP SCHEMA {SCHEMA} CASCADE")
