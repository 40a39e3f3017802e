"""Tenancy: the registry of tenants, schema binding, provisioning and migrations."""

from pyramid.events import ApplicationCreated
from pyramid.settings import asbool, aslist

from .directory import tenant_directory
from .provisioning import provision_on_start


def includeme(config):
    """Build the tenant directory; parse the start-up provisioning settings once and act on
    them when the app is built."""
    settings = config.get_settings()
    capacity = int(settings.get("tenantapp.tenant_cache_size", 10_000))
    config.registry["tenant_directory"] = config.registry["cache_listener"].register(
        tenant_directory(capacity)
    )
    migrate = asbool(settings.get("tenantapp.migrate_on_start", False))
    demo_tenants = aslist(settings.get("tenantapp.demo_tenants", ""))
    demo_password = settings.get("tenantapp.demo_password") or None
    if not (migrate or demo_tenants):
        return

    def on_created(event):
        registry = event.app.registry
        provision_on_start(
            registry["dbengine"], demo_tenants, demo_password, registry["password_hasher"]
        )

    config.add_subscriber(on_created, ApplicationCreated)
