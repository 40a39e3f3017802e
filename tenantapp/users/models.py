"""The tenant-scoped users table (declared without a schema: the binding places it)."""

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, Identity, String, false, func, text, true
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from ..encryption.columns import Sealed
from ..tenancy.models import TenantBase

ROLES = ("owner", "admin", "member")


class User(TenantBase):
    __tablename__ = "users"
    __mapper_args__ = {"eager_defaults": True}  # server defaults come back via RETURNING

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(Sealed())  # personal data: sealed with the tenant's key
    role: Mapped[str] = mapped_column(String(16), server_default="member")
    password_hash: Mapped[str | None] = mapped_column(String(200), deferred=True)
    # the tenant's custom fields (``users.custom``), validated against its definitions
    custom: Mapped[dict] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    # a deactivated user (by its directory, over SCIM) can neither log in nor use a token
    active: Mapped[bool] = mapped_column(Boolean, server_default=true())
    user_name: Mapped[str | None] = mapped_column(String(300), unique=True)  # SCIM userName
    external_id: Mapped[str | None] = mapped_column(String(300))  # SCIM externalId
    scim: Mapped[str | None] = mapped_column(Sealed(), deferred=True)  # its directory's document
    # a second factor (``identity.mfa``): the secret, sealed; on once a code proved it
    totp_secret: Mapped[str | None] = mapped_column(Sealed(), deferred=True)
    totp_enabled: Mapped[bool] = mapped_column(Boolean, server_default=false())
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
