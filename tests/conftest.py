"""Test fixtures: a throwaway database on real PostgreSQL, the app, and tenants made per test.

The server is the one named by TENANTAPP_TEST_DATABASE_URL, else an embedded PostgreSQL started
for the session. Either way the tests run in a database of their own that is dropped afterwards.
"""

import os
import uuid
from contextlib import suppress
from dataclasses import dataclass

import pytest
import webtest

from tenantapp import main, tenancy_from
from tenantapp.interfaces import (
    ICacheListener,
    IPasswordHasher,
    IPlaceListeners,
    IServingProcesses,
    ITenancy,
    IUsageLedger,
    service,
)
from tenantapp.lifecycle import Lifecycle, provisioning
from tenantapp.tenancy.binding import Binding
from tenantapp.tenancy.directory import TenantEntry
from tenantapp.testing import (  # the plugin app authors use: the suite shares its helpers
    CHEAP_HASHING,
    OPERATOR_TOKEN,
    PASSWORD,
    TEST_KEYS,
    login,
    throwaway_database,
)

# the isolation mode of the tenants the fixtures make: the suite passes in each (.ci/run)
pytest_plugins = ["pytester"]  # the tests of tenantapp's own pytest plugin
TEST_MODE_ENV = "TENANTAPP_TEST_MODE"
TEST_MODE = os.environ.get(TEST_MODE_ENV, "schema")


@pytest.fixture(scope="session")
def server_url(tenantapp_server_url):
    """The plugin's: TENANTAPP_TEST_DATABASE_URL's server, else an embedded one."""
    return tenantapp_server_url


@pytest.fixture(scope="session")
def database_url(server_url):
    """The suite's database, dropped when the session ends."""
    with throwaway_database(server_url) as url:
        yield url


@pytest.fixture
def empty_database_url(server_url):
    """A database of its own for one test, with nothing migrated."""
    with throwaway_database(server_url) as url:
        yield url


@pytest.fixture(scope="session")
def second_server_url(server_url):
    """A second placement target: another database, so its tenants are on another connection
    pool and in another catalog, as on another server."""
    with throwaway_database(server_url) as url:
        yield url


@pytest.fixture(scope="session")
def settings(database_url, second_server_url, tmp_path_factory):
    return {
        "tenantapp.files.dir": str(tmp_path_factory.mktemp("files")),
        "sqlalchemy.url": database_url,
        "tenantapp.servers.second": second_server_url,
        "tenantapp.region.second": "eu",  # the default server is in none
        "tenantapp.embedded_database": "false",
        "tenantapp.operator_token": OPERATOR_TOKEN,
        "tenantapp.default_mode": TEST_MODE,
        **CHEAP_HASHING,  # the tests log in a lot, production keeps the defaults
        **TEST_KEYS,
        # per-tenant settings and flags, as an app would declare them
        "tenantapp.setting.theme": "choice(light,dark) light owner",
        "tenantapp.setting.max_upload_mb": "int 10 owner",
        "tenantapp.setting.support_email": 'str ""',
        "tenantapp.flag.new_dashboard": "bool false",
        "tenantapp.flag.fast_search": "percent 50",
        # plans: where they place tenants, and what they set beneath each tenant's overrides
        "tenantapp.plan.free.mode": "shared",
        "tenantapp.plan.free.settings": "quota_max_users=100000 theme=dark",
        "tenantapp.plan.pro.settings": "quota_max_users=200000",
        "tenantapp.plan.enterprise.mode": "database",
        "tenantapp.plan.enterprise.settings": "quota_max_users=0 quota_max_storage_mb=50000",
        "tenantapp.plan.enterprise.flags": "new_dashboard=true",
        "tenantapp.plan.eu.region": "eu",
        # no schedules: a worker started near a tick would queue a job for every tenant
        "tenantapp.jobs.cron.jobs.sweep": "",
        "tenantapp.jobs.cron.quotas.measure_storage": "",
        "tenantapp.jobs.cron.files.sweep": "",
    }


def tenancy_for(settings: dict) -> Lifecycle:
    """The tenant lifecycle of ``settings``, with the test key-encryption key unless given."""
    return tenancy_from({**TEST_KEYS, **settings})


def write_ini(path, database_url: str, extra: dict | None = None) -> str:
    lines = ["[app:main]", "use = egg:tenantapp"]
    values = {
        "tenantapp.embedded_database": "false",
        **TEST_KEYS,
        **(extra or {}),
        "sqlalchemy.url": database_url,
    }
    for key, value in values.items():
        lines.append(f"{key} = {value.replace('%', '%%')}")
    path.write_text("\n".join(lines) + "\n")
    return str(path)


@pytest.fixture
def config_uri(tmp_path, settings):
    """The suite's settings as an ini file, for tenantapp-admin."""
    return write_ini(tmp_path / "test.ini", settings["sqlalchemy.url"], settings)


@pytest.fixture(scope="session")
def app(settings):
    tenancy_for(settings).migrate()
    app = main({}, **settings)
    yield app
    service(app.registry, ICacheListener).stop()
    service(app.registry, IPlaceListeners).stop()
    service(app.registry, IUsageLedger).stop()
    service(app.registry, IServingProcesses).stop()


@pytest.fixture(scope="session")
def tenancy(app) -> Lifecycle:
    return service(app.registry, ITenancy)


@pytest.fixture(scope="session")
def engine(tenancy):
    """The default server as the owner: for tests that look at the database directly."""
    return tenancy.registry


@pytest.fixture
def testapp(app):
    return webtest.TestApp(app, extra_environ={"HTTP_HOST": "example.com"})


@dataclass(frozen=True)
class TenantHandle:
    """A tenant made for a test, with its owner logged in."""

    slug: str
    schema_name: str
    display_name: str
    owner_email: str
    token: str
    id: int = 0
    mode: str = "schema"
    server: str = "default"

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def entry(self) -> TenantEntry:
        """The tenant as the directory knows it."""
        return TenantEntry(
            self.id,
            self.slug,
            self.schema_name,
            self.display_name,
            "active",
            self.mode,
            self.server,
        )

    def owner_engine(self, tenancy):
        """Where the owner reaches this tenant's rows (its own database in database mode)."""
        return tenancy.store(self.mode).owner_engine(self.entry)

    def where(self) -> str:
        """The SQL condition selecting this tenant's rows where they are pooled."""
        return f" WHERE tenant_id = {int(self.id)}" if self.mode == "shared" else ""

    @property
    def binding(self) -> Binding:
        """How a session is bound to this tenant's rows."""
        return Binding(self.schema_name, self.id if self.mode == "shared" else None)


@pytest.fixture
def tokens():
    """slug -> the owner's token, for the tenants this test made."""
    return {}


@pytest.fixture
def make_tenant(app, engine, testapp, tokens, tenancy):
    """Create tenants with unique slugs and a logged-in owner; each is dropped after the test."""
    made = []

    def make(
        prefix: str = "t", name: str | None = None, mode: str | None = None, server: str = "default"
    ) -> TenantHandle:
        slug = f"{prefix}-{uuid.uuid4().hex[:10]}"
        email = f"owner@{slug}.example"
        info, _ = tenancy.create_tenant(
            slug,
            name,
            email,
            PASSWORD,
            hasher=service(app.registry, IPasswordHasher),
            mode=mode,
            server=server,
        )
        made.append(slug)
        tokens[slug] = login(testapp, slug, email)
        return TenantHandle(
            slug,
            info.schema_name,
            info.display_name,
            email,
            tokens[slug],
            info.id,
            info.mode,
            info.server,
        )

    yield make
    for slug in made:
        with suppress(provisioning.UnknownTenant):  # the test may have dropped it itself
            tenancy.purge_tenant(slug)


@pytest.fixture
def fresh_slug(engine, tenancy):
    """An unused slug for a test that creates the tenant itself; dropped afterwards."""
    slug = f"new-{uuid.uuid4().hex[:10]}"
    yield slug
    with suppress(provisioning.UnknownTenant):
        tenancy.purge_tenant(slug)


@pytest.fixture
def tenant(make_tenant):
    return make_tenant("a")


@pytest.fixture
def other_tenant(make_tenant):
    return make_tenant("b")


@pytest.fixture
def schema_tenant(make_tenant):
    """For tests of what only a schema of its own has (migrating it alone, locking it)."""
    return make_tenant("s", mode="schema")


@pytest.fixture
def client(app, tenant):
    """A webtest client logged in as the owner of ``tenant``."""
    client = webtest.TestApp(app, extra_environ={"HTTP_HOST": "example.com"})
    client.authorization = ("Bearer", tenant.token)
    return client


@pytest.fixture
def add_user(testapp, tokens):
    """Create a user through the API, as the tenant's owner, and return its JSON."""

    def add(slug: str, email: str, name: str = "Someone", **extra) -> dict:
        return testapp.post_json(
            f"/{slug}/users",
            {"email": email, "name": name, **extra},
            headers={"Authorization": f"Bearer {tokens[slug]}"},
            status=201,
        ).json

    return add
