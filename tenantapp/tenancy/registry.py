"""Reading the tenant registry. Segments that are not valid slugs never reach SQL."""

from sqlalchemy import select
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.orm import Session

from ..caching import NotifiedCache
from ..errors import NotReady
from .directory import TenantEntry
from .models import TenantRecord
from .slugs import is_valid_slug

VISIBLE = ("active", "suspended")
UNDEFINED_TABLE = "42P01"
ENTRY = select(
    TenantRecord.id,
    TenantRecord.slug,
    TenantRecord.schema_name,
    TenantRecord.display_name,
    TenantRecord.status,
)


def find_tenant(session: Session, slug: str) -> TenantEntry | None:
    """The active or suspended tenant with this slug."""
    if not is_valid_slug(slug):
        return None
    try:
        row = session.execute(
            ENTRY.where(TenantRecord.slug == slug, TenantRecord.status.in_(VISIBLE))
        ).first()
    except ProgrammingError as error:
        if getattr(error.orig, "sqlstate", None) == UNDEFINED_TABLE:
            raise NotReady("the database is not migrated yet") from None
        raise
    return None if row is None else TenantEntry(*row)


def resolve_tenant(directory: NotifiedCache, session: Session, slug: str) -> TenantEntry | None:
    """``find_tenant``, answered from the process's tenant directory when it can be."""
    return directory.lookup(slug, lambda slug: find_tenant(session, slug))
