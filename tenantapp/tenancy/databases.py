"""Database mode: a tenant in a database of its own, on any configured server.

A tenant's database is copied from a template database (``CREATE DATABASE ... TEMPLATE``), which
``migrate`` keeps at head; inside, the tenant's tables live in ``tenant_<id>`` as in schema
mode, so binding, migrations and archives work alike. A connection serves one database, so the
classic failure of this model is a pool per tenant database exhausting the server; here the
process holds at most ``max_pools`` pools of ``pool_size`` connections (and a listening one), the
least recently used closed first (``bench/pools.py`` measures it).

While a process has a pool on a tenant database it also listens there (one connection more),
so token owners read from it are cached and kept true as on the default server.
"""

import logging
import threading
from collections import OrderedDict
from contextlib import contextmanager

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

from . import migrations
from .binding import Binding, bind_connection
from .directory import TenantEntry
from .errors import ProvisioningError
from .guard import install_guard
from .models import TEMPLATE_SCHEMA, schema_for_id
from .roles import grant_serving
from .servers import Servers
from .stores import Build, Populate, _by_server, _rename_schema, build_tables

log = logging.getLogger(__name__)

DEFAULT_MAX_POOLS = 20  # x pool_size 2: 40 connections, within a default max_connections of 100
DEFAULT_POOL_SIZE = 2
TEMPLATE_LOCK = 0x74656D706C  # "templ": one process builds a server's template database
# what the identity triggers of a tenant's tables call: a notification heard by the listener
# this process keeps on the tenant's database while it has a pool there (``PlaceListeners``)
NOTIFY_IDENTITY = """
CREATE SCHEMA IF NOT EXISTS tenantapp;
CREATE OR REPLACE FUNCTION tenantapp.notify_identity_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('tenantapp_identities', TG_TABLE_SCHEMA);
    RETURN NULL;
END $$;
"""


def database_name(server_database: str, tenant_id: int) -> str:
    """Named after the server's own database, so two deployments on one server never meet."""
    name = f"{server_database}_t{int(tenant_id)}"
    if len(name) > 63:
        raise ProvisioningError(f"database name {name!r} is longer than PostgreSQL allows")
    return name


def template_name(server_database: str) -> str:
    return f"{server_database}_template"


class DatabasePools:
    """Serving engines for tenant databases: at most ``max_pools`` of them, each at most
    ``pool_size`` connections, so the process never holds more than their product."""

    def __init__(self, make_engine, max_pools: int, pool_size: int, on_close=None):
        self._make_engine = make_engine  # (url, pool_size) -> Engine
        self._on_close = on_close or (lambda url: None)  # a pool's database is left
        self.max_pools = max_pools
        self.pool_size = pool_size
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._lock = threading.Lock()
        self.opened = 0
        self.closed = 0

    def engine(self, url: str) -> Engine:
        with self._lock:
            engine = self._engines.get(url)
            if engine is not None:
                self._engines.move_to_end(url)
                return engine
            engine = self._engines[url] = self._make_engine(url, self.pool_size)
            self.opened += 1
            while len(self._engines) > self.max_pools:
                evicted_url, evicted = self._engines.popitem(last=False)
                evicted.dispose()  # checked-out connections close when they come back
                self._on_close(evicted_url)
                self.closed += 1
            return engine

    def forget(self, url: str) -> None:
        with self._lock:
            engine = self._engines.pop(url, None)
        if engine is not None:
            engine.dispose()
            self._on_close(url)

    def stats(self) -> dict:
        with self._lock:
            engines = list(self._engines.values())
        return {
            "pools": len(engines),
            "max_pools": self.max_pools,
            "pool_size": self.pool_size,
            "connections": sum(e.pool.checkedin() + e.pool.checkedout() for e in engines),
            "opened": self.opened,
            "closed": self.closed,
        }

    def dispose(self) -> None:
        with self._lock:
            engines, self._engines = dict(self._engines), OrderedDict()
        for url, engine in engines.items():
            engine.dispose()
            self._on_close(url)


class DatabaseStore:
    """A database of its own per tenant, on the tenant's server (see the module's docstring)."""

    mode = "database"

    def __init__(self, servers: Servers, pools: DatabasePools):
        self.servers = servers
        self.pools = pools

    def schema_name(self, tenant_id: int) -> str:
        return schema_for_id(tenant_id)

    def _url(self, engine: Engine, entry: TenantEntry) -> str:
        database = database_name(engine.url.database, entry.id)
        return engine.url.set(database=database).render_as_string(hide_password=False)

    def engine(self, entry: TenantEntry) -> Engine:
        return self.pools.engine(self._url(self.servers[entry.server].serving, entry))

    def owner_engine(self, entry: TenantEntry) -> Engine:
        return create_engine(self._url(self.servers[entry.server].owner, entry), poolclass=NullPool)

    def binding(self, entry: TenantEntry) -> Binding:
        return Binding(entry.schema_name, guard=entry.id)

    def heard_at(self, entry: TenantEntry) -> tuple[str, Engine]:
        """Its own database, listened to while this process has a pool there."""
        url = self._url(self.servers[entry.server].serving, entry)
        return url, self.pools.engine(url)

    def database(self, entry: TenantEntry) -> str:
        return database_name(self.servers[entry.server].owner.url.database, entry.id)

    @contextmanager
    def transaction(self, registry: Connection, entry: TenantEntry):
        """A transaction in the tenant's database, as the owner."""
        with self.owner_engine(entry).begin() as connection:
            yield connection

    def create(
        self,
        registry: Connection,
        entry: TenantEntry,
        use_template: bool = True,
        populate: Populate | None = None,
        build: Build | None = None,
    ) -> str:
        """The tenant's database, copied from the server's template database, its schema
        renamed to the tenant's; or, with ``build`` (an import), with the schema built by it.
        A failure drops the database again. Returns the revision."""
        server = self.servers[entry.server]
        database = self.database(entry)
        template = ensure_template(server.owner, self.servers.app_role.name)
        with _autocommit(server.owner) as connection:
            connection.exec_driver_sql(
                f"CREATE DATABASE {_q(connection, database)} TEMPLATE {_q(connection, template)}"
            )
        try:
            with self.transaction(registry, entry) as connection:
                if build is None and use_template:
                    _rename_schema(connection, TEMPLATE_SCHEMA, entry.schema_name)
                else:
                    connection.exec_driver_sql(f"DROP SCHEMA {TEMPLATE_SCHEMA} CASCADE")
                    connection.exec_driver_sql(f"CREATE SCHEMA {_q(connection, entry.schema_name)}")
                    build_tables(connection, entry.schema_name, False, build)
                grant_serving(connection, entry.schema_name, self.servers.app_role.name)
                if populate is not None:
                    bind_connection(connection, self.binding(entry))
                    populate(connection)
        except BaseException:
            self._drop_database(entry)
            raise
        return migrations.head_revision("tenant")

    def archive(self, registry: Connection, entry: TenantEntry) -> str:
        """No connections to it until restored (a deleted tenant is never resolved anyway)."""
        self._allow_connections(entry, False)
        return entry.schema_name

    def restore(self, registry: Connection, entry: TenantEntry) -> str:
        self._allow_connections(entry, True)
        return entry.schema_name

    def drop(self, registry: Connection, entry: TenantEntry) -> None:
        self._drop_database(entry)

    def sizes(self, entries: list[TenantEntry]) -> dict[int, int]:
        sizes = {}
        for server, placed in _by_server(entries).items():
            names = {self.database(e): e.id for e in placed}
            with self.servers[server].owner.connect() as connection:
                rows = connection.execute(
                    text(
                        "SELECT datname, pg_database_size(datname) FROM pg_database"
                        " WHERE datname = ANY(:names)"
                    ),
                    {"names": list(names)},
                )
                sizes.update({names[name]: int(size) for name, size in rows})
        return sizes

    def _allow_connections(self, entry: TenantEntry, allowed: bool) -> None:
        self.pools.forget(self._url(self.servers[entry.server].serving, entry))
        with _autocommit(self.servers[entry.server].owner) as connection:
            database = _q(connection, self.database(entry))
            connection.exec_driver_sql(
                f"ALTER DATABASE {database} WITH ALLOW_CONNECTIONS {str(allowed).lower()}"
            )
            if not allowed:  # and none of the connections other processes hold
                connection.exec_driver_sql(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                    (self.database(entry),),
                )

    def _drop_database(self, entry: TenantEntry) -> None:
        self.pools.forget(self._url(self.servers[entry.server].serving, entry))
        with _autocommit(self.servers[entry.server].owner) as connection:
            connection.exec_driver_sql(
                f"DROP DATABASE IF EXISTS {_q(connection, self.database(entry))} WITH (FORCE)"
            )


def ensure_template(owner: Engine, role: str) -> str:
    """The server's template database, made at head if it is missing; its name."""
    template = template_name(owner.url.database)
    with owner.connect() as connection:
        exists = connection.scalar(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": template}
        )
    if not exists:
        with owner.connect() as lock:
            lock.scalar(select(func.pg_advisory_lock(TEMPLATE_LOCK)))
            try:
                refresh_template_database(owner, role, create=True)
            finally:
                lock.scalar(select(func.pg_advisory_unlock(TEMPLATE_LOCK)))
                lock.commit()
    return template


def refresh_template_database(
    owner: Engine, role: str, create: bool = False, downgrade_to: str | None = None
) -> bool:
    """Bring the server's template database to head (or down to ``downgrade_to``); made first
    when ``create``. Returns whether there is one."""
    template = template_name(owner.url.database)
    with owner.connect() as connection:
        exists = connection.scalar(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": template}
        )
    if not exists:
        if not create:
            return False
        with _autocommit(owner) as connection:
            connection.exec_driver_sql(f"CREATE DATABASE {_q(connection, template)}")
        log.info("created the template database %s", template)
    engine = create_engine(
        owner.url.set(database=template).render_as_string(hide_password=False), poolclass=NullPool
    )
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql(NOTIFY_IDENTITY)
            install_guard(connection)
            quoted_role = _q(connection, role)
            connection.exec_driver_sql(f"GRANT USAGE ON SCHEMA tenantapp TO {quoted_role}")
            connection.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {TEMPLATE_SCHEMA}")
            if downgrade_to is not None:
                migrations.downgrade_tenant(connection, TEMPLATE_SCHEMA, downgrade_to)
            else:
                migrations.upgrade_tenant(connection, TEMPLATE_SCHEMA)
            grant_serving(connection, TEMPLATE_SCHEMA, role)
    finally:
        engine.dispose()  # CREATE DATABASE ... TEMPLATE needs it unused
    return True


@contextmanager
def _autocommit(engine: Engine):
    """CREATE, ALTER and DROP DATABASE run outside a transaction."""
    with engine.connect() as connection:
        yield connection.execution_options(isolation_level="AUTOCOMMIT")


def _q(connection: Connection, name: str) -> str:
    return connection.dialect.identifier_preparer.quote(name)
