"""client rates: requests without a valid token are counted per client address and tenant

Revision ID: s014
Revises: s013
Create Date: 2026-12-04

A tenant's request rate is its users' budget: strangers (no token, or one that opens nothing)
must not use it up. Their requests are counted apart, per (tenant, client address), at the
tenant's rate, in an UNLOGGED table like ``request_rates``; rows idle for a minute are
dropped now and then by the function itself.
"""

from alembic import op

revision = "s014"
down_revision = "s013"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE UNLOGGED TABLE tenantapp.client_request_rates (
    client text PRIMARY KEY,  -- tenant id / client address
    tat double precision NOT NULL
);

CREATE FUNCTION tenantapp.take_client_request(who text, rate double precision,
                                              burst double precision)
RETURNS double precision
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    now_s double precision := extract(epoch FROM clock_timestamp());
    step double precision := 1.0 / rate;
    tolerance double precision := greatest(burst, rate, 1.0) * step;
    next_tat double precision;
BEGIN
    IF random() < 0.001 THEN
        DELETE FROM tenantapp.client_request_rates WHERE tat < now_s - 60;
    END IF;
    INSERT INTO tenantapp.client_request_rates AS r (client, tat) VALUES (who, now_s)
    ON CONFLICT (client) DO UPDATE SET tat = r.tat
    RETURNING greatest(r.tat, now_s) + step INTO next_tat;
    IF next_tat - now_s > tolerance THEN
        RETURN next_tat - now_s - tolerance;
    END IF;
    UPDATE tenantapp.client_request_rates SET tat = next_tat WHERE client = who;
    RETURN 0;
END $$;

REVOKE ALL ON FUNCTION tenantapp.take_client_request(text, double precision, double precision)
    FROM PUBLIC;
"""

DOWNGRADE = """
DROP FUNCTION tenantapp.take_client_request(text, double precision, double precision);
DROP TABLE tenantapp.client_request_rates;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
