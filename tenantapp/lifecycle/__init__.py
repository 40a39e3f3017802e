"""The operator's side of tenancy: provisioning, migrations, moves, export and import,
templates and roles, and each isolation mode's storage. ``Tenancy`` is what all of it works
with: the servers and the storage of each mode (an ``ITenancy`` service)."""

from pyramid.events import ApplicationCreated
from pyramid.exceptions import ConfigurationError
from pyramid.settings import asbool, aslist

from ..interfaces import IDatabasePools, IPasswordHasher, IServers, ITenancy, ITenantKeys, service
from ..tenancy.models import MODES
from .databases import DatabaseStorage
from .startup import provision_on_start
from .storage import SchemaStorage, SharedStorage
from .tenancy import Tenancy


def includeme(config):
    """Register the lifecycle (``ITenancy``): each mode's storage over the kernel's servers and
    pools, and the tenants' data keys; parse the start-up provisioning settings once and act on
    them when the app is built."""
    settings = config.get_settings()
    registry = config.registry
    default_mode = settings.get("tenantapp.default_mode", "schema")
    if default_mode not in MODES:
        raise ConfigurationError(
            f"tenantapp.default_mode must be one of {', '.join(MODES)}, not {default_mode!r}"
        )
    servers = service(registry, IServers)
    keys = service(registry, ITenantKeys)  # made by ``encryption``

    def lifecycle(context, request) -> Tenancy:
        """Built at first use, when the kernel's services (database mode's pools) are there."""
        storages = (
            SchemaStorage(servers),
            SharedStorage(servers),
            DatabaseStorage(servers, service(registry, IDatabasePools)),
        )
        return Tenancy(servers, {s.mode: s for s in storages}, default_mode, keys)

    config.register_service_factory(lifecycle, ITenancy)

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
