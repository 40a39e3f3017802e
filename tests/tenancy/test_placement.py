"""Placement: tenants on a second server (here a second database), in each isolation mode."""

import time

import pytest
import sqlalchemy as sa

from tenantapp.identity.tokens import CHANNEL
from tenantapp.interfaces import IPlaceListeners, service
from tenantapp.lifecycle import migrations, provisioning
from tenantapp.scripts.admin import main as admin
from tests.conftest import OPERATOR_TOKEN

OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
MODES = ["schema", "shared", "database"]


def database_of(engine) -> str:
    with engine.connect() as connection:
        return connection.scalar(sa.text("SELECT current_database()"))


@pytest.mark.parametrize("mode", MODES)
def test_a_tenant_on_the_second_server_is_served_from_there(
    testapp, tenancy, make_tenant, add_user, mode
):
    placed = make_tenant("p", mode=mode, server="second")
    add_user(placed.slug, "far@p.example")
    emails = [
        u["email"] for u in testapp.get(f"/{placed.slug}/users", headers=placed.auth).json["items"]
    ]
    assert sorted(emails) == sorted([placed.owner_email, "far@p.example"])
    second = tenancy.servers["second"].owner
    with placed.owner_engine(tenancy).connect() as connection:
        stored = connection.scalars(
            sa.text(f'SELECT email FROM "{placed.schema_name}".users{placed.where()}')
        ).all()
        where_stored = connection.scalar(sa.text("SELECT current_database()"))
    assert sorted(stored) == sorted(emails)
    assert where_stored.startswith(database_of(second))
    with tenancy.registry.connect() as connection:  # nothing of it on the default server
        exists = connection.scalar(
            sa.text("SELECT count(*) FROM pg_namespace WHERE nspname = :s"),
            {"s": placed.schema_name},
        )
    assert exists == (1 if mode == "shared" else 0)  # tenant_shared is on every server
    info = tenancy.get_tenant(placed.slug)
    assert (info.mode, info.server) == (mode, "second")
    assert database_of(second) != database_of(tenancy.registry)


@pytest.mark.slow
def test_migrate_covers_every_server(tenancy, config_uri, make_tenant, capsys):
    placed = make_tenant("pm", mode="schema", server="second")
    migrating_down = admin([config_uri, "migrate", "--tenant", placed.slug, "--downgrade", "t001"])
    assert migrating_down == 0
    with tenancy.servers["second"].owner.connect() as connection:
        assert migrations.current_revision(connection, "tenant", placed.schema_name) == "t001"
    assert admin([config_uri, "migrate"]) == 0
    assert "1 migrated, 0 failed" in capsys.readouterr().out
    with tenancy.servers["second"].owner.connect() as connection:
        head = migrations.head_revision("tenant")
        assert migrations.current_revision(connection, "tenant", placed.schema_name) == head
        assert migrations.current_revision(connection, "tenant", "tenant_shared") == head


@pytest.mark.parametrize("mode", MODES)
def test_lifecycle_on_the_second_server(tenancy, fresh_slug, mode):
    tenancy.create_tenant(fresh_slug, mode=mode, server="second")
    tenancy.archive_tenant(fresh_slug)
    assert tenancy.get_tenant(fresh_slug).status == "deleted"
    info = tenancy.restore_tenant(fresh_slug)
    assert info.status == "active" and info.server == "second"
    tenancy.purge_tenant(fresh_slug)
    with pytest.raises(provisioning.UnknownTenant):
        tenancy.get_tenant(fresh_slug)
    with tenancy.servers["second"].owner.connect() as connection:
        assert connection.scalar(
            sa.text("SELECT count(*) FROM pg_namespace WHERE nspname = :s"),
            {"s": info.schema_name},
        ) == (1 if mode == "shared" else 0)


def test_an_unknown_server_is_refused_clearly(testapp, config_uri, fresh_slug, capsys, tenancy):
    assert admin([config_uri, "create-tenant", fresh_slug, "--server", "mars"]) == 1
    assert "no server 'mars' is configured" in capsys.readouterr().err
    body = {"slug": fresh_slug, "server": "mars"}
    response = testapp.post_json("/-/tenants", body, headers=OPERATOR, status=400)
    assert response.json["fields"] == {"server": "not configured"}
    assert fresh_slug not in [t.slug for t in tenancy.list_tenants()]


def test_the_operator_api_places_a_tenant(testapp, fresh_slug):
    body = {"slug": fresh_slug, "mode": "shared", "server": "second"}
    created = testapp.post_json("/-/tenants", body, headers=OPERATOR, status=201).json
    assert (created["mode"], created["server"]) == ("shared", "second")
    bad = testapp.post_json(
        "/-/tenants", {"slug": fresh_slug + "x", "mode": "sideways"}, headers=OPERATOR, status=400
    )
    assert "mode" in bad.json["fields"]


@pytest.mark.parametrize("mode", MODES)
def test_a_token_revoked_behind_the_apps_back_on_the_second_server_stops_working(
    app, testapp, tenancy, make_tenant, mode
):
    """The process listens on the second server too (a tenant database's own connections
    listen there): what it cached of the tenant's tokens is dropped when they change, by
    whatever client."""
    placed = make_tenant("pt", mode=mode, server="second")
    url = f"/{placed.slug}/users"
    owners = service(app.registry, IPlaceListeners).cache(
        *tenancy.store(mode).heard_at(placed.entry), CHANNEL
    )
    started = time.monotonic()
    while owners.stats()["size"] == 0:  # until the place's listener is heard, nothing is kept
        assert time.monotonic() - started < 5, "the token owner was never cached"
        testapp.get(url, headers=placed.auth, status=200)
    with placed.owner_engine(tenancy).begin() as connection:
        connection.execute(sa.text(f'DELETE FROM "{placed.schema_name}".tokens{placed.where()}'))
    started = time.monotonic()
    while testapp.get(url, headers=placed.auth, expect_errors=True).status_int != 401:
        assert time.monotonic() - started < 1, "the revoked token kept working"
