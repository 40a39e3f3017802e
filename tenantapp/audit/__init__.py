"""The audit log: every write in a tenant, recorded in that tenant's own schema."""

from ..interfaces import IAuditStream, provide
from .models import AuditEntry
from .resources import AuditLog
from .streaming import sink_from


def record(
    request,
    action: str,
    target: str | None = None,
    *,
    actor: str | None = None,
    session=None,
    **detail,
) -> None:
    """Add an entry to the request's transaction (or ``session``'s, for a request that writes
    in a session of its own): it commits or rolls back with the change. ``actor`` names who
    acted when the request has no identity yet (a login names the email or user it tried)."""
    if actor is None:
        identity = request.identity
        actor = identity.actor if identity else "anonymous"
    (session or request.dbsession).add(
        AuditEntry(
            actor=actor,
            action=action,
            target=target,
            request_id=request.request_id,
            client_request_id=request.client_request_id,
            detail=detail or None,
        )
    )


def includeme(config):
    sink = sink_from(config.get_settings())
    if sink is not None:
        provide(config, sink, IAuditStream)
        config.scan(".stream_task")
    config.include("tenantapp.tenancy.resources")  # the tree it hangs resources from
    config.add_tenant_resource("audit", lambda tenant, request: AuditLog(tenant))
    config.include("tenantapp.openapi")
    config.add_api_views(".views")
