"""Serving behind a real PgBouncer in transaction mode (Debian's ``pgbouncer``, started by the
test on 127.0.0.1): each transaction may get another server connection, so nothing of a
tenant's binding may outlive its transaction."""

from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
import webtest
from sqlalchemy.engine import make_url

from tenantapp import main, throwaway
from tenantapp.interfaces import (
    ICacheListener,
    IPlaceListeners,
    IServers,
    IServingProcesses,
    service,
)
from tenantapp.tenancy.servers import APP_ROLE, through_pooler
from tests.conftest import tenancy_for
from tests.quotas.test_quotas import set_quota


@pytest.fixture(scope="module")
def pgbouncer(database_url):
    """PgBouncer in transaction mode in front of the test server, with 2 server connections
    per database and role (Debian's: ``.ci/run`` installs it when missing)."""
    with throwaway.pgbouncer(database_url, pool_size=2, user=APP_ROLE) as address:
        yield address


def pools(pooler: str, user: str) -> list[dict]:
    """PgBouncer's own account of its pools (its admin console)."""
    address = make_url(pooler)
    with psycopg.connect(
        host=address.host, port=address.port, dbname="pgbouncer", user=user, autocommit=True
    ) as connection:
        cursor = connection.execute("SHOW POOLS")
        names = [c.name for c in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor]


@pytest.fixture
def pooled_app(settings, pgbouncer):
    app = main({}, **settings, **{"tenantapp.pooler.default": pgbouncer})
    yield app
    service(app.registry, ICacheListener).stop()
    service(app.registry, IPlaceListeners).stop()
    service(app.registry, IServingProcesses).stop()
    service(app.registry, IServers).dispose()


def test_tenants_are_served_through_pgbouncer_in_transaction_mode(
    pooled_app, testapp, make_tenant, pgbouncer, database_url
):
    """Two tenants asked at once over 8 threads, through 2 server connections: every answer
    is its own tenant's, writes land, and the limits that live in transactions hold."""
    first, second = make_tenant("pa"), make_tenant("pb")
    set_quota(testapp, first, requests_in_flight=8, requests_per_second=1000)
    client = webtest.TestApp(pooled_app, extra_environ={"HTTP_HOST": "example.com"})
    for handle, email in ((first, "a@pa.example"), (second, "b@pb.example")):
        client.post_json(
            f"/{handle.slug}/users", {"email": email, "name": "N"}, headers=handle.auth, status=201
        )

    def emails(handle) -> set[str]:
        page = client.get(f"/{handle.slug}/users", headers=handle.auth, status=200).json
        return {user["email"] for user in page["items"]}

    with ThreadPoolExecutor(8) as pool:
        seen = list(pool.map(emails, [first, second] * 40))
    assert all("a@pa.example" in s and "b@pb.example" not in s for s in seen[0::2])
    assert all("b@pb.example" in s and "a@pa.example" not in s for s in seen[1::2])
    serving = [
        p
        for p in pools(pgbouncer, make_url(database_url).username)
        if p["user"] == APP_ROLE and p["database"] == make_url(database_url).database
    ]
    assert serving and serving[0]["pool_mode"] == "transaction"
    assert serving[0]["sv_active"] + serving[0]["sv_idle"] + serving[0]["sv_used"] <= 2


def test_a_database_tenant_is_made_with_every_connection_through_pgbouncer(empty_database_url):
    """The owner's connections too go through the pooler (``sqlalchemy.url`` at PgBouncer, with
    a few server connections: migrating holds its lock while it works): migrate and the first
    database-mode tenant take transaction-level locks (a session lock would not stay with the
    client), the template is copied although the pooler keeps idle sessions on it, and nothing
    waits on a connection of its own pool (of one)."""
    with throwaway.pgbouncer(empty_database_url, pool_size=5, user=APP_ROLE) as pooler:
        tenancy = tenancy_for(
            {
                "sqlalchemy.url": through_pooler(empty_database_url, pooler),
                "tenantapp.embedded_database": "false",
                "sqlalchemy.pool_size": "1",
                "sqlalchemy.max_overflow": "0",
                "sqlalchemy.pool_timeout": "10",
            }
        )
        try:
            tenancy.migrate()
            info, _ = tenancy.create_tenant("bouncer", mode="database")
            assert info.mode == "database"
            tenancy.purge_tenant("bouncer")
        finally:
            tenancy.servers.dispose()
