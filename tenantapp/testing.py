"""pytest fixtures for apps built on tenantapp (a ``pytest11`` plugin: installed, it is loaded).

    def test_members_cannot_add_users(tenant, tenant_app):
        member = tenant_app("member")
        member.post_json(f"/{tenant.slug}/users", {"email": "x@example.com", "name": "X"},
                         status=403)

* ``tenantapp_database_url`` (session): a database of its own on the PostgreSQL server named by
  ``TENANTAPP_TEST_DATABASE_URL``, else on an embedded server started for the session; dropped
  at the end, with any databases its tenants made.
* ``tenantapp_settings`` (session): the app's settings for the tests. Override it to add your own;
  the database, an operator token and cheap password hashing are set for you.
* ``tenantapp_app`` (session): the WSGI app, migrated.
* ``tenant``: a new tenant for the test, made from the captured template (milliseconds), with
  an owner; purged after the test. ``tenant.slug``, ``tenant.entry``, ``tenant.owner_email``.
* ``tenant_app(role="owner")``: a webtest app logged in as a new user with that role (owner,
  admin or member) of ``tenant``.
* ``tenant_session``: a SQLAlchemy session bound to ``tenant``, as a request's is; commit to
  make rows the app will see.
"""

import os
import tempfile
import uuid
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import pytest

from .interfaces import IPasswordHasher, service
from .throwaway import (
    CHEAP_HASHING,
    HOST,
    OPERATOR_TOKEN,
    PASSWORD,
    TEST_KEYS,
    TEST_URL_ENV,
    embedded_server,
    stop_app,
    throwaway_database,
)

__all__ = [  # the helpers the plugin shares with app authors' suites
    "CHEAP_HASHING",
    "HOST",
    "OPERATOR_TOKEN",
    "PASSWORD",
    "TEST_KEYS",
    "TEST_URL_ENV",
    "embedded_server",
    "login",
    "stop_app",
    "throwaway_database",
]


def login(testapp, slug: str, email: str, password: str = PASSWORD) -> str:
    body = {"email": email, "password": password}
    return testapp.post_json(f"/{slug}/tokens", body, status=201).json["token"]


@dataclass(frozen=True)
class TestTenant:
    """A tenant made for one test."""

    __test__ = False  # not a test class, whatever its name

    slug: str
    entry: object  # tenantapp.tenancy.directory.TenantEntry
    owner_email: str
    owner_token: str


@pytest.fixture(scope="session")
def tenantapp_server_url():
    """The server named by the environment, else an embedded one for the session, with its data
    in a directory of its own (not pytest's basetemp: a later pytest run removes old basetemps,
    and would pull the data from under a session still running)."""
    url = os.environ.get(TEST_URL_ENV)
    if url:
        yield url
        return
    with (
        tempfile.TemporaryDirectory(prefix="tenantapp-pg-") as directory,
        embedded_server(Path(directory) / "pgdata") as server,
    ):
        yield server.get_uri(driver="psycopg")


@pytest.fixture(scope="session")
def tenantapp_database_url(tenantapp_server_url):
    with throwaway_database(tenantapp_server_url) as url:
        yield url


@pytest.fixture(scope="session")
def tenantapp_settings() -> dict:
    """Your app's settings for the tests: override this fixture to add them."""
    return {}


@pytest.fixture(scope="session")
def tenantapp_app(tenantapp_settings, tenantapp_database_url):
    from . import main, tenancy_from

    settings = {
        "tenantapp.operator_token": OPERATOR_TOKEN,
        **CHEAP_HASHING,
        **TEST_KEYS,
        **tenantapp_settings,
        "sqlalchemy.url": tenantapp_database_url,
        "tenantapp.embedded_database": "false",
    }
    tenancy_from(settings).migrate()
    app = main({}, **settings)
    yield app
    stop_app(app)


def _tenancy(app):
    from .interfaces import ITenancy, service

    return service(app.registry, ITenancy)


@pytest.fixture
def tenant(tenantapp_app):
    import webtest

    from .lifecycle import provisioning
    from .tenancy.directory import find_tenant

    tenancy = _tenancy(tenantapp_app)
    slug = f"t-{uuid.uuid4().hex[:12]}"
    email = f"owner@{slug}.example"
    tenancy.create_tenant(
        slug,
        None,
        email,
        PASSWORD,
        hasher=service(tenantapp_app.registry, IPasswordHasher),
    )
    try:
        client = webtest.TestApp(tenantapp_app, extra_environ={"HTTP_HOST": HOST})
        yield TestTenant(
            slug, find_tenant(tenancy.registry, slug), email, login(client, slug, email)
        )
    finally:
        with suppress(provisioning.UnknownTenant):
            tenancy.purge_tenant(slug)


@pytest.fixture
def tenant_app(tenantapp_app, tenant):
    """``tenant_app(role)``: a webtest app logged in as a new ``role`` of ``tenant``."""
    import webtest

    def logged_in(role: str = "owner"):
        client = webtest.TestApp(tenantapp_app, extra_environ={"HTTP_HOST": HOST})
        if role == "owner":
            client.authorization = ("Bearer", tenant.owner_token)
            return client
        owner = {"Authorization": f"Bearer {tenant.owner_token}"}
        email = f"{role}-{uuid.uuid4().hex[:8]}@{tenant.slug}.example"
        body = {"email": email, "name": role.title(), "password": PASSWORD}
        user = client.post_json(f"/{tenant.slug}/users", body, headers=owner).json
        client.put_json(f"/{tenant.slug}/users/{user['id']}/role", {"role": role}, headers=owner)
        client.authorization = ("Bearer", login(client, tenant.slug, email))
        return client

    return logged_in


@pytest.fixture
def tenant_session(tenantapp_app, tenant):
    from .tenancy.sessions import tenant_session as bound

    session = bound(tenantapp_app.registry, tenant.entry)
    yield session
    session.close()


@pytest.fixture(scope="session")
def personal_data_coverage(tenantapp_app) -> list[str]:
    """The tenant models no ``config.add_personal_data`` declared: a person's data export and
    erasure would miss them. An app's suite asserts this is empty."""
    from .interfaces import IPersonalData

    return service(tenantapp_app.registry, IPersonalData).uncovered()
