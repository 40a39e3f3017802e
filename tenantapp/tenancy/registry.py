"""Reading the tenant registry. Segments that are not valid slugs never reach SQL."""

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ProgrammingError

from ..errors import NotReady
from .directory import TenantEntry
from .models import TenantRecord
from .slugs import is_valid_slug

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
