"""What the lifecycle works with: the servers and each isolation mode's storage (the
``ITenancy`` service)."""

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine

from ..tenancy.errors import ProvisioningError
from ..tenancy.models import MODES
from ..tenancy.servers import Servers

if TYPE_CHECKING:
    from ..encryption.keys import TenantKeys


@dataclass(frozen=True)
class Tenancy:
    servers: Servers
    stores: dict
    default_mode: str = "schema"
    keys: "TenantKeys | None" = None  # each tenant's data keys (``encryption.keys``)
    files: object = None  # the tenants' files (``IFiles``): purged, exported, imported with them
    caches: object = None  # app code's cache (``ITenantCaches``): a tenant's purged with it

    @property
    def registry(self) -> Engine:
        """The owner's engine on the default server, which holds the tenant registry."""
        return self.servers.default.owner

    def store(self, mode: str | None):
        mode = mode or self.default_mode
        if mode not in self.stores:
            raise ProvisioningError(f"unknown mode {mode!r}: one of {', '.join(MODES)}")
        return self.stores[mode]
