"""shared limits: per-tenant request rates and the serving processes, held where every process
sees them

Revision ID: s012
Revises: s011
Create Date: 2026-12-04

Both tables are UNLOGGED: cheap to write, they outlive any app process (a process that dies
leaves the others' counts true) and are emptied only by a crash of the server itself, which
forgets rates and heartbeats nobody needs back. The functions run as their owner, so the
serving role may call them and nothing else on these tables.
"""

from alembic import op

revision = "s012"
down_revision = "s011"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE UNLOGGED TABLE tenantapp.request_rates (
    tenant_id bigint PRIMARY KEY,
    tat double precision NOT NULL  -- the theoretical arrival time of the next request (GCRA)
);
CREATE UNLOGGED TABLE tenantapp.serving_processes (
    id text PRIMARY KEY,
    seen_at timestamptz NOT NULL
);

-- Take one request of ``tenant`` at ``rate`` a second, bursts of ``burst``: 0 when it may go,
-- else the seconds until it could (the generic cell rate algorithm: one row per tenant).
CREATE FUNCTION tenantapp.take_request(tenant bigint, rate double precision,
                                       burst double precision) RETURNS double precision
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    now_s double precision := extract(epoch FROM clock_timestamp());
    step double precision := 1.0 / rate;
    tolerance double precision := greatest(burst, rate, 1.0) * step;
    next_tat double precision;
BEGIN
    INSERT INTO tenantapp.request_rates AS r (tenant_id, tat) VALUES (tenant, now_s)
    ON CONFLICT (tenant_id) DO UPDATE SET tat = r.tat
    RETURNING greatest(r.tat, now_s) + step INTO next_tat;
    IF next_tat - now_s > tolerance THEN
        RETURN next_tat - now_s - tolerance;
    END IF;
    UPDATE tenantapp.request_rates SET tat = next_tat WHERE tenant_id = tenant;
    RETURN 0;
END $$;

-- ``process`` is alive now; how many serving processes are (seen in the last ``window`` s).
CREATE FUNCTION tenantapp.serving_heartbeat(process text, window_s double precision)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    alive integer;
BEGIN
    INSERT INTO tenantapp.serving_processes AS p (id, seen_at) VALUES (process, clock_timestamp())
    ON CONFLICT (id) DO UPDATE SET seen_at = clock_timestamp();
    DELETE FROM tenantapp.serving_processes
    WHERE seen_at < clock_timestamp() - make_interval(secs => 10 * window_s);
    SELECT count(*) INTO alive FROM tenantapp.serving_processes
    WHERE seen_at >= clock_timestamp() - make_interval(secs => window_s);
    RETURN alive;
END $$;

REVOKE ALL ON FUNCTION tenantapp.take_request(bigint, double precision, double precision)
    FROM PUBLIC;
REVOKE ALL ON FUNCTION tenantapp.serving_heartbeat(text, double precision) FROM PUBLIC;
"""

DOWNGRADE = """
DROP FUNCTION tenantapp.serving_heartbeat(text, double precision);
DROP FUNCTION tenantapp.take_request(bigint, double precision, double precision);
DROP TABLE tenantapp.serving_processes;
DROP TABLE tenantapp.request_rates;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
