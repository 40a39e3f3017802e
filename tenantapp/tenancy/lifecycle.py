"""What the tenant lifecycle works with: the servers, and the store of each isolation mode."""

from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy.engine import Connection, Engine

from .errors import ProvisioningError
from .models import MODES
from .servers import DEFAULT, Servers


@dataclass(frozen=True)
class Tenancy:
    servers: Servers
    stores: dict
    default_mode: str = "schema"

    @property
    def registry(self) -> Engine:
        """The owner's engine on the default server, which holds the tenant registry."""
        return self.servers.default.owner

    def store(self, mode: str | None):
        mode = mode or self.default_mode
        if mode not in self.stores:
            raise ProvisioningError(f"unknown mode {mode!r}: one of {', '.join(MODES)}")
        return self.stores[mode]

    @contextmanager
    def on_server(self, registry_connection: Connection, server: str):
        """A transaction on ``server`` as its owner: the registry's own when the server is the
        default, so the registry row and the tenant's storage commit together; else one that
        commits just before the registry's (a crash between leaves storage no row names,
        which nothing can reach)."""
        if server == DEFAULT:
            yield registry_connection
            return
        with self.servers[server].owner.begin() as connection:
            yield connection
