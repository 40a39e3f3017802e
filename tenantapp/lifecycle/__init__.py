"""The operator's side of tenancy: provisioning, migrations, moves, export and import,
templates and roles, and each isolation mode's storage. ``Tenancy`` is what all of it works
with: the servers and the storage of each mode; ``Lifecycle`` (the ``ITenancy`` service) adds
every operation on tenants as its methods."""

from pyramid.events import ApplicationCreated
from pyramid.exceptions import ConfigurationError
from pyramid.path import AssetResolver
from pyramid.settings import asbool, aslist

from ..interfaces import (
    IDatabasePools,
    IFiles,
    IPasswordHasher,
    ISchemaRevisions,
    IServers,
    ITenancy,
    ITenantCaches,
    ITenantKeys,
    provide,
    provide_factory,
    service,
)
from ..tenancy.models import MODES
from ..users import custom_indexes
from . import migrations
from .databases import DatabaseStorage
from .operations import Lifecycle
from .plans import plans_from
from .startup import provision_on_start
from .storage import SchemaStorage, SharedStorage


def includeme(config):
    """Register the lifecycle (``ITenancy``): each mode's storage over the kernel's servers and
    pools, and the tenants' data keys; parse the start-up provisioning settings once and act on
    them when the app is built."""
    settings = config.get_settings()
    # an app's own tenant revisions (``package:path`` or a directory), after tenantapp's
    extra = aslist(settings.get("tenantapp.migrations.tenant_versions", ""))
    migrations.use_tenant_versions([AssetResolver().resolve(spec).abspath() for spec in extra])
    provide(config, migrations.SchemaRevisions(), ISchemaRevisions)
    default_mode = settings.get("tenantapp.default_mode", "schema")
    if default_mode not in MODES:
        raise ConfigurationError(
            f"tenantapp.default_mode must be one of {', '.join(MODES)}, not {default_mode!r}"
        )

    def lifecycle(registry) -> Lifecycle:
        servers = service(registry, IServers)
        storages = (
            SchemaStorage(servers),
            SharedStorage(servers),
            DatabaseStorage(servers, service(registry, IDatabasePools)),
        )
        keys = service(registry, ITenantKeys)  # made by ``encryption``
        files = service(registry, IFiles)  # made by ``files``
        caches = service(registry, ITenantCaches)  # made by ``tenant_cache``
        stores = {s.mode: s for s in storages}
        placed = (custom_indexes.reconcile,)  # a moved or imported tenant's field indexes
        plans = plans_from(settings, servers)
        return Lifecycle(servers, stores, default_mode, keys, files, caches, placed, plans)

    provide_factory(config, lifecycle, ITenancy)

    migrate = asbool(settings.get("tenantapp.migrate_on_start", False))
    demo_tenants = aslist(settings.get("tenantapp.demo_tenants", ""))
    demo_password = settings.get("tenantapp.demo_password") or None
    if not (migrate or demo_tenants):
        return

    def on_created(event):
        registry = event.app.registry
        provision_on_start(
            service(registry, ITenancy),
            demo_tenants,
            demo_password,
            service(registry, IPasswordHasher),
        )

    config.add_subscriber(on_created, ApplicationCreated)
