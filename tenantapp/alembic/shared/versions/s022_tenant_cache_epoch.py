"""a tenant's cache epoch: what app code cached for it is void once its data moved or came back

Revision ID: s022
Revises: s021
Create Date: 2026-12-05

``cache_epoch`` is part of every key of the tenant-aware cache (``tenantapp.tenant_cache``). A
trigger, not the code paths, adds one whenever the tenant's placement (mode, server, schema) or
status changes: a move, an archive, a restore, in place or not, from any client. Every process
hears the change through the registry's notification (s003) and uses the new epoch at once;
what was cached under the old one is never read again and expires.
"""

from alembic import op

revision = "s022"
down_revision = "s021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE tenantapp.tenants ADD COLUMN cache_epoch integer NOT NULL DEFAULT 0")
    op.execute(
        """
        CREATE FUNCTION tenantapp.next_cache_epoch() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF (NEW.mode, NEW.server, NEW.schema_name, NEW.status)
                IS DISTINCT FROM (OLD.mode, OLD.server, OLD.schema_name, OLD.status) THEN
                NEW.cache_epoch := OLD.cache_epoch + 1;
            END IF;
            RETURN NEW;
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER tenants_cache_epoch BEFORE UPDATE ON tenantapp.tenants "
        "FOR EACH ROW EXECUTE FUNCTION tenantapp.next_cache_epoch()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER tenants_cache_epoch ON tenantapp.tenants")
    op.execute("DROP FUNCTION tenantapp.next_cache_epoch()")
    op.execute("ALTER TABLE tenantapp.tenants DROP COLUMN cache_epoch")
