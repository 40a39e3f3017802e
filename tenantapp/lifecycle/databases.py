"""Database mode's part of the lifecycle: a tenant database copied from the server's template
database (which ``migrate`` keeps at head), archived by refusing connections, dropped; and the
template database itself."""

import logging
import weakref
from contextlib import contextmanager

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool
from zope.interface import implementer

from ..interfaces import ITenantStorage
from ..tenancy.binding import bind_connection
from ..tenancy.databases import DatabaseStore, template_name
from ..tenancy.directory import TenantEntry
from ..tenancy.guard import install_guard
from ..tenancy.models import TEMPLATE_SCHEMA
from . import migrations
from .roles import grant_serving
from .storage import Build, Populate, _by_server, _rename_schema, build_tables

log = logging.getLogger(__name__)

TEMPLATE_LOCK = 0x74656D706C  # "templ": one process builds a server's template database
# what the identity triggers of a tenant's tables call: a notification heard by the connections
# of the pool this process keeps there (``caching.HeardOnConnections``)
NOTIFY_IDENTITY = """
CREATE SCHEMA IF NOT EXISTS tenantapp;
CREATE OR REPLACE FUNCTION tenantapp.notify_identity_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('tenantapp_identities', TG_TABLE_SCHEMA);
    RETURN NULL;
END $$;
"""


@implementer(ITenantStorage)
class DatabaseStorage(DatabaseStore):
    """A database per tenant, made from the template, archived, restored and dropped."""

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
            # idle sessions left on the template (a pooler keeps its server connections) would
            # make PostgreSQL refuse to copy it
            connection.exec_driver_sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND state = 'idle' AND pid <> pg_backend_pid()",
                (template,),
            )
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
                revision = migrations.current_revision(connection, "tenant", entry.schema_name)
        except BaseException:
            self._drop_database(entry)
            raise
        return revision

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


def direct(owner: Engine) -> Engine:
    """``owner``'s server without its pool, for what runs beside a transaction the caller holds
    (the registry's, while a tenant is made): a pool of one must not wait on itself."""
    engine = _DIRECT.get(owner)
    if engine is None:
        url = owner.url.render_as_string(hide_password=False)
        engine = _DIRECT[owner] = create_engine(url, poolclass=NullPool)
    return engine


_DIRECT: "weakref.WeakKeyDictionary[Engine, Engine]" = weakref.WeakKeyDictionary()


def ensure_template(owner: Engine, role: str) -> str:
    """The server's template database, made at head if it is missing; its name. One process
    makes it, under a transaction-level lock (a transaction pooler keeps no session lock)."""
    template = template_name(owner.url.database)
    if not _exists(direct(owner), template):
        with direct(owner).begin() as lock:
            lock.scalar(select(func.pg_advisory_xact_lock(TEMPLATE_LOCK)))
            if not _exists(direct(owner), template):  # another process made it meanwhile
                refresh_template_database(owner, role, create=True)
    return template


def _exists(engine: Engine, database: str) -> bool:
    with engine.connect() as connection:
        return bool(
            connection.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": database}
            )
        )


def refresh_template_database(
    owner: Engine, role: str, create: bool = False, downgrade_to: str | None = None, target=None
) -> bool:
    """Bring the server's template database to ``target(current)`` (default: head), or down to
    ``downgrade_to``; made first when ``create``. Returns whether there is one."""
    template = template_name(owner.url.database)
    if not _exists(direct(owner), template):
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
                at = migrations.current_revision(connection, "tenant", TEMPLATE_SCHEMA)
                to = migrations.head_revision("tenant") if target is None else target(at)
                migrations.upgrade_tenant(connection, TEMPLATE_SCHEMA, to)
            grant_serving(connection, TEMPLATE_SCHEMA, role)

    finally:
        engine.dispose()  # CREATE DATABASE ... TEMPLATE needs it unused
    return True


def template_database(owner: Engine, work) -> None:
    """``work(engine, revision)`` on the server's template database at its revision, where
    there is one; its engine disposed after (CREATE DATABASE ... TEMPLATE needs it unused)."""
    template = template_name(owner.url.database)
    if not _exists(direct(owner), template):
        return
    engine = create_engine(
        owner.url.set(database=template).render_as_string(hide_password=False), poolclass=NullPool
    )
    try:
        with engine.connect() as connection:
            at = migrations.current_revision(connection, "tenant", TEMPLATE_SCHEMA)
        if at is not None:
            work(engine, at)
    finally:
        engine.dispose()


@contextmanager
def _autocommit(engine: Engine):
    """CREATE, ALTER and DROP DATABASE run outside a transaction: on a connection of their own,
    beside the registry's transaction (``direct``)."""
    with direct(engine).connect() as connection:
        yield connection.execution_options(isolation_level="AUTOCOMMIT")


def _q(connection: Connection, name: str) -> str:
    return connection.dialect.identifier_preparer.quote(name)
