"""The isolation modes as a request sees them: where each mode's tenant is served and how a
session is bound to it.

Each store is registered as an ``ITenantStore`` service under its mode's name; the request path
finds it by the mode in the tenant's registry row, so nothing else asks which mode a tenant is
in. Making, archiving and dropping a tenant's storage is the lifecycle's (``lifecycle.storage``).
"""

from sqlalchemy.engine import Engine
from zope.interface import implementer

from ..interfaces import ITenantStore
from .binding import Binding
from .directory import TenantEntry
from .models import POOLED_SCHEMA, schema_for_id
from .servers import Servers


@implementer(ITenantStore)
class SchemaStore:
    """A schema of its own per tenant, ``tenant_<id>``, on the tenant's server."""

    mode = "schema"

    def __init__(self, servers: Servers):
        self.servers = servers

    def schema_name(self, tenant_id: int) -> str:
        return schema_for_id(tenant_id)

    def engine(self, entry: TenantEntry) -> Engine:
        return self.servers[entry.server].serving

    def owner_engine(self, entry: TenantEntry) -> Engine:
        return self.servers[entry.server].owner

    def binding(self, entry: TenantEntry) -> Binding:
        return Binding(entry.schema_name, guard=entry.id)

    def heard_at(self, entry: TenantEntry) -> tuple[str, Engine]:
        """Where the notifications of changes to the tenant's rows are heard: its server's
        database (the place named as the server)."""
        return entry.server, self.servers[entry.server].owner


@implementer(ITenantStore)
class SharedStore:
    """Rows in the pooled schema ``tenant_shared`` of the tenant's server, each carrying the
    tenant's id, which row-level security filters on (see ``tenancy.pooling``)."""

    mode = "shared"

    def __init__(self, servers: Servers):
        self.servers = servers

    def schema_name(self, tenant_id: int) -> str:
        return POOLED_SCHEMA

    def binding(self, entry: TenantEntry) -> Binding:
        return Binding(POOLED_SCHEMA, entry.id, guard=entry.id)

    engine = SchemaStore.engine
    owner_engine = SchemaStore.owner_engine
    heard_at = SchemaStore.heard_at
