"""process keys: each serving process says which key-encryption keys it holds

Revision ID: s015
Revises: s014
Create Date: 2026-12-04

``rotate-keys`` re-wraps every data key with the first key-encryption key: a serving process
that does not hold that key could then open no tenant's data. The heartbeat every serving
process sends anyway now carries the names of the keys it holds, so the command can refuse
while one lacks the new key. The two-argument heartbeat stays for processes of the version
before (two app versions run side by side during a migration).
"""

from alembic import op

revision = "s015"
down_revision = "s014"
branch_labels = None
depends_on = None

UPGRADE = """
ALTER TABLE tenantapp.serving_processes ADD COLUMN key_names text[] NOT NULL DEFAULT '{}';

CREATE FUNCTION tenantapp.serving_heartbeat(process text, window_s double precision,
                                            keys text[])
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO tenantapp.serving_processes AS p (id, seen_at, key_names)
    VALUES (process, clock_timestamp(), keys)
    ON CONFLICT (id) DO UPDATE SET seen_at = clock_timestamp(), key_names = keys;
    RETURN tenantapp.serving_heartbeat(process, window_s);
END $$;

-- a process that stops says so: it no longer counts (nor holds keys) from then on
CREATE FUNCTION tenantapp.serving_goodbye(process text) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    DELETE FROM tenantapp.serving_processes WHERE id = process;
$$;

REVOKE ALL ON FUNCTION tenantapp.serving_heartbeat(text, double precision, text[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION tenantapp.serving_goodbye(text) FROM PUBLIC;
"""

DOWNGRADE = """
DROP FUNCTION tenantapp.serving_goodbye(text);
DROP FUNCTION tenantapp.serving_heartbeat(text, double precision, text[]);
ALTER TABLE tenantapp.serving_processes DROP COLUMN key_names;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
