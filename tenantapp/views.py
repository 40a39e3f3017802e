"""Views of the root and of a tenant itself, and what a tenant answers for missing paths."""

from pyramid.exceptions import PredicateMismatch
from pyramid.security import NO_PERMISSION_REQUIRED
from pyramid.traversal import find_interface
from pyramid.view import exception_view_config, notfound_view_config, view_config

from .errors import error_body
from .identity.views import forbidden
from .interfaces import IAllowedMethods, service
from .openapi import TENANT, Operation
from .tenancy.resources import Root, Tenant


@view_config(context=Root, request_method="GET", renderer="json", permission=NO_PERMISSION_REQUIRED)
def service_index(context: Root, request):
    return {"service": "tenantapp"}


@view_config(context=Tenant, request_method="GET", renderer="json", permission="view")
def tenant_index(context: Tenant, request):
    return {
        "slug": context.record.slug,
        "name": context.record.display_name,
        "links": {"users": request.link(context["users"])},
    }


def _stranger_in_tenant(request) -> bool:
    """Inside a tenant, only members learn what is missing or which methods a path has: a
    stranger asking about user 42 gets the same 401 whether or not user 42 exists."""
    tenant = find_interface(getattr(request, "context", None), Tenant)
    return tenant is not None and not request.has_permission("view", tenant)


@notfound_view_config(renderer="json")
def not_found(exc, request):
    if _stranger_in_tenant(request):
        return forbidden(exc, request)
    request.response.status_int = 404
    return error_body("not_found", "no such resource")


@exception_view_config(PredicateMismatch, renderer="json")
def method_not_allowed(exc, request):
    """A view exists here but not for this method: 405 naming the methods that do."""
    if _stranger_in_tenant(request):
        return forbidden(exc, request)
    key = (type(request.context), request.view_name)
    methods = service(request.registry, IAllowedMethods).get(key)
    if not methods or request.method in methods:
        return not_found(exc, request)
    request.response.status_int = 405
    request.response.headers["Allow"] = ", ".join(sorted(methods))
    return error_body("method_not_allowed", f"{request.method} is not allowed here")


OPERATIONS = (
    Operation(Root, "", "GET", "/", "What this server is", auth=None, errors=(503,)),
    Operation(Tenant, "", "GET", "/{tenant}", "The tenant", params=(TENANT,)),
)


def includeme(config):
    config.include(".openapi")
    config.add_api_views(__name__)  # the root's views
