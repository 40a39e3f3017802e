"""Measuring each tenant's storage, for ``max_storage_mb``: a job per tenant on a schedule
(``tenantapp.jobs.cron.quotas.measure_storage``), which records the size its store reports plus
its files' bytes on the tenant's registry row, where the directory entry picks it up."""

from sqlalchemy import update
from sqlalchemy.sql import func

from ..files.actions import file_bytes
from ..interfaces import IServers, ITenancy, service
from ..jobs import tenant_task
from ..tenancy.directory import forget_tenant
from ..tenancy.models import TenantRecord

TASK = "quotas.measure_storage"


@tenant_task(TASK, cron="*/15 * * * *")
def measure_storage(request) -> None:
    entry = request.tenant.record
    size = service(request.registry, ITenancy).store(entry.mode).sizes([entry]).get(entry.id, 0)
    size += file_bytes(request.dbsession)
    with service(request.registry, IServers).default.owner.begin() as registry:
        registry.execute(
            update(TenantRecord)
            .where(TenantRecord.id == entry.id)
            .values(storage_bytes=size, storage_measured_at=func.now())
        )
    forget_tenant(entry.slug)  # here now; the row's trigger tells the other processes
