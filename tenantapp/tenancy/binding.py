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
  has not reached the server yet, it travels in one query with the BEGIN, so binding adds no
  round trip: the request pays for BEGIN either way.

SQLAlchemy's identity map is not schema-aware, so one session serves one tenant: rebinding a
session to another schema is refused. Tenant objects remember the schema they were loaded from
or first written to, so one that travels (detached, pickled, merged) into a session of another
tenant is refused there instead of writing over the row with the same id. A session that was
never bound begins its transactions with an empty ``search_path``: no tenant table is in reach.
"""

import re
from dataclasses import dataclass
from itertools import chain

import psycopg
from psycopg.pq import DiagnosticField, Escaping, ExecStatus, TransactionStatus
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from ..errors import TenantMoved
from .guard import MOVED_SQLSTATE
from .models import TenantBase

SESSION_KEY = "tenantapp.tenant_schema"
OBJECT_KEY = "_tenantapp_schema"  # in a tenant object's __dict__: pickled and detached with it
LOCK_TIMEOUT_KEY = "tenantapp.lock_timeout"
MAX_SCHEMAS_KEY = "tenantapp.max_schemas_per_connection"
SCHEMAS_SEEN_KEY = "tenantapp.schemas_seen"  # in the pooled connection's info
READ_ONLY_KEY = "tenantapp.read_only"
LOCAL_SETTINGS_KEY = "tenantapp.local_settings"  # more SET LOCAL for the tenant (quotas)
SCHEMA_PATTERN = re.compile(r"tenant_(?:[0-9]{1,19}|template|shared)")
TENANT_ID_SETTING = "tenantapp.tenant_id"
BINDING_OPTION = "tenantapp_binding"


class TenantBindingError(RuntimeError):
    """A session was asked to serve a second tenant."""


@dataclass(frozen=True, slots=True)
class Binding:
    """Where a tenant's rows are: a schema of its own (schema and database modes), or the
    pooled schema of shared mode plus the tenant's id, which row-level security filters on."""

    schema: str
    tenant_id: int | None = None
    # the tenant whose moves this binding's write transactions wait for (tenancy.guard)
    guard: int | None = None

    @property
    def scope(self) -> str:
        """What names this tenant's rows in caches, notifications and tenant objects."""
        return self.schema if self.tenant_id is None else f"{self.schema}/{self.tenant_id}"


def bind_connection(
    connection: Connection,
    binding: Binding | str | None,
    lock_timeout: str | None = None,
    read_only: bool = False,
    max_schemas: int | None = None,
    local_settings: dict[str, str] | None = None,
) -> None:
    """Point this connection's current transaction at ``binding`` (a schema name will do;
    ``None``: at no tenant, an empty ``search_path``), optionally bound how long it waits for
    locks (a tenant being migrated holds them) and make it read-only, in one query. With
    ``max_schemas``, a pooled connection that has served that many schemas is replaced when it
    is next checked out."""
    if isinstance(binding, str):
        binding = Binding(binding)
    if binding is None:
        settings = {"search_path": "", TENANT_ID_SETTING: ""}
    else:
        schema = binding.schema
        if SCHEMA_PATTERN.fullmatch(schema) is None:
            raise ValueError(f"not a tenant schema name: {schema!r}")
        if connection.get_execution_options().get(BINDING_OPTION) == binding:
            return
        connection.execution_options(
            schema_translate_map={None: schema}, **{BINDING_OPTION: binding}
        )
        if max_schemas:
            _count_schema(connection, schema, max_schemas)
        settings = {
            "search_path": connection.dialect.identifier_preparer.quote_schema(schema),
            # pooled rows: the row-level security policies compare tenant_id with this
            TENANT_ID_SETTING: "" if binding.tenant_id is None else str(int(binding.tenant_id)),
        }
    if lock_timeout is not None:
        settings["lock_timeout"] = lock_timeout
    if read_only:
        settings["transaction_read_only"] = "on"
    if local_settings:
        settings.update(local_settings)
    guard = None
    if not read_only and binding is not None and binding.guard is not None:
        # the schema matched SCHEMA_PATTERN: it is safe as a literal
        guard = f"tenantapp.enter_tenant({int(binding.guard)}, '{binding.schema}')"
    try:
        if not _begin_bound(connection.connection.driver_connection, settings, guard):
            calls = ", ".join("set_config(%s, %s, true)" for _ in settings)
            if guard is not None:
                calls += f", {guard}"
            params = tuple(chain.from_iterable(settings.items()))
            connection.exec_driver_sql(f"SELECT {calls}", params)
    except DBAPIError as error:
        if getattr(error.orig, "sqlstate", None) == MOVED_SQLSTATE:
            raise TenantMoved(
                f"tenant {binding.guard} has moved: ask the directory again"
            ) from None
        raise


def _count_schema(connection: Connection, schema: str, limit: int) -> None:
    """A PostgreSQL backend keeps the catalog entries of every relation it has used (about
    38 KB per tenant schema), for as long as it lives: past ``limit`` distinct schemas, the
    connection is marked to be closed and replaced at its next checkout."""
    pooled = connection.connection
    seen = pooled.info.setdefault(SCHEMAS_SEEN_KEY, set())
    seen.add(schema)
    if len(seen) >= limit:
        pooled.invalidate(soft=True)


def _begin_bound(driver, settings: dict[str, str], guard: str | None = None) -> bool:
    """Send BEGIN and the settings as one simple-protocol query (libpq's PQexec, which releases
    the GIL), when psycopg is about to begin a plain transaction itself; psycopg reads the
    transaction status from libpq, so it then sends no BEGIN of its own."""
    if not (
        isinstance(driver, psycopg.Connection)
        and driver.info.transaction_status == TransactionStatus.IDLE
        and not driver.autocommit
    ):
        return False
    begin = ["BEGIN"]  # what psycopg would have sent
    if driver.isolation_level is not None:
        begin.append("ISOLATION LEVEL " + driver.isolation_level.name.replace("_", " "))
    if driver.read_only is not None:
        begin.append("READ ONLY" if driver.read_only else "READ WRITE")
    if driver.deferrable is not None:
        begin.append("DEFERRABLE" if driver.deferrable else "NOT DEFERRABLE")
    pgconn = driver.pgconn
    literal = Escaping(pgconn).escape_literal
    calls = ", ".join(
        f"set_config({literal(name.encode()).decode()}, {literal(value.encode()).decode()}, true)"
        for name, value in settings.items()
    )
    if guard is not None:
        calls += f", {guard}"
    sql = f"{' '.join(begin)}; SELECT {calls}"
    result = pgconn.exec_(sql.encode())
    if result.status != ExecStatus.TUPLES_OK:
        message = (result.error_message or b"connection lost").decode(errors="replace")
        sqlstate = (result.error_field(DiagnosticField.SQLSTATE) or b"").decode()
        if sqlstate == MOVED_SQLSTATE:
            raise TenantMoved("the tenant has moved: ask the directory again")
        try:
            error = psycopg.errors.lookup(sqlstate)(message)
        except KeyError:
            error = psycopg.OperationalError(message)
        raise DBAPIError.instance(sql, None, error, psycopg.Error)
    return True


def bind_session(session: Session, binding: Binding | str) -> None:
    """Make ``session`` serve ``binding``'s tenant (a schema name will do) for the rest of its
    life, in every transaction."""
    if isinstance(binding, str):
        binding = Binding(binding)
    current = session.info.get(SESSION_KEY)
    if current == binding:
        return
    if current is not None:
        raise TenantBindingError("one session serves one tenant")
    session.info[SESSION_KEY] = binding
    if session.in_transaction():
        _bind_transaction(session, session.connection())


def bound_scope(session: Session) -> str | None:
    """The scope of the tenant ``session`` serves (see ``Binding.scope``), if any."""
    binding = session.info.get(SESSION_KEY)
    return None if binding is None else binding.scope


class TenantSession(Session):
    """A session that refuses to merge in an object of another tenant (merge has no event)."""

    def merge(self, instance, *args, **kw):
        _refuse_foreign(self, instance)
        return super().merge(instance, *args, **kw)


@event.listens_for(TenantBase, "load", propagate=True)
def _remember_origin(instance, context) -> None:
    instance.__dict__[OBJECT_KEY] = bound_scope(context.session)


def install(session_factory: sessionmaker) -> None:
    """Bind every transaction a session begins (to its tenant, or to none), and keep tenant
    objects inside the tenant they came from."""

    @event.listens_for(session_factory, "after_begin")
    def _rebind(session, transaction, connection):
        _bind_transaction(session, connection)

    @event.listens_for(session_factory, "before_attach")
    def _on_attach(session, instance):
        _refuse_foreign(session, instance)

    @event.listens_for(session_factory, "before_flush")
    def _on_flush(session, flush_context, instances):
        scope = bound_scope(session)
        for instance in chain(session.new, session.dirty, session.deleted):
            _refuse_foreign(session, instance)
            instance.__dict__.setdefault(OBJECT_KEY, scope)


def _refuse_foreign(session: Session, instance) -> None:
    origin = getattr(instance, "__dict__", {}).get(OBJECT_KEY)
    if origin is not None and origin != bound_scope(session):
        raise TenantBindingError(
            f"a {type(instance).__name__} of another tenant cannot join this session"
        )


def _bind_transaction(session: Session, connection: Connection) -> None:
    """Bind ``connection`` as ``session`` asks: its schema (none if unbound), lock timeout and
    read-only flag."""
    info = session.info
    bind_connection(
        connection,
        info.get(SESSION_KEY),
        info.get(LOCK_TIMEOUT_KEY),
        info.get(READ_ONLY_KEY, False),
        info.get(MAX_SCHEMAS_KEY),
        info.get(LOCAL_SETTINGS_KEY),
    )
