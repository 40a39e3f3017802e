"""The schema binding: per transaction, never leaking through the pool, one tenant per session."""

import pickle
import tempfile

import pytest
from psycopg.pq import Trace
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError, ProgrammingError

from tenantapp.database import DEFAULT_POOL_RECYCLE, make_engine
from tenantapp.encryption import columns as sealing
from tenantapp.encryption.columns import SEALER_KEY, Sealer
from tenantapp.tenancy.binding import (
    READ_ONLY_KEY,
    TenantBindingError,
    bind_connection,
    bind_session,
    bound_scope,
)
from tenantapp.tenancy.sessions import make_session_factory
from tenantapp.users.models import User
from tests.conftest import TEST_MODE

# Binding is the same inside a tenant's own database as in schema mode; two tenants in one
# session factory need one database, so database mode's binding is tested with schema tenants.
BOUND_MODE = "schema" if TEST_MODE == "database" else TEST_MODE


@pytest.fixture
def tenant(make_tenant):
    return make_tenant("a", mode=BOUND_MODE)


@pytest.fixture
def other_tenant(make_tenant):
    return make_tenant("b", mode=BOUND_MODE)


KEYS = []  # the suite's tenant keys (``_keys``)


@pytest.fixture(autouse=True)
def _keys(tenancy):
    KEYS[:] = [tenancy.keys]


def bind(session, tenant) -> None:
    """Bind as ``tenancy.sessions.tenant_session`` does: to the tenant, with its sealing (the
    hook ``encryption`` adds)."""
    bind_session(session, tenant.binding)
    session.info[SEALER_KEY] = Sealer(KEYS[0], tenant.id)


@pytest.fixture
def session_factory(tenancy):
    """Sessions as requests get them: as the serving role, which row-level security binds."""
    factory = make_session_factory(tenancy.servers.default.serving)
    sealing.install(factory)
    return factory


def test_a_bound_session_reads_its_tenant_schema(session_factory, tenant, other_tenant):
    with session_factory() as session:
        bind(session, tenant)
        session.add(User(email="only@a.example", name="A"))
        session.commit()
    with session_factory() as session:
        bind(session, other_tenant)
        assert [u.email for u in session.query(User)] == [other_tenant.owner_email]
        assert session.scalar(text("SELECT current_schemas(false)")) == [other_tenant.schema_name]


def test_binding_survives_a_commit_within_the_session(session_factory, tenant):
    with session_factory() as session:
        bind(session, tenant)
        session.add(User(email="first@a.example", name="A"))
        session.commit()
        # a new transaction on a new pooled connection is bound again
        assert session.scalar(text("SHOW search_path")) == tenant.schema_name
        emails = [u.email for u in session.query(User).order_by(User.id)]
        assert emails == [tenant.owner_email, "first@a.example"]


def test_a_session_refuses_a_second_tenant(session_factory, tenant, other_tenant):
    with session_factory() as session:
        bind(session, tenant)
        bind(session, tenant)  # idempotent
        with pytest.raises(TenantBindingError):
            bind(session, other_tenant)
        assert bound_scope(session) == tenant.binding.scope


def test_search_path_does_not_outlive_the_transaction(engine, session_factory, tenant):
    with engine.connect() as connection:
        default_path = connection.scalar(text("SHOW search_path"))
    with session_factory() as session:
        bind(session, tenant)
        assert session.scalar(text("SHOW search_path")) == tenant.schema_name
        raw = session.connection().connection.dbapi_connection
        session.commit()
        # the very same DBAPI connection, after the transaction, has its default path back
        assert raw.execute("SHOW search_path").fetchone()[0] == default_path
        raw.rollback()


def test_public_is_not_on_a_tenant_search_path(engine, session_factory, tenant):
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE IF NOT EXISTS public.leak_probe (x int)")
    try:
        with session_factory() as session:
            bind(session, tenant)
            with pytest.raises(ProgrammingError, match="leak_probe"):
                session.execute(text("SELECT x FROM leak_probe"))
    finally:
        with engine.begin() as connection:
            connection.exec_driver_sql("DROP TABLE public.leak_probe")


def test_binding_refuses_names_that_are_not_tenant_schemas(session_factory):
    with session_factory() as session:
        session.execute(text("SELECT 1"))
        with pytest.raises(ValueError, match="not a tenant schema"):
            bind_session(session, "public; DROP TABLE x")


def round_trips(engine, work) -> int:
    """How many times the server said ReadyForQuery during ``work(connection)``: one per round
    trip the client waited for (libpq's protocol trace)."""
    with engine.connect() as connection, tempfile.TemporaryFile() as trace:
        pgconn = connection.connection.driver_connection.pgconn
        pgconn.trace(trace.fileno())
        pgconn.set_trace_flags(Trace.SUPPRESS_TIMESTAMPS)
        try:
            work(connection)
        finally:
            pgconn.untrace()
            connection.rollback()
        trace.seek(0)
        return trace.read().count(b"ReadyForQuery")


def test_binding_adds_no_round_trip_to_a_transaction(engine, tenant):
    def unbound(connection):
        connection.begin()
        connection.execute(text("SELECT id FROM tenantapp.tenants LIMIT 1"))

    def bound(connection):
        connection.begin()
        bind_connection(connection, tenant.binding, "2s")
        connection.execute(select(User.id))

    assert round_trips(engine, unbound) == 2  # BEGIN, then the query
    assert round_trips(engine, bound) == 2


def test_a_read_only_binding_refuses_writes(session_factory, tenant):
    """What safe (GET) requests get: their transaction cannot write, whatever a view tries."""
    with session_factory(info={READ_ONLY_KEY: True}) as session:
        bind(session, tenant)
        session.add(User(email="sneaky@a.example", name="Sneaky"))
        with pytest.raises(DBAPIError, match="read-only transaction"):
            session.flush()


def owner_of(session_factory, tenant):
    """The owner of a tenant, loaded in a session bound to it, then detached."""
    with session_factory() as session:
        bind(session, tenant)
        return session.scalars(select(User).order_by(User.id)).first()


@pytest.mark.parametrize("travel", ["detached", "pickled"])
@pytest.mark.parametrize("how", ["add", "merge", "delete"])
def test_an_object_of_one_tenant_cannot_write_in_another(
    session_factory, tenant, other_tenant, travel, how
):
    """A travelling object must not touch the other tenant, not even its row with the same id
    (in schema mode both owners have the same id)."""
    user = owner_of(session_factory, tenant)
    if travel == "pickled":
        user = pickle.loads(pickle.dumps(user))
    user.name = "written from tenant A"
    with session_factory() as session:
        bind(session, other_tenant)
        with pytest.raises(TenantBindingError):
            getattr(session, how)(user)
            session.flush()
        session.rollback()
    victim = owner_of(session_factory, other_tenant)
    assert victim.id == user.id or tenant.mode == "shared"  # shared: ids from one sequence
    assert victim.name != "written from tenant A"


def test_an_object_goes_back_to_its_own_tenant(session_factory, tenant):
    user = pickle.loads(pickle.dumps(owner_of(session_factory, tenant)))
    user.name = "renamed after a trip"
    with session_factory() as session:
        bind(session, tenant)
        session.merge(user)
        session.commit()
    assert owner_of(session_factory, tenant).name == "renamed after a trip"


def test_new_objects_belong_to_the_tenant_they_were_written_to(
    session_factory, tenant, other_tenant
):
    with session_factory() as session:
        bind(session, tenant)
        user = User(email="new@a.example", name="New")
        session.add(user)
        session.commit()
    with session_factory() as session:
        bind(session, other_tenant)
        with pytest.raises(TenantBindingError):
            session.add(user)


def test_a_session_never_bound_reaches_no_tenant_table(engine, session_factory, tenant):
    """Not even a table of the same name in ``public``, where the default search_path looks."""
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE public.users (LIKE tenant_template.users)"))
    try:
        with session_factory() as session:
            assert session.scalar(text("SELECT current_schemas(false)")) == []
            with pytest.raises(ProgrammingError, match="does not exist"):
                session.scalars(select(User)).all()
            session.rollback()
            with pytest.raises(ProgrammingError, match="does not exist"):
                session.execute(text("SELECT * FROM users"))
    finally:
        with engine.begin() as connection:
            connection.execute(text("DROP TABLE public.users"))


def test_a_connection_is_replaced_after_serving_max_schemas_tenants(database_url, make_tenant):
    """Each backend caches the catalog of every schema it served: past the limit, a new one."""
    schemas = [make_tenant("m", mode="schema").schema_name for _ in range(3)]
    engine = make_engine({"sqlalchemy.url": database_url, "sqlalchemy.pool_size": "1"})
    factory = make_session_factory(engine, max_schemas=3)

    def backend_serving(schema: str) -> int:
        with factory() as session:
            bind_session(session, schema)
            return session.scalar(text("SELECT pg_backend_pid()"))

    try:
        first = {backend_serving(schema) for schema in [*schemas[:2], schemas[0], schemas[1]]}
        assert len(first) == 1  # two tenants, served again and again: one backend
        assert backend_serving(schemas[2]) in first  # the third: still served, then retired
        assert backend_serving(schemas[0]) not in first
    finally:
        engine.dispose()


def test_connections_are_recycled_by_age_by_default(engine):
    assert engine.pool._recycle == DEFAULT_POOL_RECYCLE
