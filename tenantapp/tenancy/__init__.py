"""Tenancy: the registry of tenants, the isolation modes, binding, provisioning, migrations."""

from pyramid.events import ApplicationCreated
from pyramid.exceptions import ConfigurationError
from pyramid.settings import asbool, aslist
from pyramid_retry import IBeforeRetry, IRetryableError
from zope.interface import classImplements

from ..errors import TenantMoved
from ..interfaces import (
    IDatabasePools,
    IServers,
    ITenancy,
    ITenantDirectory,
    ITenantStore,
    service,
)


def includeme(config):
    """Register the directory, one store per isolation mode and the lifecycle's view of them
    (the database's services are committed before this runs); parse the start-up provisioning
    settings once and act on them when the app is built."""
    # imported here, not above: a module that imports a tenant model (``users.models`` imports
    # ``tenancy.models``) must not pull in provisioning, which imports that model back
    from .databases import (
        DEFAULT_MAX_OVERFLOW,
        DEFAULT_POOL_SIZE,
        DEFAULT_POOL_TIMEOUT,
        DatabasePools,
        DatabaseStore,
        connection_budget,
    )
    from .directory import TenantDirectory, tenant_directory
    from .lifecycle import Tenancy
    from .models import MODES
    from .provisioning import provision_on_start
    from .stores import SchemaStore, SharedStore

    settings = config.get_settings()
    registry = config.registry
    servers = service(registry, IServers)
    default_mode = settings.get("tenantapp.default_mode", "schema")
    if default_mode not in MODES:
        raise ConfigurationError(
            f"tenantapp.default_mode must be one of {', '.join(MODES)}, not {default_mode!r}"
        )
    capacity = int(settings.get("tenantapp.tenant_cache_size", 10_000))
    cache = registry["cache_listener"].register(tenant_directory(capacity))
    config.register_service(TenantDirectory(cache, servers.default.serving), ITenantDirectory)
    from ..database import make_engine

    def tenant_database_engine(url: str, server: str, pool_size: int):
        pooled = {
            **settings,
            "sqlalchemy.pool_size": pool_size,
            "sqlalchemy.max_overflow": max_overflow,
            "sqlalchemy.pool_timeout": pool_timeout,
        }
        engine = make_engine(pooled, url)
        if servers[server].pooled:
            return engine
        return registry["place_listeners"].hear_on_connections(engine)

    max_connections = int(settings.get("tenantapp.database_mode.max_connections", 0))
    max_overflow = int(settings.get("tenantapp.database_mode.max_overflow", DEFAULT_MAX_OVERFLOW))
    pool_timeout = float(settings.get("tenantapp.database_mode.pool_timeout", DEFAULT_POOL_TIMEOUT))
    own_pool = int(settings.get("sqlalchemy.pool_size", 5))  # SQLAlchemy's default

    def budget(server: str) -> int:
        """The setting, else half of what the server has free when first used (README)."""
        if max_connections > 0:
            return max_connections
        return connection_budget(servers[server].serving, reserve=own_pool)

    pools = DatabasePools(
        tenant_database_engine,
        budget,
        int(settings.get("tenantapp.database_mode.pool_size", DEFAULT_POOL_SIZE)),
        pool_timeout,
        int(settings.get("tenantapp.database_mode.max_engines", 1000)),
    )
    config.register_service(pools, IDatabasePools)
    stores = {
        store.mode: store
        for store in (SchemaStore(servers), SharedStore(servers), DatabaseStore(servers, pools))
    }
    for mode, store in stores.items():
        config.register_service(store, ITenantStore, name=mode)
    from ..encryption.keyring import keyring_from
    from ..encryption.keys import TenantKeys

    keys = TenantKeys(keyring_from(settings), servers.default.owner)
    tenancy = Tenancy(servers, stores, default_mode, keys)
    registry["tenant_keys"] = keys  # every tenant session's sealing: no lookup per session
    config.register_service(tenancy, ITenancy)

    # a write that waited through its tenant's move is run again, at the tenant's new place
    settings.setdefault("retry.attempts", 3)
    config.include("pyramid_retry")
    classImplements(TenantMoved, IRetryableError)

    def forget_moved_tenant(event):
        """Ask the registry, not this process's memory, where the tenant is now."""
        tenant = getattr(event.request, "tenant", None)
        if isinstance(event.exception, TenantMoved) and tenant is not None:
            cache.forget(tenant.record.slug)

    config.add_subscriber(forget_moved_tenant, IBeforeRetry)

    migrate = asbool(settings.get("tenantapp.migrate_on_start", False))
    demo_tenants = aslist(settings.get("tenantapp.demo_tenants", ""))
    demo_password = settings.get("tenantapp.demo_password") or None
    if not (migrate or demo_tenants):
        return

    def on_created(event):
        provision_on_start(
            tenancy, demo_tenants, demo_password, event.app.registry["password_hasher"]
        )

    config.add_subscriber(on_created, ApplicationCreated)
