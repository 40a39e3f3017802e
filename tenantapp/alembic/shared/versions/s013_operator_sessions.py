"""operator sessions: the console's own short-lived, revocable logins, and their throttle

Revision ID: s013
Revises: s012
Create Date: 2026-12-04

The operator console no longer keeps the operator token in its cookie: a login makes a session
whose token only the browser holds (the table keeps its SHA-256), which expires and which logout
deletes. Failed logins are counted per client address, as a tenant's are per email.
"""

from alembic import op

revision = "s013"
down_revision = "s012"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE tenantapp.operator_sessions (
    digest text PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    address text NOT NULL
);
CREATE INDEX operator_sessions_expiry ON tenantapp.operator_sessions (expires_at);
CREATE TABLE tenantapp.operator_login_throttle (
    address text PRIMARY KEY,
    failures integer NOT NULL,
    window_started_at timestamptz NOT NULL
);
"""

DOWNGRADE = """
DROP TABLE tenantapp.operator_login_throttle;
DROP TABLE tenantapp.operator_sessions;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
