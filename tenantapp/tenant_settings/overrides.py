"""Changing a tenant's overrides on its registry row (the row's trigger tells every process)."""

from pydantic import BaseModel

from .. import audit
from ..identity import impersonation
from ..interfaces import ITenancy, service
from ..lifecycle.provisioning import find_row
from ..lifecycle.tenancy import Tenancy
from ..tenancy.directory import TenantEntry, forget_tenant
from ..tenancy.models import TenantRecord
from .catalog import changes

tenants = TenantRecord.__table__


def apply(current: dict, changes: dict) -> dict:
    """``current`` with ``changes`` made: a value sets, None goes back to the default."""
    merged = {**current, **changes}
    return {name: value for name, value in merged.items() if value is not None}


def update_overrides(tenancy: Tenancy, slug: str, settings: dict, flags: dict) -> TenantEntry:
    """Set (or, with None, reset) overrides of an active or suspended tenant; its new entry."""
    with tenancy.registry.begin() as registry:
        entry = find_row(registry, slug, ("active", "suspended"))
        new_settings, new_flags = apply(entry.settings, settings), apply(entry.flags, flags)
        registry.execute(
            tenants.update()
            .where(tenants.c.id == entry.id)
            .values(settings=new_settings, flags=new_flags)
        )
    forget_tenant(slug)
    return TenantEntry(
        entry.id,
        entry.slug,
        entry.schema_name,
        entry.display_name,
        entry.status,
        entry.mode,
        entry.server,
        new_settings,
        new_flags,
    )


def change_by_owner(request, change: BaseModel) -> TenantEntry:
    """The request's tenant's own change (``Catalog.owner_change``), in its audit log; turning
    impersonation off revokes its tokens in the same transaction."""
    settings, _ = changes(change)
    tenancy = service(request.registry, ITenancy)
    entry = update_overrides(tenancy, request.tenant.record.slug, settings, {})
    audit.record(request, "settings.update", None, changes=settings)
    if impersonation.withdrawn(settings):
        revoked = impersonation.revoke_all(request.dbsession)
        audit.record(request, "impersonation.revoked", None, tokens=revoked)
    return entry
