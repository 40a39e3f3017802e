"""Per-tenant settings and feature flags (``catalog`` says how they are declared).

An app author reads ``request.tenant.settings["theme"]`` and ``request.feature("new_dashboard")``.
"""

from ..interfaces import ISettingsCatalog, provide, service
from .catalog import Catalog
from .resources import TenantSettings


def feature(request, name: str) -> bool:
    """Whether flag ``name`` is on for the request's tenant (a declared flag's default, or off
    for a percentage flag, outside any tenant)."""
    tenant = getattr(request, "tenant", None)
    catalog = service(request.registry, ISettingsCatalog)
    return catalog.feature(None if tenant is None else tenant.record, name)


def includeme(config):
    provide(config, Catalog.from_settings(config.get_settings()), ISettingsCatalog)
    config.add_request_method(feature, "feature")
    config.add_tenant_resource("settings", lambda tenant, request: TenantSettings(tenant))
    config.scan(".views")
