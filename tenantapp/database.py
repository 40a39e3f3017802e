"""The database: its URL, engines and servers, and the sessions of ``tenancy.sessions`` wired
into Pyramid (``request.tenant``, ``request.dbsession``, pyramid_tm): built once.

The database URL comes from ``sqlalchemy.url``, else the ``TENANTAPP_DATABASE_URL`` environment
variable, else (unless ``tenantapp.embedded_database = false``) an embedded PostgreSQL whose
data lives in ``tenantapp.data_dir``.
"""

import os
import select
from pathlib import Path

from pyramid.exceptions import ConfigurationError
from pyramid.settings import asbool
from sqlalchemy import engine_from_config, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.engine.interfaces import CacheStats
from sqlalchemy.exc import DisconnectionError

from .config import setting
from .embedded import start_embedded_postgres
from .interfaces import ICompiledCacheStats, IServers, ITenantSessions, provide
from .tenancy.errors import ProvisioningError
from .tenancy.servers import (
    DEFAULT,
    Server,
    Servers,
    app_role,
    pooler_urls,
    server_cas,
    server_regions,
    server_urls,
    through_pooler,
    with_tls,
)
from .tenancy.sessions import (
    TenantSessions,
    changes_state,
    make_session_factory,
    request_dbsession,
    request_tenant,
)

URL_ENV = "TENANTAPP_DATABASE_URL"
CONNECT_TIMEOUT = 5  # seconds
# a backend's catalog cache grows with every tenant it serves: connections are replaced by age
# (SQLAlchemy's pool_recycle, seconds) and after serving this many distinct tenant schemas
DEFAULT_POOL_RECYCLE = 3600
DEFAULT_MAX_SCHEMAS = 500


def database_url(settings: dict) -> str:
    url = settings.get("sqlalchemy.url") or os.environ.get(URL_ENV)
    if not url:
        if not asbool(settings.get("tenantapp.embedded_database", True)):
            raise ConfigurationError(
                f"no database configured: set {URL_ENV} or sqlalchemy.url "
                "(tenantapp.embedded_database is off)"
            )
        url = start_embedded_postgres(Path(settings.get("tenantapp.data_dir") or "var"))
    return normalized_url(url)


def normalized_url(url: str) -> str:
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername != "postgresql+psycopg":
        raise ConfigurationError(f"tenantapp needs PostgreSQL through psycopg 3, not {url!r}")
    return parsed.render_as_string(hide_password=False)


def make_engine(settings: dict, url: str | None = None) -> Engine:
    """An engine for ``url`` (default: the configured database) with the pool settings.

    No server-side prepared statements: the tenant schema is spelled into each statement's
    text, so with many tenants psycopg would prepare, evict and deallocate endlessly, each an
    extra round trip; PostgreSQL plans these short queries faster than that."""
    url = database_url(settings) if url is None else normalized_url(url)
    settings = {"sqlalchemy.pool_recycle": DEFAULT_POOL_RECYCLE, **settings}
    connect_args = {"prepare_threshold": None}
    if "connect_timeout" not in make_url(url).query:  # a server that hangs must not hang us
        connect_args["connect_timeout"] = CONNECT_TIMEOUT
    engine = engine_from_config(settings, prefix="sqlalchemy.", url=url, connect_args=connect_args)
    event.listen(engine, "checkout", refuse_closed_connections)
    return engine


def refuse_closed_connections(dbapi_connection, connection_record, connection_proxy) -> None:
    """An idle connection has nothing to read, unless the server has closed it (a restart, an
    idle timeout, ``pg_terminate_backend``): then its socket is readable. Checking that is a
    local poll where ``pool_pre_ping`` costs a round trip per checkout; the pool replaces a
    refused connection with a new one."""
    if dbapi_connection.closed:
        raise DisconnectionError("connection is closed")
    poller = select.poll()  # not select.select: a busy server has descriptors above 1024
    poller.register(dbapi_connection.fileno(), select.POLLIN)
    if poller.poll(0):
        raise DisconnectionError("the server closed this connection")


class CompiledCacheStats:
    """Counts SQLAlchemy compiled-cache hits, to show that tenant binding does not defeat it."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.hits = 0
        self.misses = 0
        event.listen(engine, "before_cursor_execute", self._count)

    def _count(self, conn, cursor, statement, parameters, context, executemany):
        outcome = getattr(context, "cache_hit", None)
        if outcome is CacheStats.CACHE_HIT:
            self.hits += 1
        elif outcome is CacheStats.CACHE_MISS:
            self.misses += 1

    def stats(self) -> dict:
        cache = getattr(self.engine, "_compiled_cache", None)
        return {
            "size": 0 if cache is None else len(cache),
            "capacity": 0 if cache is None else cache.capacity,
            "hits": self.hits,
            "misses": self.misses,
        }


def make_servers(settings: dict) -> Servers:
    """Every configured server, each with an owner engine and a serving engine (see
    ``tenancy.servers``)."""
    role = app_role(settings)
    urls = {DEFAULT: database_url(settings), **server_urls(settings)}
    poolers = pooler_urls(settings)
    cas = server_cas(settings)
    regions = server_regions(settings)
    for prefix, named in (
        ("tenantapp.pooler", poolers),
        ("tenantapp.database_ca", cas),
        ("tenantapp.region", regions),
    ):
        unknown = set(named) - set(urls)
        if unknown:
            raise ProvisioningError(f"{prefix}.{sorted(unknown)[0]}: no such server")
    if asbool(settings.get("tenantapp.database_tls_required", False)):
        plain = sorted(set(urls) - set(cas))
        if plain:
            raise ProvisioningError(
                f"tenantapp.database_tls_required: set tenantapp.database_ca.{plain[0]} (the"
                " CA its server's certificate is signed by)"
            )
    return Servers(
        {
            name: Server(
                name,
                make_engine(settings, with_tls(url, cas.get(name))),
                make_engine(
                    settings,
                    with_tls(through_pooler(role.url(url), poolers.get(name)), cas.get(name)),
                ),
                pooled=name in poolers,
                region=regions.get(name),
            )
            for name, url in urls.items()
        },
        role,
    )


def includeme(config):
    settings = config.get_settings()
    settings["tm.manager_hook"] = "pyramid_tm.explicit_manager"
    # pyramid_tm would ask for the user before traversal has found the tenant to look it up in
    settings["tm.annotate_user"] = False
    settings["tm.activate_hook"] = changes_state
    config.include("pyramid_tm")
    config.include("pyramid_services")

    try:
        servers = make_servers(settings)
    except ProvisioningError as error:
        raise ConfigurationError(str(error)) from None
    provide(config, servers, IServers)
    provide(config, CompiledCacheStats(servers.default.serving), ICompiledCacheStats)
    factory = make_session_factory(
        None,
        settings.get("tenantapp.lock_timeout", "2s"),
        setting(
            settings, "tenantapp.max_schemas_per_connection", int, DEFAULT_MAX_SCHEMAS, minimum=0
        ),
    )
    provide(config, TenantSessions(factory), ITenantSessions)
    config.add_request_method(request_tenant, "tenant", reify=True)
    config.add_request_method(request_dbsession, "dbsession", reify=True)
