"""Attribute-based access per tenant: owner-written Cedar policies (cedarpy) over users'
attributes (role, email, custom fields) and the time, which forbid more than the roles do;
validated on save against the tenant's own schema, evaluated after the ACL, pushed into SQL
for lists, and explained to owners."""

from ..config import setting
from ..interfaces import (
    ICacheListener,
    IPermissionChecks,
    IRowFilters,
    ITenantPolicies,
    provide_factory,
    service,
    when_assembled,
)
from .checks import PolicyChecks
from .console import PoliciesPage
from .resources import Authz
from .store import policy_cache


def includeme(config):
    config.include("tenantapp.tenancy.resources")  # the tree it hangs resources from
    config.add_tenant_resource("authz", lambda tenant, request: Authz(tenant))
    capacity = setting(config.get_settings(), "tenantapp.policy_cache_size", int, 10_000, minimum=0)
    cache = policy_cache(capacity)

    provide_factory(config, lambda registry: PolicyChecks(registry, cache), ITenantPolicies)

    def wire(registry):
        service(registry, ICacheListener).register(cache)
        checks = service(registry, ITenantPolicies)
        service(registry, IPermissionChecks).append(checks.check)
        service(registry, IRowFilters).append(checks.rows)

    when_assembled(config, wire)
    config.include("tenantapp.openapi")
    config.add_api_views(".views")
    config.include("tenantapp.console")
    config.add_console_page(PoliciesPage, "Policies", "configure", "tenantapp.authz:templates")
    config.scan(".console")
