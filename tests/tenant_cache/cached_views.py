"""App code that uses ``request.cache``, as an app would (``pyramid.includes`` of the tests): a
view that reads, writes and fills it, and a job that writes to it."""

from pyramid.security import NO_PERMISSION_REQUIRED

from tenantapp.jobs import defer, tenant_task
from tenantapp.tenancy.resources import Tenant

MADE: list[str] = []  # the keys get_or_create had to make


def read(context, request):
    return {"value": request.cache.get(request.GET["key"])}


def write(context, request):
    sealed = request.GET.get("sealed") == "1"
    request.cache.set(request.GET["key"], request.json_body, sealed=sealed)
    return {"ok": True}


def filled(context, request):
    key = request.GET["key"]

    def make():
        MADE.append(key)
        return {"made_for": context.record.slug}

    return {"value": request.cache.get_or_create(key, make)}


def later(context, request):
    defer(request, "tests.cache_from_a_job", key=request.GET["key"])
    return {"ok": True}


@tenant_task("tests.cache_from_a_job")
def cache_from_a_job(request, key: str):
    request.cache.set(key, {"from": "a job", "tenant": request.tenant.record.slug})


def includeme(config):
    plain = {"context": Tenant, "renderer": "json", "permission": NO_PERMISSION_REQUIRED}
    config.add_view(read, name="cached", request_method="GET", **plain)
    config.add_view(write, name="cached", request_method="PUT", **plain)
    config.add_view(filled, name="filled", request_method="GET", **plain)
    config.add_view(later, name="later", request_method="POST", **plain)
    config.scan(__name__)
