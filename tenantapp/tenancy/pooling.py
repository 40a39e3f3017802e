"""Shared mode's tables: the tenant tables, pooled, with ``tenant_id`` and row-level security.

The pooled schema (``tenant_shared``) is migrated by the same tenant migrations as every tenant
schema, then ``pool_tables`` makes it safe to hold many tenants' rows, idempotently, after every
migration, so a new migration needs no pooled twin:

* every table gets ``tenant_id bigint NOT NULL``, defaulting to the transaction's
  ``tenantapp.tenant_id`` (set by the binding; none set: NULL, so the insert fails);
* ``tenant_id`` leads every primary key, unique constraint, foreign key and index, so each
  tenant's keys are its own and every lookup is a range of one tenant's rows;
  Hence a later migration adds no foreign key to a table that exists already: its key is
  ``(tenant_id, id)`` here by then (an index and a clean-up in code instead, as ``t011``);
* ``ENABLE`` and ``FORCE ROW LEVEL SECURITY`` with one policy, for reading and for writing:
  ``tenant_id = tenantapp.tenant_id``. A transaction that set no tenant sees no rows and can
  write none, whoever it runs as, short of a superuser or a BYPASSRLS role.
"""

import re

from sqlalchemy.engine import Connection

from .models import POOLED_SCHEMA

TENANT_COLUMN = "tenant_id"
POLICY = "tenant_isolation"
CURRENT_TENANT = "NULLIF(current_setting('tenantapp.tenant_id', true), '')::bigint"
VERSION_TABLE = "alembic_version"


def _rows(connection: Connection, sql: str, *params):
    return connection.exec_driver_sql(sql, params).all()


def pooled_tables(connection: Connection, schema: str = POOLED_SCHEMA) -> list[str]:
    rows = _rows(
        connection,
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND c.relkind = 'r' AND c.relname <> %s ORDER BY c.relname",
        schema,
        VERSION_TABLE,
    )
    return [name for (name,) in rows]


def pool_tables(connection: Connection, schema: str = POOLED_SCHEMA) -> None:
    """Make every table of ``schema`` a pooled table (see the module's docstring)."""
    quote = connection.dialect.identifier_preparer
    qschema = quote.quote_schema(schema)
    tables = pooled_tables(connection, schema)
    for table in tables:
        qualified = f"{qschema}.{quote.quote(table)}"
        has_column = _rows(
            connection,
            "SELECT 1 FROM information_schema.columns"
            " WHERE table_schema = %s AND table_name = %s AND column_name = %s",
            schema,
            table,
            TENANT_COLUMN,
        )
        if not has_column:
            connection.exec_driver_sql(
                f"ALTER TABLE {qualified} ADD COLUMN {TENANT_COLUMN} bigint NOT NULL"
                f" DEFAULT {CURRENT_TENANT}"
            )
    foreign_keys = _constraints(connection, schema, "f")
    for fk in foreign_keys:  # they depend on the keys rebuilt below
        if fk.columns[0] != TENANT_COLUMN:
            table = f"{qschema}.{quote.quote(fk.table)}"
            connection.exec_driver_sql(
                f"ALTER TABLE {table} DROP CONSTRAINT {quote.quote(fk.name)}"
            )
    for key in _constraints(connection, schema, "p") + _constraints(connection, schema, "u"):
        if key.columns[0] == TENANT_COLUMN:
            continue
        kind = "PRIMARY KEY" if key.kind == "p" else "UNIQUE"
        columns = ", ".join(quote.quote(c) for c in (TENANT_COLUMN, *key.columns))
        table = f"{qschema}.{quote.quote(key.table)}"
        connection.exec_driver_sql(
            f"ALTER TABLE {table} DROP CONSTRAINT {quote.quote(key.name)},"
            f" ADD CONSTRAINT {quote.quote(key.name)} {kind} ({columns})"
        )
    for fk in foreign_keys:
        if fk.columns[0] == TENANT_COLUMN:
            continue
        columns = ", ".join(quote.quote(c) for c in (TENANT_COLUMN, *fk.columns))
        referred = ", ".join(quote.quote(c) for c in (TENANT_COLUMN, *fk.referred_columns))
        connection.exec_driver_sql(
            f"ALTER TABLE {qschema}.{quote.quote(fk.table)} ADD CONSTRAINT {quote.quote(fk.name)}"
            f" FOREIGN KEY ({columns}) REFERENCES {qschema}.{quote.quote(fk.referred_table)}"
            f" ({referred}){fk.on_delete}"
        )
    for name, _table, definition in _plain_indexes(connection, schema):
        if _leading_column(definition) == TENANT_COLUMN:
            continue
        connection.exec_driver_sql(f"DROP INDEX {qschema}.{quote.quote(name)}")
        connection.exec_driver_sql(_led_by_tenant(definition))
    for table in tables:
        if _secured(connection, schema, table):
            continue  # no ALTER: its ACCESS EXCLUSIVE lock would queue every request behind it
        qualified = f"{qschema}.{quote.quote(table)}"
        connection.exec_driver_sql(f"ALTER TABLE {qualified} ENABLE ROW LEVEL SECURITY")
        connection.exec_driver_sql(f"ALTER TABLE {qualified} FORCE ROW LEVEL SECURITY")
        connection.exec_driver_sql(f"DROP POLICY IF EXISTS {POLICY} ON {qualified}")
        connection.exec_driver_sql(
            f"CREATE POLICY {POLICY} ON {qualified}"
            f" USING ({TENANT_COLUMN} = {CURRENT_TENANT})"
            f" WITH CHECK ({TENANT_COLUMN} = {CURRENT_TENANT})"
        )


def _secured(connection: Connection, schema: str, table: str) -> bool:
    """Whether ``table`` has row-level security forced and its policy already."""
    return bool(
        _rows(
            connection,
            "SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relname = %s"
            " AND c.relrowsecurity AND c.relforcerowsecurity"
            " AND EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid AND p.polname = %s)",
            schema,
            table,
            POLICY,
        )
    )


class _Constraint:
    def __init__(self, name, kind, table, columns, referred_table, referred_columns, on_delete):
        self.name = name
        self.kind = kind
        self.table = table
        self.columns = list(columns)
        self.referred_table = referred_table
        self.referred_columns = list(referred_columns or ())
        actions = {
            "c": " ON DELETE CASCADE",
            "n": " ON DELETE SET NULL",
            "r": " ON DELETE RESTRICT",
        }
        self.on_delete = actions.get(on_delete, "")


def _constraints(connection: Connection, schema: str, kind: str) -> list[_Constraint]:
    rows = _rows(
        connection,
        """
        SELECT con.conname, con.contype, rel.relname,
               ARRAY(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY k(n, i)
                     JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n
                     ORDER BY k.i),
               ref.relname,
               ARRAY(SELECT a.attname FROM unnest(con.confkey) WITH ORDINALITY k(n, i)
                     JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n
                     ORDER BY k.i),
               con.confdeltype
        FROM pg_constraint con
        JOIN pg_class rel ON rel.oid = con.conrelid
        JOIN pg_namespace n ON n.oid = rel.relnamespace
        LEFT JOIN pg_class ref ON ref.oid = con.confrelid
        WHERE n.nspname = %s AND con.contype = %s AND rel.relname <> %s
        ORDER BY con.conname
        """,
        schema,
        kind,
        VERSION_TABLE,
    )
    return [_Constraint(*row) for row in rows]


def _plain_indexes(connection: Connection, schema: str) -> list[tuple[str, str, str]]:
    """Indexes that back no constraint: (name, table, CREATE INDEX statement)."""
    return _rows(
        connection,
        """
        SELECT i.relname, t.relname, pg_get_indexdef(i.oid)
        FROM pg_index x
        JOIN pg_class i ON i.oid = x.indexrelid
        JOIN pg_class t ON t.oid = x.indrelid
        JOIN pg_namespace n ON n.oid = t.relnamespace
        WHERE n.nspname = %s AND t.relname <> %s
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.oid)
        ORDER BY i.relname
        """,
        schema,
        VERSION_TABLE,
    )


_COLUMNS = re.compile(r" USING btree \((.*)\)")


def _leading_column(definition: str) -> str | None:
    match = _COLUMNS.search(definition)
    if match is None:
        raise ValueError(f"only btree indexes can be pooled: {definition}")
    return match.group(1).split(",")[0].strip().strip('"')


def _led_by_tenant(definition: str) -> str:
    return _COLUMNS.sub(lambda m: f" USING btree ({TENANT_COLUMN}, {m.group(1)})", definition, 1)
