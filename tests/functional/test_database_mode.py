"""Database mode: a tenant in a database of its own, made from a template database, served by a
bounded set of pools."""

import time

import pytest
import sqlalchemy as sa
import webtest

from tenantapp import main
from tenantapp.identity.tokens import CHANNEL
from tenantapp.interfaces import IDatabasePools, IServers, service
from tenantapp.tenancy import migrating, migrations, provisioning
from tenantapp.tenancy.databases import database_name, template_name


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
        provisioning.get_tenant(tenancy, fresh_slug)


def test_pools_are_bounded_across_tenant_databases(settings, make_tenant):
    made = [make_tenant("dp", mode="database") for _ in range(4)]
    app = main({}, **settings, **{"tenantapp.database_mode.max_pools": "2"})
    client = webtest.TestApp(app, extra_environ={"HTTP_HOST": "example.com"})
    pools = service(app.registry, IDatabasePools)
    try:
        for _ in range(2):
            for tenant in made:
                client.get(f"/{tenant.slug}/users", headers=tenant.auth, status=200)
                stats = pools.stats()
                assert stats["pools"] <= 2
                assert stats["connections"] <= 2 * stats["pool_size"]
        assert pools.stats()["closed"] >= 6  # every switch past two closed the oldest pool
        # a pool's database is listened to while the pool is open, and no longer
        assert app.registry["place_listeners"].listening() == 2
    finally:
        pools.dispose()
        app.registry["cache_listener"].stop()
        service(app.registry, IServers).dispose()


def test_archive_shuts_the_database_and_restore_opens_it(testapp, tenancy, in_database):
    provisioning.archive_tenant(tenancy, in_database.slug)
    testapp.get(f"/{in_database.slug}/users", headers=in_database.auth, status=404)
    refused = pytest.raises(sa.exc.OperationalError, match="not currently accepting connections")
    with refused, in_database.owner_engine(tenancy).connect():
        pass
    provisioning.restore_tenant(tenancy, in_database.slug)
    testapp.get(f"/{in_database.slug}/users", headers=in_database.auth, status=200)


def test_purge_drops_the_database(engine, tenancy, in_database):
    name = database_name(engine.url.database, in_database.id)
    provisioning.purge_tenant(tenancy, in_database.slug)
    assert name not in databases(engine)


def test_migrate_reaches_into_tenant_databases(tenancy, in_database):
    slugs = [in_database.slug]
    assert len(migrating.migrate(tenancy, slugs=slugs, downgrade_to="t001").migrated) == 1
    with in_database.owner_engine(tenancy).connect() as connection:
        assert migrations.current_revision(connection, "tenant", in_database.schema_name) == "t001"
    assert len(migrating.migrate(tenancy, slugs=slugs).migrated) == 1
    with in_database.owner_engine(tenancy).connect() as connection:
        head = migrations.current_revision(connection, "tenant", in_database.schema_name)
    assert head == migrations.head_revision("tenant")


def wait_for(condition, limit: float = 10.0) -> None:
    """Wait until ``condition()`` holds (a state to reach, not a time to pass)."""
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.01)


def test_token_owners_from_a_tenant_database_are_cached_and_kept_true(
    app, testapp, tenancy, in_database
):
    """This process listens on a tenant database while it has a pool there: a token revoked
    by any client, here plain SQL in that database, stops working at once."""
    store = tenancy.store("database")
    owners = app.registry["place_listeners"].cache(*store.heard_at(in_database.entry), CHANNEL)
    url = f"/{in_database.slug}/users"
    wait_for(lambda: owners.stats()["trusted"])
    testapp.get(url, headers=in_database.auth, status=200)
    hits = owners.stats()["hits"]
    testapp.get(url, headers=in_database.auth, status=200)
    assert owners.stats()["hits"] == hits + 1
    assert owners.stats()["size"] >= 1

    with in_database.owner_engine(tenancy).begin() as connection:
        connection.exec_driver_sql(f"DELETE FROM {in_database.schema_name}.tokens")
    wait_for(lambda: owners.stats()["size"] == 0, limit=2)
    testapp.get(url, headers=in_database.auth, status=401)
