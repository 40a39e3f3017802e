"""expand and contract: each tenant's schema revision on its registry row, and each serving
process's code's tenant head

Revision ID: s026
Revises: s025
Create Date: 2026-12-05

``tenants.revision`` is written with the migration record (``tenant_migrations``), in the
migration's transaction when the tenant is on the registry's server: the directory entry
carries it (the row's trigger tells every process), so code of a new version knows which shape
a tenant has while ``migrate --expand`` runs (``lifecycle.phases``). ``serving_processes.
tenant_head`` is the newest tenant revision a process's code knows: ``migrate --contract``
refuses while a process of older code serves. The three-argument heartbeat stays for processes
of the version before (NULL: older than this).
"""

from alembic import op

revision = "s026"
down_revision = "s025"
branch_labels = None
depends_on = None

UPGRADE = """
ALTER TABLE tenantapp.tenants ADD COLUMN revision varchar(64);
UPDATE tenantapp.tenants t SET revision = m.revision
FROM tenantapp.tenant_migrations m WHERE m.tenant_id = t.id;
ALTER TABLE tenantapp.serving_processes ADD COLUMN tenant_head text;

CREATE FUNCTION tenantapp.serving_heartbeat(process text, window_s double precision,
                                            keys text[], head text)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO tenantapp.serving_processes AS p (id, seen_at, key_names, tenant_head)
    VALUES (process, clock_timestamp(), keys, head)
    ON CONFLICT (id) DO UPDATE SET seen_at = clock_timestamp(), key_names = keys,
                                   tenant_head = head;
    RETURN tenantapp.serving_heartbeat(process, window_s);
END $$;
REVOKE ALL ON FUNCTION tenantapp.serving_heartbeat(text, double precision, text[], text)
    FROM PUBLIC;
"""

DOWNGRADE = """
DROP FUNCTION tenantapp.serving_heartbeat(text, double precision, text[], text);
ALTER TABLE tenantapp.serving_processes DROP COLUMN tenant_head;
ALTER TABLE tenantapp.tenants DROP COLUMN revision;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
