"""placement: each tenant's isolation mode and server; identity notices name pooled tenants

Revision ID: s004
Revises: s003
Create Date: 2026-11-28

A tenant is kept in a schema of its own (``schema``), in rows of the pooled schema
``tenant_shared`` filtered by row-level security (``shared``) or in a database of its own
(``database``), on the server named ``server``. Shared tenants all name ``tenant_shared``, so
schema names are no longer unique. A change to pooled users or tokens notifies
``tenant_shared/<tenant id>``: row-level security confines a statement to the tenant its
transaction is bound to, so that names every row it could have touched.
"""

import sqlalchemy as sa
from alembic import op

revision = "s004"
down_revision = "s003"
branch_labels = None
depends_on = None

NOTIFY_IDENTITY = """
CREATE OR REPLACE FUNCTION tenantapp.notify_identity_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    tenant text := nullif(current_setting('tenantapp.tenant_id', true), '');
BEGIN
    IF TG_TABLE_SCHEMA = 'tenant_shared' THEN
        -- no tenant bound: a maintenance statement may have touched anyone's rows
        PERFORM pg_notify('tenantapp_identities', coalesce('tenant_shared/' || tenant, '*'));
    ELSE
        PERFORM pg_notify('tenantapp_identities', TG_TABLE_SCHEMA);
    END IF;
    RETURN NULL;
END
$$
"""

OLD_NOTIFY_IDENTITY = """
CREATE OR REPLACE FUNCTION tenantapp.notify_identity_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('tenantapp_identities', TG_TABLE_SCHEMA);
    RETURN NULL;
END
$$
"""


def upgrade() -> None:
    op.add_column(
        "tenants",
        sa.Column("mode", sa.String(16), nullable=False, server_default="schema"),
        schema="tenantapp",
    )
    op.add_column(
        "tenants",
        sa.Column("server", sa.String(63), nullable=False, server_default="default"),
        schema="tenantapp",
    )
    op.create_check_constraint(
        op.f("ck_tenants_mode"),
        "tenants",
        "(mode)::text = ANY (ARRAY['schema'::text, 'shared'::text, 'database'::text])",
        schema="tenantapp",
    )
    op.drop_constraint("uq_tenants_schema_name", "tenants", schema="tenantapp")
    op.execute(NOTIFY_IDENTITY)


def downgrade() -> None:
    op.execute(OLD_NOTIFY_IDENTITY)
    op.create_unique_constraint(
        "uq_tenants_schema_name", "tenants", ["schema_name"], schema="tenantapp"
    )
    op.drop_constraint(op.f("ck_tenants_mode"), "tenants", schema="tenantapp")
    op.drop_column("tenants", "server", schema="tenantapp")
    op.drop_column("tenants", "mode", schema="tenantapp")
