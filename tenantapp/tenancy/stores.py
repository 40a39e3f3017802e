"""The isolation modes: where each keeps a tenant's rows, and its part of the lifecycle.

Each store is registered as an ``ITenantStore`` service under its mode's name; the request path
and the lifecycle find it by the mode in the tenant's registry row, so nothing else asks which
mode a tenant is in. Lifecycle methods run on the tenant server's owner connection, inside the
caller's transaction.
"""

from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.schema import CreateSchema, DropSchema

from . import migrations, templates
from .binding import Binding, bind_connection
from .directory import TenantEntry
from .errors import SharedSchemaMissing
from .models import POOLED_SCHEMA, schema_for_id
from .roles import grant_serving
from .servers import Servers

ARCHIVE_SUFFIX = "_archived"


class SchemaStore:
    """A schema of its own per tenant, ``tenant_<id>``, on the tenant's server."""

    mode = "schema"

    def __init__(self, servers: Servers):
        self.servers = servers

    def engine(self, entry: TenantEntry) -> Engine:
        return self.servers[entry.server].serving

    def binding(self, entry: TenantEntry) -> Binding:
        return Binding(entry.schema_name)

    def schema_name(self, tenant_id: int) -> str:
        return schema_for_id(tenant_id)

    def create(self, connection: Connection, entry: TenantEntry, use_template: bool = True) -> str:
        """The tenant's schema with its tables at head: from the captured template when there
        is one for head, else by running the migrations. Returns the revision."""
        connection.execute(CreateSchema(entry.schema_name))
        head = migrations.head_revision("tenant")
        ddl = templates.template_ddl(connection, head) if use_template else None
        if ddl is not None:
            templates.apply_template(connection, ddl, entry.schema_name, head)
        else:
            migrations.upgrade_tenant(connection, entry.schema_name)
        grant_serving(connection, entry.schema_name, self.servers.app_role.name)
        return head

    def archive(self, connection: Connection, entry: TenantEntry) -> str:
        """Out of the binding's reach (it only accepts ``tenant_<id>``), restorably."""
        archived = entry.schema_name + ARCHIVE_SUFFIX
        _rename_schema(connection, entry.schema_name, archived)
        return archived

    def restore(self, connection: Connection, entry: TenantEntry) -> str:
        restored = entry.schema_name.removesuffix(ARCHIVE_SUFFIX)
        _rename_schema(connection, entry.schema_name, restored)
        return restored

    def drop(self, connection: Connection, entry: TenantEntry) -> None:
        connection.execute(DropSchema(entry.schema_name, cascade=True, if_exists=True))

    def sizes(self, connection: Connection, entries: list[TenantEntry]) -> dict[int, int]:
        """Bytes on disk per tenant schema (tables with their indexes and TOAST), one query."""
        if not entries:
            return {}
        rows = connection.execute(
            text(
                "SELECT n.nspname, sum(pg_total_relation_size(c.oid))"
                " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE c.relkind IN ('r', 'm') AND n.nspname = ANY(:schemas)"
                " GROUP BY n.nspname"
            ),
            {"schemas": [e.schema_name for e in entries]},
        )
        by_schema = {name: int(size) for name, size in rows}
        return {e.id: by_schema.get(e.schema_name, 0) for e in entries}


class SharedStore:
    """Rows in the pooled schema ``tenant_shared`` of the tenant's server, each carrying the
    tenant's id, which row-level security filters on (see ``tenancy.pooling``). Creating a
    tenant makes no DDL at all."""

    mode = "shared"

    def __init__(self, servers: Servers):
        self.servers = servers

    def engine(self, entry: TenantEntry) -> Engine:
        return self.servers[entry.server].serving

    def binding(self, entry: TenantEntry) -> Binding:
        return Binding(POOLED_SCHEMA, entry.id)

    def schema_name(self, tenant_id: int) -> str:
        return POOLED_SCHEMA

    def create(self, connection: Connection, entry: TenantEntry, use_template: bool = True) -> str:
        """Nothing to build: the pooled tables are there. Returns their revision."""
        revision = migrations.current_revision(connection, "tenant", POOLED_SCHEMA)
        if revision is None:
            raise SharedSchemaMissing(
                "this server has no pooled schema yet: run `tenantapp-admin CONFIG_URI migrate`"
            )
        return revision

    def archive(self, connection: Connection, entry: TenantEntry) -> str:
        """The rows stay; a deleted tenant is never resolved, so nothing binds to its id."""
        return entry.schema_name

    restore = archive

    def drop(self, connection: Connection, entry: TenantEntry) -> None:
        """Delete the tenant's rows, children first; bound to the tenant, so row-level
        security confines every statement to its rows even for a non-superuser owner."""
        bind_connection(connection, self.binding(entry))
        for table in reversed(pooled_metadata(connection).sorted_tables):
            connection.execute(table.delete().where(table.c.tenant_id == entry.id))

    def sizes(self, connection: Connection, entries: list[TenantEntry]) -> dict[int, int]:
        """Bytes of the tenant's rows (indexes not counted: they are shared)."""
        ids = [e.id for e in entries]
        if not ids:
            return {}
        totals = dict.fromkeys(ids, 0)
        for table in pooled_metadata(connection).sorted_tables:
            source = _qualified(connection, table.name)
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


def pooled_metadata(connection: Connection) -> MetaData:
    metadata = MetaData(schema=POOLED_SCHEMA)
    metadata.reflect(connection)
    metadata.remove(metadata.tables[f"{POOLED_SCHEMA}.alembic_version"])
    return metadata


def _qualified(connection: Connection, table: str) -> str:
    quote = connection.dialect.identifier_preparer
    return f"{quote.quote_schema(POOLED_SCHEMA)}.{quote.quote(table)}"


def _rename_schema(connection: Connection, old: str, new: str) -> None:
    quote = connection.dialect.identifier_preparer
    connection.exec_driver_sql(
        f"ALTER SCHEMA {quote.quote_schema(old)} RENAME TO {quote.quote_schema(new)}"
    )


STORES = (SchemaStore, SharedStore)
