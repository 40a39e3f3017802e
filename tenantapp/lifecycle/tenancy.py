"""What the lifecycle works with: the servers and each isolation mode's storage (the
``ITenancy`` service)."""

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine

from ..tenancy.errors import ProvisioningError
from ..tenancy.models import MODES
from ..tenancy.servers import Servers

log = logging.getLogger(__name__)

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
    # each called with (tenancy, entry) once a tenant's rows are in new storage (moved,
    # imported): what lives beside the rows, such as custom-field indexes, is rebuilt there
    placed: tuple = ()
    plans: dict = None  # name -> ``plans.Plan``: where each plan of the ini places its tenants

    @property
    def registry(self) -> Engine:
        """The owner's engine on the default server, which holds the tenant registry."""
        return self.servers.default.owner

    def rebuild(self, entry) -> None:
        """Run the ``placed`` callbacks for ``entry``; one that fails is logged, not raised:
        the tenant is where it is either way."""
        for callback in self.placed:
            try:
                callback(self, entry)
            except Exception:
                log.exception("after placing tenant %s: %s failed", entry.slug, callback)

    def store(self, mode: str | None):
        mode = mode or self.default_mode
        if mode not in self.stores:
            raise ProvisioningError(f"unknown mode {mode!r}: one of {', '.join(MODES)}")
        return self.stores[mode]
