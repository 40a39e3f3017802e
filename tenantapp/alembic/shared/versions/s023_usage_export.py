"""the usage ledger by hour, and what of it has been exported where

Revision ID: s023
Revises: s022
Create Date: 2026-12-05

``tenant_usage_hours``: the ledger's sums per tenant and hour, the hour being when each process
flushed its counts (the flush's transaction time): an hour is final once its last flush has
committed, so an export of a closed hour never misses what comes later. No foreign key: what a
purged tenant used is still billed. ``usage_exports``: per sink and hour (and tenant, for the
webhook), when it was delivered; an export sends only what is not there yet.
``tenants.users_count``: counted with the storage (``quotas.measure_storage``).
"""

from alembic import op

revision = "s023"
down_revision = "s022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE TABLE tenantapp.tenant_usage_hours ("
        " tenant_id bigint NOT NULL,"
        " hour timestamptz NOT NULL,"
        " requests bigint NOT NULL DEFAULT 0,"
        " errors bigint NOT NULL DEFAULT 0,"
        " db_ms bigint NOT NULL DEFAULT 0,"
        " rows bigint NOT NULL DEFAULT 0,"
        " bytes bigint NOT NULL DEFAULT 0,"
        " jobs bigint NOT NULL DEFAULT 0,"
        " PRIMARY KEY (tenant_id, hour))"
    )
    op.execute("CREATE INDEX tenant_usage_hours_hour ON tenantapp.tenant_usage_hours (hour)")
    op.execute(
        "CREATE TABLE tenantapp.usage_exports ("
        " sink varchar(16) NOT NULL,"
        " hour timestamptz NOT NULL,"
        " tenant_id bigint NOT NULL,"  # 0: the whole hour (a file)
        " delivered_at timestamptz NOT NULL DEFAULT now(),"
        " PRIMARY KEY (sink, hour, tenant_id))"
    )
    op.execute("ALTER TABLE tenantapp.tenants ADD COLUMN users_count bigint")


def downgrade() -> None:
    op.execute("ALTER TABLE tenantapp.tenants DROP COLUMN users_count")
    op.execute("DROP TABLE tenantapp.usage_exports")
    op.execute("DROP TABLE tenantapp.tenant_usage_hours")
