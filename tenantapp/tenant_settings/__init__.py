"""Per-tenant settings and feature flags (``catalog`` says how they are declared).

An app author reads ``request.tenant.settings["theme"]`` and ``request.feature("new_dashboard")``.
"""

from ..interfaces import ISettingsCatalog, provide_factory, service, when_assembled
from .catalog import Catalog
from .resources import TenantSettings


def feature(request, name: str) -> bool:
    """Whether flag ``name`` is on for the request's tenant (a declared flag's default, or off
    for a percentage flag, outside any tenant)."""
    tenant = getattr(request, "tenant", None)
    catalog = service(request.registry, ISettingsCatalog)
    return catalog.feature(None if tenant is None else tenant.record, name)


def includeme(config):
    config.include("tenantapp.tenancy.resources")  # the tree it hangs resources from
    # read at the commit: features declare settings of their own (quotas) in their includeme
    provide_factory(
        config, lambda registry: Catalog.from_settings(registry.settings), ISettingsCatalog
    )
    when_assembled(config, lambda registry: service(registry, ISettingsCatalog))  # checked now
    config.add_request_method(feature, "feature")
    config.add_tenant_resource("settings", lambda tenant, request: TenantSettings(tenant))
    config.include("tenantapp.openapi")
    config.add_api_views(".views")
