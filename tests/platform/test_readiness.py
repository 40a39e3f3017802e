"""A database that is down or not migrated: 503 with Retry-After, and /-/ready says why."""

import pytest
import webtest

from tenantapp import main
from tenantapp.interfaces import ICacheListener, IServers, service
from tests.conftest import OPERATOR_TOKEN, tenancy_for


@pytest.fixture
def make_app(settings):
    apps = []

    def make(**overrides):
        app = main({}, **{**settings, **overrides})
        apps.append(app)
        return webtest.TestApp(app, extra_environ={"HTTP_HOST": "example.com"})

    yield make
    for app in apps:
        service(app.registry, ICacheListener).stop()
        service(app.registry, IServers).dispose()


def test_ready_when_migrated(testapp):
    response = testapp.get("/-/ready", status=200)
    assert response.json == {
        "status": "ready",
        "checks": {"database": "ok", "shared_schema": "ok"},
    }


def test_ready_needs_no_operator_token_and_opens_nothing_else(make_app):
    client = make_app(**{"tenantapp.operator_token": ""})
    client.get("/-/ready", status=200)
    client.get("/-/tenants", status=404)
    client.get("/-/tenants", headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"}, status=404)


def test_a_database_that_is_down_gives_503_with_retry_after(make_app, tenant):
    client = make_app(**{"sqlalchemy.url": "postgresql://postgres@127.0.0.1:1/nothing"})
    operator = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
    for path, auth in (
        (f"/{tenant.slug}/users", tenant.auth),
        (f"/{tenant.slug}", tenant.auth),
        ("/-/tenants", operator),
    ):
        response = client.get(path, headers=auth, status=503)
        assert response.json["error"] == "database_unavailable"
        assert response.headers["Retry-After"] == "5"
    body = {"email": tenant.owner_email, "password": "whatever it is"}
    client.post_json(f"/{tenant.slug}/tokens", body, status=503)
    response = client.get("/-/ready", status=503)
    assert response.json["checks"]["database"] == "unreachable"
    assert response.headers["Retry-After"] == "5"


def test_an_unmigrated_database_is_not_ready_until_migrated(make_app, empty_database_url, settings):
    client = make_app(**{"sqlalchemy.url": empty_database_url})
    response = client.get("/-/ready", status=503)
    assert response.json["error"] == "not_ready"
    assert "run migrate" in response.json["checks"]["shared_schema"]
    response = client.get("/acme/users", status=503)
    assert response.json == {"error": "not_ready", "message": "the database is not migrated yet"}
    tenancy = tenancy_for({**settings, "sqlalchemy.url": empty_database_url})
    tenancy.migrate()
    tenancy.servers.dispose()
    client.get("/-/ready", status=200)
    client.get("/acme/users", status=404)
