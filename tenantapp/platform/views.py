"""Operator endpoints: list, create, show, suspend, resume and delete tenants."""

from pyramid.httpexceptions import HTTPNoContent
from pyramid.security import NO_PERMISSION_REQUIRED
from pyramid.view import exception_view_config, view_config
from sqlalchemy.exc import SQLAlchemyError

from ..errors import (
    RETRY_AFTER_UNAVAILABLE,
    database_unavailable,
    error_body,
)
from ..identity.tokens import CHANNEL
from ..interfaces import (
    ICompiledCacheStats,
    IDatabasePools,
    IPlaceListeners,
    IServingProcesses,
    ITenantDirectory,
    service,
)
from ..lifecycle import migrations, provisioning
from ..openapi import MANAGED, SLUG, Operation
from ..validation import query_params, validated_body
from .actions import STATUS_FOR_ACTION, TenantCreate, TenantMove, create, move
from .resources import ManagedTenant, ManagedTenants, Readiness, Stats
from .schemas import TenantCreated, TenantList, TenantMoved, TenantOut, tenant_json


@view_config(
    context=Readiness, request_method="GET", renderer="json", permission=NO_PERMISSION_REQUIRED
)
def ready(context: Readiness, request):
    """200 when the database answers and the shared schema is at head, else 503 saying which."""
    checks = {"database": "ok", "shared_schema": "ok"}
    try:
        with context.server.serving.connect() as connection:
            revision = migrations.current_revision(connection, "shared")
    except SQLAlchemyError as error:
        if not database_unavailable(error):
            raise
        checks.update(database="unreachable", shared_schema="unknown")
    else:
        head = migrations.head_revision("shared")
        if revision != head:
            checks["shared_schema"] = f"at {revision or 'nothing'}, not {head}: run migrate"
    if all(value == "ok" for value in checks.values()):
        return {"status": "ready", "checks": checks}
    request.response.status_int = 503
    request.response.headers["Retry-After"] = RETRY_AFTER_UNAVAILABLE
    return {**error_body("not_ready", "this process cannot serve tenants yet"), "checks": checks}


@view_config(context=Stats, request_method="GET", renderer="json", permission="operate")
def stats(context: Stats, request):
    registry = request.registry
    return {
        "caches": {
            "tenants": service(request.registry, ITenantDirectory).stats(),
            "token_owners": service(registry, IPlaceListeners).stats(CHANNEL),
            "sql_compiled": service(registry, ICompiledCacheStats).stats(),
        },
        "tenant_database_pools": service(request.registry, IDatabasePools).stats(),
        "serving_processes": service(
            registry, IServingProcesses
        ).alive,  # a tenant's pace is shared
    }


@view_config(context=ManagedTenants, request_method="GET", renderer="json", permission="operate")
def list_tenants(context: ManagedTenants, request):
    return {"items": [tenant_json(t) for t in context.tenancy.list_tenants()]}


@view_config(context=ManagedTenants, request_method="POST", renderer="json", permission="operate")
def create_tenant(context: ManagedTenants, request):
    info, owner = create(context.tenancy, validated_body(request, TenantCreate), request)
    first = {} if owner is None else {"owner": {"email": owner.email, "password": owner.password}}
    body = tenant_json(info, **first)
    request.response.status_int = 201
    request.response.location = request.link(ManagedTenant(context, info))
    return body


@view_config(context=ManagedTenant, request_method="GET", renderer="json", permission="operate")
def show_tenant(context: ManagedTenant, request):
    return tenant_json(context.info)


@view_config(
    context=ManagedTenant, name="move", request_method="POST", renderer="json", permission="operate"
)
def move_tenant(context: ManagedTenant, request):
    """Move the tenant while it is served; the report says how long writes were paused."""
    report = move(context.tenancy, context.info.slug, validated_body(request, TenantMove))
    moved = context.tenancy.get_tenant(context.info.slug)
    return TenantMoved(move=report.as_json(), tenant=tenant_json(moved)).model_dump(by_alias=True)


@exception_view_config(provisioning.UnknownTenant, renderer="json")
def unknown_tenant(exc, request):
    request.response.status_int = 404
    return error_body("not_found", str(exc))


@exception_view_config(provisioning.ResidencyError, renderer="json")
def elsewhere(exc, request):
    request.response.status_int = 409
    return error_body("residency", str(exc))


@exception_view_config(provisioning.ProvisioningError, renderer="json")
def refused(exc, request):
    request.response.status_int = 409
    return error_body("conflict", str(exc))


@view_config(
    context=ManagedTenant,
    name="suspend",
    request_method="POST",
    renderer="json",
    permission="operate",
)
@view_config(
    context=ManagedTenant,
    name="resume",
    request_method="POST",
    renderer="json",
    permission="operate",
)
def change_status(context: ManagedTenant, request):
    status = STATUS_FOR_ACTION[request.view_name]
    return tenant_json(context.tenancy.set_status(context.info.slug, status))


@view_config(
    context=ManagedTenant,
    name="restore",
    request_method="POST",
    renderer="json",
    permission="operate",
)
def restore_tenant(context: ManagedTenant, request):
    return tenant_json(context.tenancy.restore_tenant(context.info.slug))


@view_config(context=ManagedTenant, request_method="DELETE", permission="operate")
def delete_tenant(context: ManagedTenant, request):
    """Archives (restorable) unless ``?purge=true``, as ``drop-tenant`` does."""
    if query_params(request).get("purge") == "true":
        context.tenancy.purge_tenant(context.info.slug)
    else:
        context.tenancy.archive_tenant(context.info.slug)
    return HTTPNoContent()


OPERATIONS = (
    Operation(Readiness, "", "GET", "/-/ready", "Ready to serve (503 until migrated)", auth=None),
    Operation(Stats, "", "GET", "/-/stats", "This process's caches and pools", auth="operator"),
    Operation(
        ManagedTenants, "", "GET", "/-/tenants", "Tenants", auth="operator", returns=TenantList
    ),
    Operation(
        ManagedTenants,
        "",
        "POST",
        "/-/tenants",
        "Create a tenant",
        201,
        TenantCreate,
        "operator",
        returns=TenantCreated,
    ),
    Operation(
        ManagedTenant,
        "",
        "GET",
        MANAGED,
        "A tenant",
        auth="operator",
        params=(SLUG,),
        returns=TenantOut,
    ),
    Operation(
        ManagedTenant,
        "",
        "DELETE",
        MANAGED,
        "Archive (or purge) a tenant",
        204,
        auth="operator",
        params=(SLUG,),
    ),
    Operation(
        ManagedTenant,
        "move",
        "POST",
        MANAGED + "/move",
        "Move a tenant online",
        200,
        TenantMove,
        "operator",
        (SLUG,),
        returns=TenantMoved,
    ),
    *(
        Operation(
            ManagedTenant,
            name,
            "POST",
            f"{MANAGED}/{name}",
            name.capitalize(),
            auth="operator",
            params=(SLUG,),
            returns=TenantOut,
        )
        for name in ("suspend", "resume", "restore")
    ),
)
