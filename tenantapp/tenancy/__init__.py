"""The tenancy kernel: what a request touches to reach its tenant's rows (slugs, the directory,
binding, the move guard, servers, pooling, the serving stores of the isolation modes). The
operator's side (provisioning, migrations, moves, transfer) is ``tenantapp.lifecycle``."""

from pyramid_retry import IBeforeRetry, IRetryableError
from zope.interface import classImplements

from ..config import setting
from ..errors import TenantMoved
from ..interfaces import (
    ICacheListener,
    IDatabasePools,
    IPlaceListeners,
    IServers,
    ITenantDirectory,
    ITenantStore,
    provide,
    provide_factory,
    service,
    when_assembled,
)

RETRIED_BODY = 256 * 1024  # larger bodies (files) are not copied to be read again


def retried_once_copied(request) -> int | None:
    """pyramid_retry copies a body to read it again at each attempt: worth it for a JSON body,
    not for a file of a hundred megabytes (a copy on disk before the view reads a byte), nor
    for a body that says no length (nothing sent, or chunked): those get one attempt."""
    length = request.content_length
    if length is None or length > RETRIED_BODY:
        return 1
    return None  # retry.attempts


def includeme(config):
    """Register the directory, database mode's pools and one serving store per isolation mode,
    and the traversal tree the features hang their resources from."""
    config.include(".resources")
    from .databases import (
        DEFAULT_MAX_OVERFLOW,
        DEFAULT_POOL_SIZE,
        DEFAULT_POOL_TIMEOUT,
        DatabasePools,
        DatabaseStore,
        connection_budget,
    )
    from .directory import TenantDirectory, tenant_directory
    from .stores import SchemaStore, SharedStore

    settings = config.get_settings()
    registry = config.registry
    capacity = setting(settings, "tenantapp.tenant_cache_size", int, 10_000, minimum=0)
    cache = tenant_directory(capacity)
    when_assembled(config, lambda registry: service(registry, ICacheListener).register(cache))

    def directory(registry) -> TenantDirectory:
        return TenantDirectory(cache, service(registry, IServers).default.serving)

    provide_factory(config, directory, ITenantDirectory)
    from ..database import make_engine

    def tenant_database_engine(url: str, server: str, pool_size: int):
        pooled = {
            **settings,
            "sqlalchemy.pool_size": pool_size,
            "sqlalchemy.max_overflow": max_overflow,
            "sqlalchemy.pool_timeout": pool_timeout,
        }
        engine = make_engine(pooled, url)
        if service(registry, IServers)[server].pooled:
            return engine
        return service(registry, IPlaceListeners).hear_on_connections(engine)

    max_connections = setting(
        settings, "tenantapp.database_mode.max_connections", int, 0, minimum=0
    )
    max_overflow = setting(
        settings, "tenantapp.database_mode.max_overflow", int, DEFAULT_MAX_OVERFLOW, minimum=0
    )
    pool_timeout = setting(
        settings, "tenantapp.database_mode.pool_timeout", float, DEFAULT_POOL_TIMEOUT, minimum=0
    )
    own_pool = setting(settings, "sqlalchemy.pool_size", int, 5, minimum=0)  # SQLAlchemy's default

    def budget(server: str) -> int:
        """The setting, else half of what the server has free when first used (README)."""
        if max_connections > 0:
            return max_connections
        return connection_budget(service(registry, IServers)[server].serving, reserve=own_pool)

    pools = DatabasePools(
        tenant_database_engine,
        budget,
        setting(settings, "tenantapp.database_mode.pool_size", int, DEFAULT_POOL_SIZE, minimum=1),
        pool_timeout,
        setting(settings, "tenantapp.database_mode.max_engines", int, 1000, minimum=1),
    )
    provide(config, pools, IDatabasePools)
    stores = {
        SchemaStore.mode: lambda registry: SchemaStore(service(registry, IServers)),
        SharedStore.mode: lambda registry: SharedStore(service(registry, IServers)),
        DatabaseStore.mode: lambda registry: DatabaseStore(service(registry, IServers), pools),
    }
    for mode, store in stores.items():
        provide_factory(config, store, ITenantStore, name=mode)
    # a write that waited through its tenant's move is run again, at the tenant's new place
    settings.setdefault("retry.attempts", 3)
    settings.setdefault("retry.activate_hook", retried_once_copied)
    config.include("pyramid_retry")
    classImplements(TenantMoved, IRetryableError)

    def forget_moved_tenant(event):
        """Ask the registry, not this process's memory, where the tenant is now."""
        tenant = getattr(event.request, "tenant", None)
        if isinstance(event.exception, TenantMoved) and tenant is not None:
            cache.forget(tenant.record.slug)

    config.add_subscriber(forget_moved_tenant, IBeforeRetry)
