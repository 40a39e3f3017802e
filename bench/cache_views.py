"""The two views ``bench.cache`` compares (``pyramid.includes``): a user read from the tenant's
database, and the same read through ``request.cache``."""

from pyramid.security import NO_PERMISSION_REQUIRED

from tenantapp.tenancy.resources import Tenant
from tenantapp.users.models import User


def _user(request) -> dict:
    user = request.dbsession.get(User, int(request.GET["id"]))
    return {"id": user.id, "email": user.email, "name": user.name, "role": user.role}


def from_database(context, request):
    return _user(request)


def from_cache(context, request):
    return request.cache.get_or_create(f"user:{request.GET['id']}", lambda: _user(request))


def includeme(config):
    common = {"context": Tenant, "renderer": "json", "permission": NO_PERMISSION_REQUIRED}
    config.add_view(from_database, name="from-database", request_method="GET", **common)
    config.add_view(from_cache, name="from-cache", request_method="GET", **common)
