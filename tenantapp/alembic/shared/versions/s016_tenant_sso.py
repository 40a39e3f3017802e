"""single sign-on: each tenant's OpenID Connect provider, its verified email domains, and the
logins in flight

Revision ID: s016
Revises: s015
Create Date: 2026-12-05

The provider's client secret is sealed with the tenant's data key (``client_secret``). An email
domain is the tenant's once a DNS TXT record proves it, and then no other tenant's: a unique
index over the verified ones (an unverified claim blocks no one). A login in flight is one row,
deleted as its callback arrives: a ``state`` works once.
"""

from alembic import op

revision = "s016"
down_revision = "s015"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE tenantapp.tenant_sso (
    tenant_id bigint PRIMARY KEY REFERENCES tenantapp.tenants (id) ON DELETE CASCADE,
    issuer text NOT NULL,
    client_id text NOT NULL,
    client_secret bytea NOT NULL,
    role_claim text,
    role_map jsonb NOT NULL DEFAULT '{}',
    required boolean NOT NULL DEFAULT false,
    break_glass_email text,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE tenantapp.tenant_email_domains (
    tenant_id bigint NOT NULL REFERENCES tenantapp.tenants (id) ON DELETE CASCADE,
    domain text NOT NULL,
    token text NOT NULL,
    verified_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, domain)
);
CREATE UNIQUE INDEX tenant_email_domains_verified
    ON tenantapp.tenant_email_domains (domain) WHERE verified_at IS NOT NULL;
CREATE TABLE tenantapp.sso_logins (
    state text PRIMARY KEY,
    tenant_id bigint NOT NULL REFERENCES tenantapp.tenants (id) ON DELETE CASCADE,
    nonce text NOT NULL,
    code_verifier text NOT NULL,
    next text,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sso_logins_age ON tenantapp.sso_logins (created_at);
"""

DOWNGRADE = """
DROP TABLE tenantapp.sso_logins;
DROP TABLE tenantapp.tenant_email_domains;
DROP TABLE tenantapp.tenant_sso;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
