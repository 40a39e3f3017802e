"""What every database holding tenant rows has for moves, kept by ``migrate`` (idempotent).

* ``tenantapp.enter_tenant(id, schema)``: every write transaction of a tenant calls it in its
  first query (the binding's). It takes the tenant's advisory lock shared, so a move that takes
  it exclusively waits for writes in flight and holds new ones (the write pause); and it
  refuses a tenant that has left that schema of this database (``tenantapp.departed``) with
  SQLSTATE ``TNMOV``, so a write that waited through a move is retried at the tenant's new
  place, never lost here.
* ``tenantapp.capture_change()``: the trigger a move puts on the source tables while it copies:
  the key of every row written lands in ``tenantapp.move_changes``, to be copied again.
"""

from sqlalchemy.engine import Connection

MOVE_LOCK_CLASS = 1953392243  # the advisory lock namespace of tenants being moved
MOVED_SQLSTATE = "TNMOV"

GUARD_SQL = """
CREATE SCHEMA IF NOT EXISTS tenantapp;
CREATE TABLE IF NOT EXISTS tenantapp.departed (
    tenant_id bigint NOT NULL,
    place text NOT NULL,
    departed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, place)
);
CREATE TABLE IF NOT EXISTS tenantapp.move_changes (
    seq bigserial PRIMARY KEY,
    tenant_id bigint NOT NULL,
    tbl text NOT NULL,
    key jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS move_changes_tenant ON tenantapp.move_changes (tenant_id, seq);
CREATE OR REPLACE FUNCTION tenantapp.enter_tenant(tenant bigint, here text) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(MOVE_LOCK_CLASS, mod(tenant, 2147483647)::int);
    IF EXISTS (SELECT 1 FROM tenantapp.departed WHERE tenant_id = tenant AND place = here) THEN
        RAISE EXCEPTION USING
            MESSAGE = 'tenant ' || tenant || ' has moved', ERRCODE = 'MOVED_SQLSTATE';
    END IF;
    RETURN true;
END $$;
CREATE OR REPLACE FUNCTION tenantapp.capture_change() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
DECLARE
    tenant bigint := TG_ARGV[0]::bigint;
    pooled boolean := TG_ARGV[1]::boolean;
    keys text[] := TG_ARGV[2:];
    r jsonb;
BEGIN
    FOREACH r IN ARRAY ARRAY[to_jsonb(OLD), to_jsonb(NEW)] LOOP
        CONTINUE WHEN r IS NULL OR r = 'null'::jsonb;
        CONTINUE WHEN pooled AND (r->>'tenant_id')::bigint <> tenant;
        INSERT INTO tenantapp.move_changes (tenant_id, tbl, key)
        VALUES (tenant, TG_TABLE_NAME, (SELECT jsonb_object_agg(k, r->k) FROM unnest(keys) k));
    END LOOP;
    RETURN NULL;
END $$;
""".replace("MOVE_LOCK_CLASS", str(MOVE_LOCK_CLASS)).replace("MOVED_SQLSTATE", MOVED_SQLSTATE)


def install_guard(connection: Connection) -> None:
    connection.exec_driver_sql(GUARD_SQL)
