"""A tenant's policies: in the registry, parsed once per process and kept in a cache that
PostgreSQL keeps true (a trigger announces every change on ``tenantapp_policies``)."""

from datetime import datetime

from sqlalchemy import text

from ..caching import NotifiedCache
from ..tenancy.servers import registry_owner
from .cedar import Policies, checked

CHANNEL = "tenantapp_policies"
NONE = Policies("", None)  # a tenant without policies (the cache keeps no None)

READ = text("SELECT source FROM tenantapp.tenant_policies WHERE tenant_id = :tenant_id")
SHOWN = text(
    "SELECT source, updated_at FROM tenantapp.tenant_policies WHERE tenant_id = :tenant_id"
)
SAVE = text(
    "INSERT INTO tenantapp.tenant_policies (tenant_id, source) VALUES (:tenant_id, :source)"
    " ON CONFLICT (tenant_id) DO UPDATE SET source = EXCLUDED.source, updated_at = now()"
)
REMOVE = text("DELETE FROM tenantapp.tenant_policies WHERE tenant_id = :tenant_id")


def policy_cache(capacity: int) -> NotifiedCache:
    return NotifiedCache(CHANNEL, capacity, group=str)


def policies_of(registry, cache: NotifiedCache, tenant_id: int) -> Policies:
    """The tenant's parsed policies (``NONE`` without any): memory, else one query."""

    def load(key: int) -> Policies:
        with registry_owner(registry).connect() as connection:
            source = connection.scalar(READ, {"tenant_id": key})
        if not source:
            return NONE
        return checked(source, None)

    return cache.lookup(tenant_id, load)


def shown(registry, tenant_id: int) -> tuple[str, datetime | None]:
    with registry_owner(registry).connect() as connection:
        row = connection.execute(SHOWN, {"tenant_id": tenant_id}).first()
    return (row.source, row.updated_at) if row else ("", None)


def save(registry, tenant_id: int, source: str) -> None:
    with registry_owner(registry).begin() as connection:
        if source.strip():
            connection.execute(SAVE, {"tenant_id": tenant_id, "source": source})
        else:
            connection.execute(REMOVE, {"tenant_id": tenant_id})
