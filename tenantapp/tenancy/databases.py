"""Database mode: a tenant in a database of its own, on any configured server.

A tenant's database is copied from a template database (``CREATE DATABASE ... TEMPLATE``), which
``migrate`` keeps at head; inside, the tenant's tables live in ``tenant_<id>`` as in schema
mode, so binding, migrations and archives work alike. A connection serves one database, so the
classic failure of this model is a pool per tenant database exhausting the server; here the
process holds at most a budget of connections on each server, sized from what the server allows
(``DatabasePools``; ``bench/database_mode.py`` measures it). Past a few hundred tenant databases
per server, PgBouncer in front carries the connections (README: "Database mode at scale").
"""

import threading
import time
from collections import OrderedDict

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.pool import NullPool
from zope.interface import implementer

from ..interfaces import ITenantStore
from .binding import Binding
from .directory import TenantEntry
from .errors import ProvisioningError
from .models import schema_for_id
from .servers import Servers

# idle connections kept per tenant database, as many as its thread cap lets it use (the budget
# closes them when another database needs room); past them, more open while busy and close
DEFAULT_POOL_SIZE = 4
DEFAULT_MAX_OVERFLOW = 4
DEFAULT_POOL_TIMEOUT = 10.0  # seconds a request waits for a connection before a 503


def database_name(server_database: str, tenant_id: int) -> str:
    """Named after the server's own database, so two deployments on one server never meet."""
    name = f"{server_database}_t{int(tenant_id)}"
    if len(name) > 63:
        raise ProvisioningError(f"database name {name!r} is longer than PostgreSQL allows")
    return name


def template_name(server_database: str) -> str:
    return f"{server_database}_template"


class DatabasePools:
    """Serving engines for tenant databases, within a budget of connections per server.

    A connection serves one database, so a process cannot keep one open to every tenant's.
    Engines are cheap and kept (up to ``max_engines``, least recently used dropped first), but
    each server has a budget of open connections (``budget(server)``): a new connection is made
    only within it, after closing the idle connections of the least recently used engine there
    if need be. When every connection there is busy, the request waits for one to come back, at
    most ``timeout`` seconds, and is then refused with a ``TimeoutError`` (a 503 with
    ``Retry-After``): never more connections than the budget, so never one the server refuses.
    Connections are counted as they are, not as booked: a closed one frees its place whatever
    closed it."""

    def __init__(
        self, make_engine, budget, pool_size: int, timeout: float = 10.0, max_engines: int = 1000
    ):
        self._make_engine = make_engine  # (url, server, pool_size) -> Engine
        self._budget = budget  # server name -> connections this process may hold there
        self.pool_size = pool_size  # idle connections kept per tenant database
        self.timeout = timeout
        self.max_engines = max_engines
        self._engines: OrderedDict[str, Engine] = OrderedDict()  # least recently used first
        self._servers: dict[str, str] = {}  # tenant database URL -> its server's name
        self._budgets: dict[str, int] = {}
        self._open: dict[str, set] = {}  # server -> its open DBAPI connections
        self._opening: dict[str, int] = {}  # server -> connections being made
        self._changed = threading.Condition()
        self.opened = 0
        self.closed = 0
        self.waited = 0

    def engine(self, url: str, server: str) -> Engine:
        """The engine of the tenant database at ``url``, on the server named ``server``."""
        with self._changed:
            engine = self._engines.get(url)
            if engine is not None:
                self._engines.move_to_end(url)
                return engine
            while len(self._engines) >= self.max_engines and self._drop_an_idle_engine():
                pass
            engine = self._engines[url] = self._make_engine(url, server, self.pool_size)
            self._servers[url] = server
        event.listen(engine, "do_connect", self._connecting(url, server))
        for name in ("checkin", "close", "close_detached"):
            event.listen(engine, name, self._changed_hands)
        return engine

    def _connecting(self, url: str, server: str):
        def connect(dialect, connection_record, cargs, cparams):
            self._make_room(url, server)
            try:
                connection = dialect.connect(*cargs, **cparams)
            except BaseException:
                with self._changed:
                    self._opening[server] -= 1
                    self._changed.notify()
                raise
            with self._changed:
                self._opening[server] -= 1
                self._open[server].add(connection)
                self.opened += 1
            return connection

        return connect

    def _make_room(self, url: str, server: str) -> None:
        """Wait for room for one connection more on ``server``, closing idle ones elsewhere."""
        with self._changed:
            budget = self._budgets.get(server)
            if budget is None:
                budget = self._budgets[server] = max(1, int(self._budget(server)))
                self._open[server], self._opening[server] = set(), 0
            deadline = None
            while True:
                held = self._open[server]
                held.difference_update([c for c in held if c.closed])
                if len(held) + self._opening[server] < budget:
                    break
                if self._close_idle_connections(server, url):
                    continue
                now = time.monotonic()
                if deadline is None:
                    deadline = now + self.timeout
                    self.waited += 1
                if now >= deadline or not self._changed.wait(deadline - now):
                    raise PoolTimeout(
                        f"every connection this process may hold on its server ({budget}) is"
                        f" busy after {self.timeout:g} s"
                    )
            self._opening[server] += 1

    def _changed_hands(self, dbapi_connection, *record) -> None:
        """A connection came back (idle: a waiting request may close it) or was closed."""
        with self._changed:
            self._changed.notify()

    def _close_idle_connections(self, server: str, but: str) -> bool:
        """Close the idle connections of the least recently used engine on ``server`` that has
        some and none checked out (``Pool.dispose`` closes only idle ones)."""
        for url, engine in self._engines.items():
            pool = engine.pool
            mine = url != but and self._servers[url] == server
            if mine and pool.checkedin() > 0 and pool.checkedout() == 0:
                pool.dispose()
                self.closed += 1
                return True
        return False

    def _drop_an_idle_engine(self) -> bool:
        for url, engine in self._engines.items():
            if engine.pool.checkedout() == 0:
                del self._engines[url], self._servers[url]
                engine.dispose()
                return True
        return False

    def forget(self, url: str) -> None:
        with self._changed:
            engine = self._engines.pop(url, None)
            self._servers.pop(url, None)
        if engine is not None:
            engine.dispose()

    def stats(self) -> dict:
        with self._changed:
            engines = list(self._engines.values())
            budgets = dict(self._budgets)
            for held in self._open.values():
                held.difference_update([c for c in held if c.closed])
            connections = sum(len(held) for held in self._open.values())
        return {
            "pools": len(engines),
            "pool_size": self.pool_size,
            "budgets": budgets,
            "connections": connections,
            "idle": sum(e.pool.checkedin() for e in engines),
            "opened": self.opened,
            "closed": self.closed,
            "waited": self.waited,
        }

    def dispose(self) -> None:
        with self._changed:
            engines, self._engines = list(self._engines.values()), OrderedDict()
            self._servers.clear()
        for engine in engines:
            engine.dispose()


def connection_budget(engine: Engine, share: float = 0.5, reserve: int = 0) -> int:
    """The connections a process may hold on ``engine``'s server for tenant databases, from what
    the server allows: a ``share`` of the connections free now (``max_connections``, less those
    kept for superusers and those other clients hold), less ``reserve`` (its own other pools)."""
    with engine.connect() as connection:
        free = connection.scalar(
            text(
                "SELECT current_setting('max_connections')::int"
                " - current_setting('superuser_reserved_connections')::int"
                " - (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')"
            )
        )
    return int((int(free) - reserve) * share)


@implementer(ITenantStore)
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
        return self.pools.engine(self._url(self.servers[entry.server].serving, entry), entry.server)

    def owner_engine(self, entry: TenantEntry) -> Engine:
        return create_engine(self._url(self.servers[entry.server].owner, entry), poolclass=NullPool)

    def binding(self, entry: TenantEntry) -> Binding:
        return Binding(entry.schema_name, guard=entry.id)

    def heard_at(self, entry: TenantEntry) -> tuple[str, Engine] | None:
        """The tenant database's own pool: its connections hear the changes
        (``caching.HeardOnConnections``; a listener per tenant database would take a connection
        more on each, halving the tenants a server keeps warm). Behind a pooler, nowhere."""
        if self.servers[entry.server].pooled:
            return None
        engine = self.engine(entry)
        return engine.url.render_as_string(), engine

    def database(self, entry: TenantEntry) -> str:
        return database_name(self.servers[entry.server].owner.url.database, entry.id)
