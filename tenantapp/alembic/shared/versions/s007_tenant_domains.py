"""tenant domains: custom domains a tenant is reached by, once its DNS proves ownership

Revision ID: s007
Revises: s006
Create Date: 2026-11-28

A trigger tells every process's domain cache (``tenantapp.domains``) of each change; a tenant
renamed, archived or purged empties the cache too, since it maps domains to slugs.
"""

import sqlalchemy as sa
from alembic import op

revision = "s007"
down_revision = "s006"
branch_labels = None
depends_on = None

NOTIFY_TENANT = """
CREATE OR REPLACE FUNCTION tenantapp.notify_tenant_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM pg_notify('tenantapp_tenants', '*');
        PERFORM pg_notify('tenantapp_domains', '*');
    ELSE
        PERFORM pg_notify('tenantapp_tenants', OLD.slug);
        IF TG_OP = 'DELETE' OR OLD.slug <> NEW.slug OR OLD.status <> NEW.status THEN
            PERFORM pg_notify('tenantapp_domains', '*');
        END IF;
    END IF;
    RETURN NULL;
END
$$
"""

OLD_NOTIFY_TENANT = """
CREATE OR REPLACE FUNCTION tenantapp.notify_tenant_change() RETURNS trigger
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


def upgrade() -> None:
    op.create_table(
        "tenant_domains",
        sa.Column("domain", sa.String(253), primary_key=True),
        sa.Column(
            "tenant_id",
            sa.BigInteger,
            sa.ForeignKey("tenantapp.tenants.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True)),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        schema="tenantapp",
    )
    op.execute(
        """
        CREATE FUNCTION tenantapp.notify_domain_change() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'TRUNCATE' THEN
                PERFORM pg_notify('tenantapp_domains', '*');
            ELSIF TG_OP = 'INSERT' THEN
                PERFORM pg_notify('tenantapp_domains', NEW.domain);
            ELSE
                PERFORM pg_notify('tenantapp_domains', OLD.domain);
            END IF;
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER tenant_domains_changed AFTER INSERT OR UPDATE OR DELETE"
        " ON tenantapp.tenant_domains FOR EACH ROW EXECUTE FUNCTION tenantapp.notify_domain_change()"
    )
    op.execute(
        "CREATE TRIGGER tenant_domains_truncated AFTER TRUNCATE ON tenantapp.tenant_domains"
        " FOR EACH STATEMENT EXECUTE FUNCTION tenantapp.notify_domain_change()"
    )
    op.execute(NOTIFY_TENANT)


def downgrade() -> None:
    op.execute(OLD_NOTIFY_TENANT)
    op.drop_table("tenant_domains", schema="tenantapp")
    op.execute("DROP FUNCTION tenantapp.notify_domain_change()")
