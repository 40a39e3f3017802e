"""Each isolation mode's part of the lifecycle: making, archiving, restoring, dropping and
measuring a tenant's storage. A storage is its mode's serving store (``tenancy.stores``) with
these methods added; ``Tenancy.store(mode)`` hands it out.

Lifecycle methods take the registry's connection: a storage whose tenant lives on the
registry's server works in the registry's transaction, so both commit together.
"""

from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import replace

from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection
from sqlalchemy.schema import CreateSchema, DropSchema
from zope.interface import implementer

from ..interfaces import ITenantStorage
from ..tenancy.binding import bind_connection
from ..tenancy.directory import TenantEntry
from ..tenancy.errors import SharedSchemaMissing
from ..tenancy.models import POOLED_SCHEMA, schema_for_id
from ..tenancy.stores import SchemaStore, SharedStore
from . import migrations, templates
from .roles import grant_serving

ARCHIVE_SUFFIX = "_archived"
# build(connection, schema): make the tenant's tables in ``schema`` (an import loads its rows)
Build = Callable[[Connection, str], None]
# populate(connection): first rows, on a connection bound to the new tenant
Populate = Callable[[Connection], None]


@implementer(ITenantStorage)
class SchemaStorage(SchemaStore):
    """Schema mode: a schema per tenant, made, renamed and dropped."""

    @contextmanager
    def transaction(self, registry: Connection, entry: TenantEntry):
        """A transaction that reaches the tenant's schema (see ``Servers.transaction``)."""
        with self.servers.transaction(registry, entry.server) as connection:
            yield connection

    def create(
        self,
        registry: Connection,
        entry: TenantEntry,
        use_template: bool = True,
        populate: Populate | None = None,
        build: Build | None = None,
    ) -> str:
        """The tenant's schema with its tables at head (by ``build``, else from the captured
        template when there is one for head, else by running the migrations), granted to the
        serving role, with its first rows. Returns the revision."""
        with self.transaction(registry, entry) as connection:
            connection.execute(CreateSchema(entry.schema_name))
            revision = build_tables(connection, entry.schema_name, use_template, build)
            grant_serving(connection, entry.schema_name, self.servers.app_role.name)
            if populate is not None:
                bind_connection(connection, self.binding(entry))
                populate(connection)
        return revision

    def archive(self, registry: Connection, entry: TenantEntry) -> str:
        """Out of the binding's reach (it only accepts ``tenant_<id>``), restorably."""
        archived = entry.schema_name + ARCHIVE_SUFFIX
        with self.transaction(registry, entry) as connection:
            _rename_schema(connection, entry.schema_name, archived)
        return archived

    def restore(self, registry: Connection, entry: TenantEntry) -> str:
        restored = entry.schema_name.removesuffix(ARCHIVE_SUFFIX)
        with self.transaction(registry, entry) as connection:
            _rename_schema(connection, entry.schema_name, restored)
        return restored

    def drop(self, registry: Connection, entry: TenantEntry) -> None:
        with self.transaction(registry, entry) as connection:
            connection.execute(DropSchema(entry.schema_name, cascade=True, if_exists=True))

    def sizes(self, entries: list[TenantEntry]) -> dict[int, int]:
        """Bytes on disk per tenant schema (tables with their indexes and TOAST)."""
        sizes = {}
        for server, placed in _by_server(entries).items():
            with self.servers[server].owner.connect() as connection:
                rows = connection.execute(
                    text(
                        "SELECT n.nspname, sum(pg_total_relation_size(c.oid))"
                        " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                        " WHERE c.relkind IN ('r', 'm') AND n.nspname = ANY(:schemas)"
                        " GROUP BY n.nspname"
                    ),
                    {"schemas": [e.schema_name for e in placed]},
                )
                by_schema = {name: int(size) for name, size in rows}
            sizes.update({e.id: by_schema.get(e.schema_name, 0) for e in placed})
        return sizes


@implementer(ITenantStorage)
class SharedStorage(SharedStore):
    """Shared mode: creating a tenant makes no DDL at all; dropping it deletes its rows."""

    transaction = SchemaStorage.transaction

    def create(
        self,
        registry: Connection,
        entry: TenantEntry,
        use_template: bool = True,
        populate: Populate | None = None,
        build: Build | None = None,
    ) -> str:
        """Nothing to build: the pooled tables are there. With ``build`` (an import), the
        tables are built in a schema of the tenant's id, then their rows join the pooled
        tables and that schema goes. Returns the pooled tables' revision."""
        with self.transaction(registry, entry) as connection:
            revision = pooled_revision(connection)
            if revision is None:
                raise SharedSchemaMissing(
                    "this server has no pooled schema: run `tenantapp-admin CONFIG_URI migrate`"
                )
            if build is not None:
                staging = schema_for_id(entry.id)
                connection.execute(CreateSchema(staging))
                build(connection, staging)
                pool_rows(connection, staging, entry.id)
                connection.execute(DropSchema(staging, cascade=True))
            if populate is not None:
                bind_connection(connection, self.binding(entry))
                populate(connection)
        return revision

    def archive(self, registry: Connection, entry: TenantEntry) -> str:
        """The rows stay; a deleted tenant is never resolved, so nothing binds to its id."""
        return entry.schema_name

    restore = archive

    def drop(self, registry: Connection, entry: TenantEntry) -> None:
        """Delete the tenant's rows, children first; bound to the tenant, so row-level
        security confines every statement to its rows even for a non-superuser owner."""
        with self.transaction(registry, entry) as connection:
            # the lifecycle's own statements pass no move guard: a departed tenant is purged too
            bind_connection(connection, replace(self.binding(entry), guard=None))
            for table in reversed(pooled_metadata(connection).sorted_tables):
                connection.execute(table.delete().where(table.c.tenant_id == entry.id))

    def sizes(self, entries: list[TenantEntry]) -> dict[int, int]:
        """Bytes of the tenant's rows (indexes not counted: they are shared)."""
        totals = {e.id: 0 for e in entries}
        for server, placed in _by_server(entries).items():
            ids = [e.id for e in placed]
            with self.servers[server].owner.connect() as connection:
                for table in pooled_metadata(connection).sorted_tables:
                    source = _qualified(connection, POOLED_SCHEMA, table.name)
                    rows = connection.execute(
                        text(
                            f"SELECT tenant_id, sum(pg_column_size(t.*)) FROM {source} t"  # noqa: S608
                            " WHERE tenant_id = ANY(:ids) GROUP BY tenant_id"
                        ),
                        {"ids": ids},
                    )
                    for tenant_id, size in rows:
                        totals[tenant_id] += int(size)
        return totals


def build_tables(
    connection: Connection, schema: str, use_template: bool, build: Build | None
) -> str:
    """The tables of a new tenant schema: by ``build``, else from the captured template, else
    by running the migrations; at the revision ``migrate`` last took the server's template to
    (``creation_revision``). Returns the revision."""
    if build is not None:
        build(connection, schema)
        return migrations.current_revision(connection, "tenant", schema)
    target = templates.creation_revision(connection)
    ddl = templates.template_ddl(connection, target) if use_template else None
    if ddl is not None:
        templates.apply_template(connection, ddl, schema, target)
    else:
        migrations.upgrade_tenant(connection, schema, target)
    return target


def pool_rows(connection: Connection, schema: str, tenant_id: int) -> None:
    """Copy the rows of the tenant schema ``schema`` into the pooled tables as ``tenant_id``'s
    (parents first), and move the pooled identity sequences past every id copied in, so a later
    insert never takes one of them."""
    metadata = MetaData(schema=schema)
    metadata.reflect(connection)
    for table in metadata.sorted_tables:
        if table.name == "alembic_version":
            continue
        columns = ", ".join(_quote(connection, c.name) for c in table.columns)
        source = _qualified(connection, schema, table.name)
        target = _qualified(connection, POOLED_SCHEMA, table.name)
        connection.exec_driver_sql(
            f"INSERT INTO {target} (tenant_id, {columns})"  # noqa: S608 - quoted names
            f" SELECT %s, {columns} FROM {source}",
            (tenant_id,),
        )
        for column in table.columns:
            if column.identity is not None:
                advance_sequence(connection, target, column.name)


def advance_sequence(connection: Connection, table: str, column: str) -> None:
    """Move ``table.column``'s identity sequence past every value in it (never back)."""
    sequence = connection.exec_driver_sql(
        "SELECT pg_get_serial_sequence(%s, %s)", (table, column)
    ).scalar()
    quoted = _quote(connection, column)
    connection.exec_driver_sql(
        f"SELECT setval(%s, greatest((SELECT last_value FROM {sequence}),"  # noqa: S608
        f" (SELECT coalesce(max({quoted}), 0) FROM {table})))",
        (sequence,),
    )


def pooled_revision(connection: Connection) -> str | None:
    """The pooled tables' revision, in one plain query: creating a shared tenant is this, a
    registry row and a commit."""
    if connection.scalar(text("SELECT to_regclass('tenant_shared.alembic_version')")) is None:
        return None
    return connection.scalar(text("SELECT version_num FROM tenant_shared.alembic_version"))


def pooled_metadata(connection: Connection) -> MetaData:
    metadata = MetaData(schema=POOLED_SCHEMA)
    metadata.reflect(connection)
    metadata.remove(metadata.tables[f"{POOLED_SCHEMA}.alembic_version"])
    return metadata


def _by_server(entries: list[TenantEntry]) -> dict[str, list[TenantEntry]]:
    placed: dict[str, list[TenantEntry]] = {}
    for entry in entries:
        placed.setdefault(entry.server, []).append(entry)
    return placed


def _quote(connection: Connection, name: str) -> str:
    return connection.dialect.identifier_preparer.quote(name)


def _qualified(connection: Connection, schema: str, table: str) -> str:
    quote = connection.dialect.identifier_preparer
    return f"{quote.quote_schema(schema)}.{quote.quote(table)}"


def _rename_schema(connection: Connection, old: str, new: str) -> None:
    quote = connection.dialect.identifier_preparer
    connection.exec_driver_sql(
        f"ALTER SCHEMA {quote.quote_schema(old)} RENAME TO {quote.quote_schema(new)}"
    )
