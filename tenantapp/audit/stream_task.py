"""The audit stream's job: every minute, for each tenant, when ``tenantapp.audit_stream.url``
is set (this module is scanned only then)."""

from ..interfaces import IAuditStream, service
from ..jobs import tenant_task
from .streaming import stream_tenant


@tenant_task("audit.stream", cron="* * * * *")
def stream(request) -> None:
    stream_tenant(request, service(request.registry, IAuditStream))
