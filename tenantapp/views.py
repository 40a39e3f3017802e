"""Views of the root and of a tenant itself."""

from pyramid.security import NO_PERMISSION_REQUIRED
from pyramid.view import view_config

from .resources import Root, Tenant


@view_config(context=Root, request_method="GET", renderer="json", permission=NO_PERMISSION_REQUIRED)
def service_index(context: Root, request):
    return {"service": "tenantapp"}


@view_config(context=Tenant, request_method="GET", renderer="json", permission="view")
def tenant_index(context: Tenant, request):
    return {
        "slug": context.record.slug,
        "name": context.record.display_name,
        "links": {"users": request.resource_url(context.users)},
    }
