"""Reading the tenant registry. Segments that are not valid slugs never reach SQL."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import TenantRecord
from .slugs import is_valid_slug

VISIBLE = ("active", "suspended")


def find_tenant(session: Session, slug: str) -> TenantRecord | None:
    """The active or suspended tenant with this slug."""
    if not is_valid_slug(slug):
        return None
    return session.scalar(
        select(TenantRecord).where(TenantRecord.slug == slug, TenantRecord.status.in_(VISIBLE))
    )
