"""tenant policies: each tenant's Cedar policies over its users' attributes

Revision ID: s018
Revises: s017
Create Date: 2026-12-05

Beside the three roles, a tenant's owner writes policies that forbid more (``tenantapp.authz``).
Every process keeps them parsed in memory; a change is announced on ``tenantapp_policies``
with the tenant's id, so every process drops its copy at the commit.
"""

from alembic import op

revision = "s018"
down_revision = "s017"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE tenantapp.tenant_policies (
    tenant_id bigint PRIMARY KEY REFERENCES tenantapp.tenants (id) ON DELETE CASCADE,
    source text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE FUNCTION tenantapp.notify_policy_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM pg_notify('tenantapp_policies', '*');
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('tenantapp_policies', OLD.tenant_id::text);
    ELSE
        PERFORM pg_notify('tenantapp_policies', NEW.tenant_id::text);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER tenant_policies_notify AFTER INSERT OR UPDATE OR DELETE ON tenantapp.tenant_policies
    FOR EACH ROW EXECUTE FUNCTION tenantapp.notify_policy_change();
CREATE TRIGGER tenant_policies_truncate AFTER TRUNCATE ON tenantapp.tenant_policies
    FOR EACH STATEMENT EXECUTE FUNCTION tenantapp.notify_policy_change();
"""

DOWNGRADE = """
DROP TABLE tenantapp.tenant_policies;
DROP FUNCTION tenantapp.notify_policy_change();
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
