"""The tenant's directory groups (migration ``t012``): a name, the directory's id for it, its
members (users; no foreign key to ``users``: see ``t011``)."""

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Identity, String, func
from sqlalchemy.orm import Mapped, mapped_column

from ..tenancy.models import TenantBase


class DirectoryGroup(TenantBase):
    __tablename__ = "scim_groups"
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(300), unique=True)
    external_id: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class GroupMember(TenantBase):
    __tablename__ = "scim_group_members"

    group_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("scim_groups.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, index=True)
    display: Mapped[str | None] = mapped_column(String(300))  # as the directory names them
