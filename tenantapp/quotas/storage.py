"""Measuring each tenant's storage, for ``max_storage_mb``: a job per tenant on a schedule
(``tenantapp.jobs.cron.quotas.measure_storage``), which records the size its store reports plus
its files' bytes on the tenant's registry row, where the directory entry picks it up; and its
users, counted at the same time, for the usage export (``metrics.export``)."""

from sqlalchemy import select, update
from sqlalchemy.sql import func

from ..files.models import file_bytes
from ..interfaces import IServers, ITenancy, service
from ..jobs import tenant_task
from ..tenancy.directory import forget_tenant
from ..tenancy.models import TenantRecord
from ..users.models import User
from . import MB

TASK = "quotas.measure_storage"


@tenant_task(TASK, cron="*/15 * * * *")
def measure_storage(request) -> None:
    entry = request.tenant.record
    size = service(request.registry, ITenancy).store(entry.mode).sizes([entry]).get(entry.id, 0)
    size += file_bytes(request.dbsession)
    users = request.dbsession.scalar(select(func.count()).select_from(User))
    with service(request.registry, IServers).default.owner.begin() as registry:
        registry.execute(
            update(TenantRecord)
            .where(TenantRecord.id == entry.id)
            .values(storage_bytes=size, users_count=users, storage_measured_at=func.now())
        )
    forget_tenant(entry.slug)  # here now; the row's trigger tells the other processes


def storage_room(request) -> int | None:
    """Bytes the request's tenant may still store: its quota, less its last measured size
    (rows and files) and the files added since that measurement. None: no quota."""
    limit_mb = request.tenant.settings["quota_max_storage_mb"]
    if limit_mb <= 0:
        return None
    entry = request.tenant.record
    with service(request.registry, IServers).default.serving.connect() as registry:
        measured_at = registry.scalar(
            select(TenantRecord.storage_measured_at).where(TenantRecord.id == entry.id)
        )
    used = (entry.storage_bytes or 0) + file_bytes(request.dbsession, measured_at)
    return max(0, limit_mb * MB - used)
