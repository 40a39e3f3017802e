"""notify in-process caches of changes to the tenant registry and to identities

Revision ID: s003
Revises: s002
Create Date: 2026-11-24

App processes cache the registry and bearer tokens' owners in memory (tenantapp.caching).
Triggers, rather than the code paths that change rows, send the notifications, so a change made
by any client, psql included, reaches every cache. NOTIFY is delivered at commit, and not at all
on rollback. Tenant schemas attach notify_identity_change to their users and tokens (t003).
"""

from alembic import op

revision = "s003"
down_revision = "s002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION tenantapp.notify_tenant_change() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'TRUNCATE' THEN
                PERFORM pg_notify('tenantapp_tenants', '*');
            ELSE
                PERFORM pg_notify('tenantapp_tenants', OLD.slug);
            END IF;
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER tenants_changed AFTER UPDATE OR DELETE ON tenantapp.tenants "
        "FOR EACH ROW EXECUTE FUNCTION tenantapp.notify_tenant_change()"
    )
    op.execute(
        "CREATE TRIGGER tenants_truncated AFTER TRUNCATE ON tenantapp.tenants "
        "FOR EACH STATEMENT EXECUTE FUNCTION tenantapp.notify_tenant_change()"
    )

    op.execute(
        """
        CREATE FUNCTION tenantapp.notify_identity_change() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('tenantapp_identities', TG_TABLE_SCHEMA);
            RETURN NULL;
        END
        $$
        """
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION tenantapp.notify_identity_change()")
    op.execute("DROP TRIGGER tenants_truncated ON tenantapp.tenants")
    op.execute("DROP TRIGGER tenants_changed ON tenantapp.tenants")
    op.execute("DROP FUNCTION tenantapp.notify_tenant_change()")
