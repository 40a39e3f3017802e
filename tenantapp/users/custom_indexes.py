"""Indexes on custom fields: an owner marks a field ``indexed``, a job builds its index with
``CREATE INDEX CONCURRENTLY`` (writes go on), and ``?custom.NAME=VALUE`` uses it.

The index is on ``custom_value_key(custom, 'NAME')`` (migration ``t017`` says why a function),
partial (``IS NOT NULL``: users without a value take no room): in the tenant's own schema in
schema and database modes; in shared mode on the pooled ``users`` with ``tenant_id`` leading,
one index per field name, serving every shared tenant that indexes a field of that name (an
index per tenant would make every write to the pooled table test thousands of predicates).

What is stored is the wish (``indexed``) and the last build's error; the state is read from the
catalog when asked, so it can't go stale: ``ready`` (the index is valid), ``building`` (it
exists, not yet valid), ``pending`` (not there yet), ``failed`` (the last build's error),
``unavailable`` (shared mode, where the key function could not be declared LEAKPROOF).

The build runs on the owner's connection outside any transaction, after the job's transaction
has committed: ``CREATE INDEX CONCURRENTLY`` waits for every older transaction of the database,
the job's own included, so it cannot run inside one.
"""

from dataclasses import replace
from hashlib import blake2b

from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from ..interfaces import ITenancy, service
from ..jobs import tenant_task
from ..tenancy.binding import bind_connection
from ..tenancy.directory import TenantEntry
from .custom import CustomField

TASK = "users.custom_indexes"
MAX_INDEXED = 5  # a tenant's indexed fields: each costs every write of its users
PREFIX = "users_custom_"
UNAVAILABLE = (
    "shared mode's row-level security lets PostgreSQL use an index only through LEAKPROOF "
    "functions, which only a superuser may declare: run `tenantapp-admin migrate` once as one"
)


def index_name(field: str) -> str:
    """The index of a field, by its name (names are up to 63 characters: so are indexes)."""
    return PREFIX + blake2b(field.encode(), digest_size=6).hexdigest()


@tenant_task(TASK)
def build_indexes(request) -> None:
    """Build and drop the tenant's field indexes once this job's transaction is done."""
    entry = request.tenant.record
    tenancy = service(request.registry, ITenancy)

    def after(committed: bool) -> None:
        if committed:
            reconcile(tenancy, entry)

    request.tm.get().addAfterCommitHook(after)


def mark(tenancy, entry: TenantEntry, wishes: dict[str, bool]) -> str | None:
    """The operator's marking (``tenantapp-admin custom-indexes --index``), held to the
    owner's rules; what is wrong, if anything (then nothing is marked)."""
    store = tenancy.store(entry.mode)
    try:
        with store.owner_engine(entry).begin() as connection:
            bind_connection(connection, replace(store.binding(entry), guard=None))
            fields = {f.name: f for f in connection.execute(select(CustomField.__table__))}
            for name, indexed in wishes.items():
                if name not in fields:
                    raise ValueError(f"tenant {entry.slug!r} has no custom field {name!r}")
                if indexed and fields[name].sealed:
                    raise ValueError(f"the field {name!r} is sealed: it is not indexed")
                connection.execute(
                    update(CustomField)
                    .where(CustomField.name == name)
                    .values(indexed=indexed, index_error=None)
                )
            count = select(func.count()).select_from(CustomField).where(CustomField.indexed)
            if connection.scalar(count) > MAX_INDEXED:
                raise ValueError(f"a tenant has at most {MAX_INDEXED} indexed fields")
    except ValueError as problem:  # the transaction is rolled back: nothing marked
        return str(problem)
    return None


def reconcile(tenancy, entry: TenantEntry) -> dict[str, dict]:
    """Make the tenant's indexes match its fields' wishes; each indexed field's state."""
    store = tenancy.store(entry.mode)
    engine = store.owner_engine(entry)
    binding = replace(store.binding(entry), guard=None)
    shared = binding.tenant_id is not None
    with engine.begin() as connection:
        bind_connection(connection, binding)
        wanted = set(connection.scalars(select(CustomField.name).where(CustomField.indexed)))
        leakproof = _leakproof(connection)
    existing = _indexes(engine, binding.schema)
    errors = {}
    if not shared or leakproof:
        for field in sorted(wanted):
            if existing.get(index_name(field)) is not True:
                errors[field] = _build(engine, binding.schema, field, shared)
    if not shared:  # a pooled index may serve other tenants' fields of the same name
        keep = {index_name(field) for field in wanted}
        for name in existing.keys() - keep:
            _autocommit(engine, f"DROP INDEX CONCURRENTLY IF EXISTS {_q(binding.schema)}.{name}")
    with engine.begin() as connection:
        bind_connection(connection, binding)
        for field, error in errors.items():
            connection.execute(
                update(CustomField).where(CustomField.name == field).values(index_error=error)
            )
        return states(connection)


def states(connection: Connection) -> dict[str, dict]:
    """Each indexed field's index state (see the module's docstring), on a connection bound
    to the tenant (shared mode's binding names the tenant's id)."""
    fields = connection.execute(
        select(CustomField.name, CustomField.index_error).where(CustomField.indexed)
    ).all()
    if not fields:
        return {}
    schema, shared = connection.exec_driver_sql(
        "SELECT current_schema(), current_setting('tenantapp.tenant_id', true) <> ''"
    ).one()
    leakproof = _leakproof(connection)
    existing = _indexes(connection, schema)
    found = {}
    for field, error in fields:
        valid = existing.get(index_name(field))
        if shared and not leakproof:
            found[field] = {"state": "unavailable", "error": UNAVAILABLE}
        elif valid:
            found[field] = {"state": "ready", "error": None}
        elif error:
            found[field] = {"state": "failed", "error": error}
        else:
            found[field] = {"state": "building" if valid is False else "pending", "error": None}
    return found


def _build(engine: Engine, schema: str, field: str, shared: bool) -> str | None:
    """Build one index; the error that stopped it, if any (its remains dropped)."""
    name, table = index_name(field), f"{_q(schema)}.users"
    key = f"{_q(schema)}.custom_value_key(custom, '{field}')"
    columns = f"tenant_id, {key}" if shared else key
    try:
        if _indexes(engine, schema).get(name) is False and not _in_progress(engine, schema, name):
            _autocommit(engine, f"DROP INDEX CONCURRENTLY IF EXISTS {_q(schema)}.{name}")
        _autocommit(
            engine,
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {table} ({columns})"
            f" WHERE {key} IS NOT NULL",
        )
        if name not in _indexes(engine, schema):  # IF NOT EXISTS: and yet not ours
            return f'relation "{name}" already exists, and is not this field\'s index'
        return None
    except DBAPIError as error:
        message = str(error.orig).strip().splitlines()[0][:500]
        if not _in_progress(engine, schema, name):
            _autocommit(engine, f"DROP INDEX CONCURRENTLY IF EXISTS {_q(schema)}.{name}")
        return message


def _autocommit(engine: Engine, sql: str) -> None:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("SET lock_timeout = 0")
        connection.exec_driver_sql(sql)


def _indexes(bind, schema: str) -> dict[str, bool]:
    """The field indexes on ``schema.users``: whether each is valid."""
    sql = (
        "SELECT i.relname, x.indisvalid FROM pg_index x"
        " JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid"
        " JOIN pg_namespace n ON n.oid = t.relnamespace"
        " WHERE n.nspname = %s AND t.relname = 'users' AND i.relname LIKE %s"
    )
    if isinstance(bind, Engine):
        with bind.connect() as connection:
            return dict(connection.exec_driver_sql(sql, (schema, PREFIX + "%")).all())
    return dict(bind.exec_driver_sql(sql, (schema, PREFIX + "%")).all())


def _in_progress(engine: Engine, schema: str, name: str) -> bool:
    """Whether a backend is building the index now (a crashed build leaves it invalid)."""
    with engine.connect() as connection:
        return bool(
            connection.exec_driver_sql(
                "SELECT 1 FROM pg_stat_progress_create_index p"
                " JOIN pg_class i ON i.oid = p.index_relid"
                " JOIN pg_namespace n ON n.oid = i.relnamespace"
                " WHERE n.nspname = %s AND i.relname = %s",
                (schema, name),
            ).first()
        )


def _leakproof(connection: Connection) -> bool:
    """Whether the bound schema's key function is LEAKPROOF (its ``search_path``)."""
    return bool(
        connection.exec_driver_sql(
            "SELECT p.proleakproof FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
            " WHERE p.proname = 'custom_value_key' AND n.nspname = current_schema()"
        ).scalar()
    )


def _q(schema: str) -> str:
    return f'"{schema}"'  # a tenant schema name: SCHEMA_PATTERN, checked by the binding
