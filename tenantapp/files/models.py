"""The tenant-scoped ``files`` table (declared without a schema: the binding places it)."""

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Identity, LargeBinary, String, func, select
from sqlalchemy.orm import Mapped, mapped_column

from ..tenancy.models import TenantBase


class StoredFile(TenantBase):
    __tablename__ = "files"
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    blob: Mapped[str] = mapped_column(String(32), unique=True)  # its name in the file store
    name: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))  # sniffed, never the uploader's
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))  # when the uploader sent a digest
    sealed_key: Mapped[bytes] = mapped_column(LargeBinary)  # sealed with the tenant's data key
    uploaded_by: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


def file_bytes(session, since: datetime | None = None) -> int:
    """The bytes of the tenant's files (added after ``since``, when given)."""
    query = select(func.coalesce(func.sum(StoredFile.size), 0))
    if since is not None:
        query = query.where(StoredFile.created_at > since)
    return int(session.scalar(query))
