"""Which tenant a slug names and where it is placed, from memory: the registry behind a
``NotifiedCache``.

The trigger on ``tenantapp.tenants`` (shared revision s003) notifies ``tenantapp_tenants`` with
the slug of every changed row, so suspending, renaming, moving or dropping a tenant reaches
every process.
"""

import sys
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine

from ..caching import NotifiedCache, forget_everywhere

CHANNEL = "tenantapp_tenants"


@dataclass(frozen=True, slots=True)
class TenantEntry:
    """What serving a tenant needs from its registry row."""

    id: int
    slug: str
    schema_name: str
    display_name: str
    status: str
    mode: str = "schema"
    server: str = "default"
    settings: dict = field(default_factory=dict, compare=False, hash=False)  # overrides
    flags: dict = field(default_factory=dict, compare=False, hash=False)
    storage_bytes: int | None = field(default=None, compare=False, hash=False)  # last measured

    @classmethod
    def of(cls, row, slug: str | None = None) -> "TenantEntry":
        """The entry of a registry row (``ENTRY``'s columns), kept small, since a process holds
        one per tenant it serves: the few distinct words (status, mode, server, the pooled
        schema's name) interned, no-override tenants share one empty mapping, and the caller's
        ``slug`` string is reused. Never mutate an entry's mappings; build new ones."""
        id, row_slug, schema, display, status, mode, server, settings, flags, size = row
        return cls(
            id,
            row_slug if slug is None else slug,
            sys.intern(schema),
            display,
            sys.intern(status),
            sys.intern(mode),
            sys.intern(server),
            settings or NO_OVERRIDES,
            flags or NO_OVERRIDES,
            size,
        )


NO_OVERRIDES: dict = {}  # shared by every entry without overrides: read, never written


class TenantDirectory:
    """Registry lookups by slug, answered from the cache when it can be; a miss reads the
    registry on the default server as the serving role."""

    def __init__(self, cache: NotifiedCache, engine: Engine):
        self.cache = cache
        self.engine = engine

    def resolve(self, slug: str) -> TenantEntry | None:
        from .registry import find_tenant

        return self.cache.lookup(slug, lambda slug: find_tenant(self.engine, slug))

    def stats(self) -> dict:
        return self.cache.stats()


def tenant_directory(capacity: int) -> NotifiedCache:
    return NotifiedCache(CHANNEL, capacity)


def forget_tenant(slug: str) -> None:
    forget_everywhere(CHANNEL, slug)
