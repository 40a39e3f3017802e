"""The audit log: every write in a tenant, recorded in that tenant's own schema."""

from .models import AuditEntry


def record(request, action: str, target: str | None = None, **detail) -> None:
    """Add an entry to the request's transaction: it commits or rolls back with the change."""
    identity = request.identity
    request.dbsession.add(
        AuditEntry(
            actor=identity.userid if identity else "anonymous",
            action=action,
            target=target,
            request_id=request.request_id,
            detail=detail or None,
        )
    )
