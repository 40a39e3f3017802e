"""Deleted files' blobs past their retention (``tenantapp.files.keep_deleted_days``), removed
by a job per tenant each night."""

from ..interfaces import IFiles, service
from ..jobs import tenant_task


@tenant_task("files.sweep", cron="17 3 * * *")
def sweep(request) -> None:
    service(request.registry, IFiles).sweep(request.tenant.record.id)
