"""Database mode: a tenant in a database of its own, made from a template database, served by a
bounded set of pools."""

import time

import pytest
import sqlalchemy as sa
import webtest

from tenantapp import main
from tenantapp.identity.tokens import CHANNEL
from tenantapp.interfaces import (
    ICacheListener,
    IDatabasePools,
    IPlaceListeners,
    IServers,
    ITenantStore,
    service,
)
from tenantapp.lifecycle import migrations, provisioning
from tenantapp.tenancy.databases import connection_budget, database_name, template_name


@pytest.fixture
def in_database(make_tenant):
    return make_tenant("d", mode="database")


def databases(engine) -> set[str]:
    with engine.connect() as connection:
        return set(connection.scalars(sa.text("SELECT datname FROM pg_database")))


def test_a_tenant_gets_a_database_made_from_the_template(engine, tenancy, in_database):
    server_database = engine.url.database
    names = databases(engine)
    assert database_name(server_database, in_database.id) in names
    assert template_name(server_database) in names
    with in_database.owner_engine(tenancy).connect() as connection:
        schemas = connection.scalars(
            sa.text("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'tenant\\_%'")
        ).all()
        head = migrations.current_revision(connection, "tenant", in_database.schema_name)
    assert schemas == [in_database.schema_name]
    assert head == migrations.head_revision("tenant")


def test_a_failure_midway_leaves_no_database_and_no_row(engine, tenancy, fresh_slug):
    before = databases(engine)

    def failing(connection):
        raise RuntimeError("disk on fire")

    store = tenancy.store("database")
    with pytest.raises(RuntimeError), tenancy.registry.begin() as registry:
        entry = provisioning.register_tenant(registry, fresh_slug, "x", store)
        store.create(registry, entry, populate=failing)
    assert databases(engine) == before
    with pytest.raises(provisioning.UnknownTenant):
        tenancy.get_tenant(fresh_slug)


def test_pools_stay_within_their_connection_budget_across_tenant_databases(settings, make_tenant):
    made = [make_tenant("dp", mode="database") for _ in range(4)]
    app = main({}, **settings, **{"tenantapp.database_mode.max_connections": "2"})
    client = webtest.TestApp(app, extra_environ={"HTTP_HOST": "example.com"})
    pools = service(app.registry, IDatabasePools)
    try:
        for _ in range(2):
            for tenant in made:
                client.get(f"/{tenant.slug}/users", headers=tenant.auth, status=200)
                assert pools.stats()["connections"] <= 2
        stats = pools.stats()
        assert stats["pools"] == 4  # engines are kept; their connections are not
        assert stats["opened"] == 8 and stats["closed"] >= 6  # each switch past two closed one
        assert stats["waited"] == 0  # an idle connection was always there to close
        assert service(app.registry, IPlaceListeners).listening() == 0  # no connection to listen
    finally:
        pools.dispose()
        service(app.registry, ICacheListener).stop()
        service(app.registry, IServers).dispose()


def test_a_request_waits_for_a_busy_budget_then_is_refused_with_503(settings, make_tenant):
    """Every connection the budget allows is checked out: a request for another tenant
    database waits for one to come back, and past the bound gets a 503 with Retry-After."""
    first, second = (make_tenant("dw", mode="database") for _ in range(2))
    extra = {
        "tenantapp.database_mode.max_connections": "1",
        "tenantapp.database_mode.pool_timeout": "0.2",
    }
    app = main({}, **settings, **extra)
    client = webtest.TestApp(app, extra_environ={"HTTP_HOST": "example.com"})
    pools = service(app.registry, IDatabasePools)
    store = service(app.registry, ITenantStore, "database")
    try:
        client.get(f"/{first.slug}/users", headers=first.auth, status=200)
        held = store.engine(first.entry).connect()  # the budget's connection, busy
        try:
            refused = client.get(f"/{second.slug}/users", headers=second.auth, status=503)
            assert refused.json["error"] == "database_unavailable"
            assert refused.headers["Retry-After"]
            assert pools.stats()["waited"] == 1
        finally:
            held.close()
        client.get(f"/{second.slug}/users", headers=second.auth, status=200)  # room again
        assert pools.stats()["connections"] == 1
    finally:
        pools.dispose()
        service(app.registry, ICacheListener).stop()
        service(app.registry, IServers).dispose()


def test_the_default_budget_is_half_of_what_the_server_has_free(engine):
    with engine.connect() as connection:
        most = connection.scalar(sa.text("SELECT current_setting('max_connections')::int"))
    budget = connection_budget(engine, reserve=0)
    assert 0 < budget <= most // 2
    assert connection_budget(engine, reserve=10) < budget


def test_archive_shuts_the_database_and_restore_opens_it(testapp, tenancy, in_database):
    tenancy.archive_tenant(in_database.slug)
    testapp.get(f"/{in_database.slug}/users", headers=in_database.auth, status=404)
    refused = pytest.raises(sa.exc.OperationalError, match="not currently accepting connections")
    with refused, in_database.owner_engine(tenancy).connect():
        pass
    tenancy.restore_tenant(in_database.slug)
    testapp.get(f"/{in_database.slug}/users", headers=in_database.auth, status=200)


def test_purge_drops_the_database(engine, tenancy, in_database):
    name = database_name(engine.url.database, in_database.id)
    tenancy.purge_tenant(in_database.slug)
    assert name not in databases(engine)


def test_migrate_reaches_into_tenant_databases(tenancy, in_database):
    slugs = [in_database.slug]
    assert len(tenancy.migrate(slugs=slugs, downgrade_to="t001").migrated) == 1
    with in_database.owner_engine(tenancy).connect() as connection:
        assert migrations.current_revision(connection, "tenant", in_database.schema_name) == "t001"
    assert len(tenancy.migrate(slugs=slugs).migrated) == 1
    with in_database.owner_engine(tenancy).connect() as connection:
        head = migrations.current_revision(connection, "tenant", in_database.schema_name)
    assert head == migrations.head_revision("tenant")


def token_owners(app, tenancy, handle):
    place = tenancy.store("database").heard_at(handle.entry)
    return service(app.registry, IPlaceListeners).cache(*place, CHANNEL)


def test_token_owners_are_cached_and_a_revocation_by_any_client_holds_within_a_second(
    app, testapp, tenancy, in_database
):
    """No listener per tenant database (a connection more on each): the pool's own connections
    LISTEN, and a checkout reads what its connection heard before the token is looked up. A
    token revoked by any client, here plain SQL in that database, stops working as soon as the
    notification is out (PostgreSQL sends it on commit; the listening backend writes it
    moments later)."""
    url = f"/{in_database.slug}/users"
    owners = token_owners(app, tenancy, in_database)
    for _ in range(3):
        testapp.get(url, headers=in_database.auth, status=200)
    assert owners.stats()["size"] == 1 and owners.stats()["hits"] >= 2
    with in_database.owner_engine(tenancy).begin() as connection:
        connection.exec_driver_sql(f"DELETE FROM {in_database.schema_name}.tokens")
    started = time.monotonic()
    while testapp.get(url, headers=in_database.auth, expect_errors=True).status_int != 401:
        assert time.monotonic() - started < 1, "the revoked token kept working"
    assert owners.stats()["size"] == 0


def test_a_change_while_no_connection_listened_is_not_missed(app, testapp, tenancy, in_database):
    """The budget closes a tenant database's idle connections; nothing hears it while none is
    open, so the connection made next empties what was cached."""
    url = f"/{in_database.slug}/users"
    owners = token_owners(app, tenancy, in_database)
    testapp.get(url, headers=in_database.auth, status=200)
    testapp.get(url, headers=in_database.auth, status=200)
    assert owners.stats()["size"] == 1
    tenancy.store("database").engine(in_database.entry).pool.dispose()  # as the budget does
    with in_database.owner_engine(tenancy).begin() as connection:
        connection.exec_driver_sql(f"DELETE FROM {in_database.schema_name}.tokens")
    testapp.get(url, headers=in_database.auth, status=401)
