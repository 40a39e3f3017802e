"""SCIM tokens: what a tenant's directory provisions its users with

Revision ID: s017
Revises: s016
Create Date: 2026-12-05

Kept as their SHA-256 (the token is shown once), per tenant: a token of one tenant finds
nothing at another's ``/scim``.
"""

from alembic import op

revision = "s017"
down_revision = "s016"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE tenantapp.scim_tokens (
    id bigserial PRIMARY KEY,
    tenant_id bigint NOT NULL REFERENCES tenantapp.tenants (id) ON DELETE CASCADE,
    name text NOT NULL,
    digest text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX scim_tokens_tenant ON tenantapp.scim_tokens (tenant_id);
"""

DOWNGRADE = "DROP TABLE tenantapp.scim_tokens;"


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
