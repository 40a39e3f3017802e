"""Reading and changing per-tenant settings and flags: the tenant's owner for what the ini
marks ``owner``, the operator for everything."""

import logging

from pyramid.view import view_config

from ..errors import Conflict
from ..identity import impersonation
from ..interfaces import ISettingsCatalog, service
from ..openapi import MANAGED, SLUG, TENANT, Operation
from ..platform.resources import ManagedTenant
from ..tenancy.directory import find_tenant
from ..tenancy.sessions import tenant_session
from ..validation import validated_body
from .catalog import changes
from .overrides import change_by_owner, update_overrides
from .resources import TenantSettings

log = logging.getLogger(__name__)


def _tenant_view(catalog, entry) -> dict:
    return {"settings": catalog.values(entry), "flags": catalog.features(entry)}


@view_config(context=TenantSettings, request_method="GET", renderer="json", permission="view")
def read_settings(context: TenantSettings, request):
    return _tenant_view(service(request.registry, ISettingsCatalog), context.tenant.record)


@view_config(
    context=TenantSettings, request_method="PATCH", renderer="json", permission="configure"
)
def change_settings(context: TenantSettings, request):
    """The owner changes what the ini lets owners change; the change is in the audit log."""
    catalog = service(request.registry, ISettingsCatalog)
    entry = change_by_owner(request, validated_body(request, catalog.owner_change))
    return _tenant_view(catalog, entry)


@view_config(
    context=ManagedTenant,
    name="settings",
    request_method="GET",
    renderer="json",
    permission="operate",
)
def operator_settings(context: ManagedTenant, request):
    entry = find_tenant(context.tenancy.registry, context.info.slug)
    if entry is None:
        raise Conflict("the tenant is archived: restore it first")
    return service(request.registry, ISettingsCatalog).describe(entry)


@view_config(
    context=ManagedTenant,
    name="settings",
    request_method="PATCH",
    renderer="json",
    permission="operate",
)
def operator_change_settings(context: ManagedTenant, request):
    catalog = service(request.registry, ISettingsCatalog)
    settings, flags = changes(validated_body(request, catalog.operator_change))
    entry = update_overrides(context.tenancy, context.info.slug, settings, flags)
    log.info("operator changed tenant %s: settings %s flags %s", entry.slug, settings, flags)
    if impersonation.withdrawn(settings):
        session = tenant_session(request.registry, entry)
        try:
            impersonation.revoke_all(session)
            session.commit()
        finally:
            session.close()
    return catalog.describe(entry)


# the settings and flags the ini declares: their shape is the catalog's, not one model's
DESCRIBED = {
    "type": "object",
    "required": ["settings", "flags"],
    "properties": {
        "settings": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "required": ["type", "default", "override", "value", "owner_editable"],
            },
        },
        "flags": {"type": "object"},
    },
}
OWN, OPERATED = "/{tenant}/settings", MANAGED + "/settings"
OPERATIONS = (
    Operation(TenantSettings, "", "GET", OWN, "Settings", params=(TENANT,)),
    Operation(TenantSettings, "", "PATCH", OWN, "Change", 200, "owner_change", params=(TENANT,)),
    Operation(
        ManagedTenant,
        "settings",
        "GET",
        OPERATED,
        "Settings and flags",
        200,
        None,
        "operator",
        (SLUG,),
        returns=DESCRIBED,
    ),
    Operation(
        ManagedTenant,
        "settings",
        "PATCH",
        OPERATED,
        "Change settings and flags",
        200,
        "operator_change",
        "operator",
        (SLUG,),
        returns=DESCRIBED,
    ),
)
