"""The one place a session or connection is bound to a tenant's schema.

Two mechanisms, as defence in depth, both scoped to a single transaction:

* ``schema_translate_map={None: schema}`` on the transaction's Connection: every ORM and Core
  statement on a schema-less (tenant) table is rendered with the tenant schema spelled out.
  SQLAlchemy applies the map after compilation, so one compiled-cache entry serves all tenants.
  The option lives on the Connection object, which is discarded when the transaction ends, so it
  can never follow a pooled DBAPI connection into another request.
* ``set_config('search_path', schema, true)`` (``SET LOCAL``): raw SQL text resolves in the tenant
  schema too, and ``public`` is not on the path, so a missing tenant table fails loudly instead
  of reading shared data. It is transaction-local, so it is safe behind a transaction-mode pooler
  and reset by COMMIT/ROLLBACK before the connection returns to the pool. When the transaction
  has not yet reached the server, it is sent in one psycopg pipeline with the BEGIN, so binding
  adds no round trip: the request pays for BEGIN either way.

SQLAlchemy's identity map is not schema-aware, so one session serves one tenant: rebinding a
session to another schema is refused.
"""

import re

import psycopg
from psycopg.pq import TransactionStatus
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

SESSION_KEY = "tenantapp.tenant_schema"
LOCK_TIMEOUT_KEY = "tenantapp.lock_timeout"
SCHEMA_PATTERN = re.compile(r"tenant_(?:[0-9]{1,19}|template)")
PIPELINES = psycopg.Pipeline.is_supported()  # libpq 14 or later


class TenantBindingError(RuntimeError):
    """A session was asked to serve a second tenant."""


def bind_connection(connection: Connection, schema: str, lock_timeout: str | None = None) -> None:
    """Point this connection's current transaction at ``schema``, and optionally bound how long
    it waits for locks (a tenant being migrated holds them), in one round trip."""
    if SCHEMA_PATTERN.fullmatch(schema) is None:
        raise ValueError(f"not a tenant schema name: {schema!r}")
    if connection.get_execution_options().get("schema_translate_map") == {None: schema}:
        return
    connection.execution_options(schema_translate_map={None: schema})
    quoted = connection.dialect.identifier_preparer.quote_schema(schema)
    if lock_timeout is None:
        sql, params = "SELECT set_config('search_path', %s, true)", (quoted,)
    else:
        sql = "SELECT set_config('search_path', %s, true), set_config('lock_timeout', %s, true)"
        params = (quoted, lock_timeout)
    driver = connection.connection.driver_connection
    if not (
        PIPELINES
        and isinstance(driver, psycopg.Connection)
        and driver.info.transaction_status == TransactionStatus.IDLE
    ):
        connection.exec_driver_sql(sql, params)
        return
    try:
        with driver.pipeline():
            driver.execute(sql, params)  # queued behind psycopg's BEGIN; one flush sends both
    except psycopg.Error as error:
        raise DBAPIError.instance(sql, params, error, psycopg.Error) from None


def bind_session(session: Session, schema: str) -> None:
    """Make ``session`` serve ``schema`` for the rest of its life, in every transaction."""
    current = session.info.get(SESSION_KEY)
    if current == schema:
        return
    if current is not None:
        raise TenantBindingError("one session serves one tenant")
    session.info[SESSION_KEY] = schema
    if session.in_transaction():
        bind_connection(session.connection(), schema, session.info.get(LOCK_TIMEOUT_KEY))


def bound_schema(session: Session) -> str | None:
    return session.info.get(SESSION_KEY)


def is_bound(session: Session) -> bool:
    return SESSION_KEY in session.info


def install(session_factory: sessionmaker) -> None:
    """Re-apply the binding whenever a bound session begins a new transaction."""

    @event.listens_for(session_factory, "after_begin")
    def _rebind(session, transaction, connection):
        schema = session.info.get(SESSION_KEY)
        if schema is not None:
            bind_connection(connection, schema, session.info.get(LOCK_TIMEOUT_KEY))
