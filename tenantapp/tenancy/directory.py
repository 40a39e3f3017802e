"""Which tenant a slug names and where it is placed: the registry's rows as the request path
reads them, and the same from memory (the registry behind a ``NotifiedCache``). Segments that
are not valid slugs never reach SQL.

The trigger on ``tenantapp.tenants`` (shared revision s003) notifies ``tenantapp_tenants`` with
the slug of every changed row, so suspending, renaming, moving or dropping a tenant reaches
every process.
"""

import sys
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ProgrammingError

from ..caching import NotifiedCache, forget_everywhere
from ..errors import NotReady
from .models import TenantRecord
from .slugs import is_valid_slug

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
    cache_epoch: int = field(default=0, compare=False, hash=False)  # ``tenant_cache``'s keys
    plan: str | None = field(default=None, compare=False, hash=False)  # ``tenantapp.plan.NAME``
    revision: str | None = field(default=None, compare=False, hash=False)  # its schema's

    @classmethod
    def of(cls, row, slug: str | None = None) -> "TenantEntry":
        """The entry of a registry row (``ENTRY``'s columns), kept small, since a process holds
        one per tenant it serves: the few distinct words (status, mode, server, the pooled
        schema's name) interned, no-override tenants share one empty mapping, and the caller's
        ``slug`` string is reused. Never mutate an entry's mappings; build new ones."""
        id, row_slug, schema, display, status, mode, server, settings, flags, *rest = row
        size, epoch, plan, revision = rest
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
            epoch,
            plan and sys.intern(plan),
            revision and sys.intern(revision),
        )


NO_OVERRIDES: dict = {}  # shared by every entry without overrides: read, never written


class TenantDirectory:
    """Registry lookups by slug, answered from the cache when it can be; a miss reads the
    registry on the default server as the serving role."""

    def __init__(self, cache: NotifiedCache, engine: Engine):
        self.cache = cache
        self.engine = engine

    def resolve(self, slug: str) -> TenantEntry | None:
        return self.cache.lookup(slug, lambda slug: find_tenant(self.engine, slug))

    def placed_elsewhere(self, entry: TenantEntry) -> bool:
        """Whether the registry itself (not this process's memory) now places ``entry``'s
        tenant elsewhere: it moved since ``entry`` was read."""
        return placed_elsewhere(self.engine, entry)

    def stats(self) -> dict:
        return self.cache.stats()


def tenant_directory(capacity: int) -> NotifiedCache:
    return NotifiedCache(CHANNEL, capacity)


def forget_tenant(slug: str) -> None:
    forget_everywhere(CHANNEL, slug)


VISIBLE = ("active", "suspended")
UNDEFINED_TABLE = "42P01"
UNDEFINED_COLUMN = "42703"
INSUFFICIENT_PRIVILEGE = "42501"  # the serving role's grants come with migrate
ENTRY = select(
    TenantRecord.id,
    TenantRecord.slug,
    TenantRecord.schema_name,
    TenantRecord.display_name,
    TenantRecord.status,
    TenantRecord.mode,
    TenantRecord.server,
    TenantRecord.settings,
    TenantRecord.flags,
    TenantRecord.storage_bytes,
    TenantRecord.cache_epoch,
    TenantRecord.plan,
    TenantRecord.revision,
)


def find_tenant(engine: Engine, slug: str) -> TenantEntry | None:
    """The active or suspended tenant with this slug."""
    if not is_valid_slug(slug):
        return None
    try:
        with engine.connect() as connection:
            row = connection.execute(
                ENTRY.where(TenantRecord.slug == slug, TenantRecord.status.in_(VISIBLE))
            ).first()
    except ProgrammingError as error:
        if getattr(error.orig, "sqlstate", None) in (
            UNDEFINED_TABLE,
            UNDEFINED_COLUMN,
            INSUFFICIENT_PRIVILEGE,
        ):
            raise NotReady("the database is not migrated yet") from None
        raise
    return None if row is None else TenantEntry.of(row, slug)


def placed_elsewhere(engine: Engine, entry: TenantEntry) -> bool:
    """Whether the registry now places ``entry``'s tenant elsewhere (another mode, server or
    schema) than ``entry`` says: it moved since ``entry`` was read."""
    now = find_tenant(engine, entry.slug)
    return now is not None and (now.mode, now.server, now.schema_name) != (
        entry.mode,
        entry.server,
        entry.schema_name,
    )


def active_tenants(engine: Engine) -> list[TenantEntry]:
    """Every active tenant, oldest first (periodic jobs fan out over them)."""
    with engine.connect() as connection:
        rows = connection.execute(
            ENTRY.where(TenantRecord.status == "active").order_by(TenantRecord.id)
        ).all()
    return [TenantEntry.of(row) for row in rows]
