"""single sign-on through SAML 2.0 beside OpenID Connect

Revision ID: s019
Revises: s018
Create Date: 2026-12-05

A tenant has one identity provider, of either protocol: ``protocol`` says which. A SAML
provider is its metadata (``idp_metadata``, the IdP's entity id kept in ``issuer``), with no
client id or secret. A login in flight says its protocol too, so the ``state`` of an OpenID
login can never stand for the request id a SAML response answers, nor the other way round.
"""

from alembic import op

revision = "s019"
down_revision = "s018"
branch_labels = None
depends_on = None

UPGRADE = """
ALTER TABLE tenantapp.tenant_sso
    ADD COLUMN protocol text NOT NULL DEFAULT 'oidc',
    ADD COLUMN idp_metadata text,
    ALTER COLUMN client_id DROP NOT NULL,
    ALTER COLUMN client_secret DROP NOT NULL,
    ADD CONSTRAINT tenant_sso_protocol CHECK (
        (protocol = 'oidc' AND client_id IS NOT NULL AND client_secret IS NOT NULL)
        OR (protocol = 'saml' AND idp_metadata IS NOT NULL)
    );
ALTER TABLE tenantapp.sso_logins
    ADD COLUMN protocol text NOT NULL DEFAULT 'oidc',
    ALTER COLUMN nonce DROP NOT NULL,
    ALTER COLUMN code_verifier DROP NOT NULL;
"""

DOWNGRADE = """
DELETE FROM tenantapp.sso_logins WHERE protocol <> 'oidc';
ALTER TABLE tenantapp.sso_logins
    DROP COLUMN protocol,
    ALTER COLUMN nonce SET NOT NULL,
    ALTER COLUMN code_verifier SET NOT NULL;
DELETE FROM tenantapp.tenant_sso WHERE protocol <> 'oidc';
ALTER TABLE tenantapp.tenant_sso
    DROP CONSTRAINT tenant_sso_protocol,
    DROP COLUMN idp_metadata,
    DROP COLUMN protocol,
    ALTER COLUMN client_id SET NOT NULL,
    ALTER COLUMN client_secret SET NOT NULL;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
