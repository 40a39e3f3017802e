"""per-tenant statement statistics: which statements a tenant's requests ran, how often, how long

Revision ID: s021
Revises: s020
Create Date: 2026-12-05

``tenant_statements``: per tenant, day and statement (``query_id``, a hash of its text with the
tenant's schema written ``{tenant}``), the calls, total and longest time and rows, added to by
every app process (``tenantapp.metrics.statements``). ``statement_texts``: each statement's text,
once. pg_stat_statements cannot say this: in shared mode every tenant runs the same text, and
comments do not reach its query ids.
"""

from alembic import op

revision = "s021"
down_revision = "s020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE TABLE tenantapp.statement_texts ("
        " query_id bigint PRIMARY KEY,"
        " query text NOT NULL)"
    )
    op.execute(
        "CREATE TABLE tenantapp.tenant_statements ("
        " tenant_id bigint NOT NULL REFERENCES tenantapp.tenants (id) ON DELETE CASCADE,"
        " day date NOT NULL,"
        " query_id bigint NOT NULL,"
        " calls bigint NOT NULL DEFAULT 0,"
        " total_ms double precision NOT NULL DEFAULT 0,"
        " max_ms double precision NOT NULL DEFAULT 0,"
        " rows bigint NOT NULL DEFAULT 0,"
        " PRIMARY KEY (tenant_id, day, query_id))"
    )


def downgrade() -> None:
    op.execute("DROP TABLE tenantapp.tenant_statements")
    op.execute("DROP TABLE tenantapp.statement_texts")
