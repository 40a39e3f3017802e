"""Declarative bases for the two kinds of tables, and the shared tenant registry.

Tenant tables are declared without a schema: the session binding decides where they live.
Shared tables name SHARED_SCHEMA explicitly, so no tenant binding can redirect them.
"""

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    Sequence,
    String,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SHARED_SCHEMA = "tenantapp"

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class SharedBase(DeclarativeBase):
    metadata = MetaData(schema=SHARED_SCHEMA, naming_convention=NAMING_CONVENTION)


class TenantBase(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


tenant_id_seq = Sequence("tenants_id_seq", schema=SHARED_SCHEMA, metadata=SharedBase.metadata)


class TenantRecord(SharedBase):
    """One row per tenant. The schema name is derived from the id, never from the slug,
    so renaming a slug never moves data and a slug can never inject into DDL."""

    __tablename__ = "tenants"

    id: Mapped[int] = mapped_column(BigInteger, tenant_id_seq, primary_key=True)
    slug: Mapped[str] = mapped_column(String(63), unique=True)
    schema_name: Mapped[str] = mapped_column(String(63))
    display_name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="active")
    mode: Mapped[str] = mapped_column(String(16), server_default="schema")
    server: Mapped[str] = mapped_column(String(63), server_default="default")
    region: Mapped[str | None] = mapped_column(String(32))  # pinned: its data stays there
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # overrides of the ini's per-tenant settings and flags (``tenantapp.tenant_settings``)
    settings: Mapped[dict] = mapped_column(JSONB, server_default="{}")
    flags: Mapped[dict] = mapped_column(JSONB, server_default="{}")
    # its size when last measured (``quotas.storage``), for the storage quota
    storage_bytes: Mapped[int | None] = mapped_column(BigInteger)
    storage_measured_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    users_count: Mapped[int | None] = mapped_column(BigInteger)  # counted with the storage
    # a part of every tenant-aware cache key; a trigger adds one when it moves or comes back
    cache_epoch: Mapped[int] = mapped_column(Integer, server_default="0")
    plan: Mapped[str | None] = mapped_column(String(63))  # ``tenantapp.plan.NAME`` (s025)
    revision: Mapped[str | None] = mapped_column(String(64))  # its schema's (s026)


class SchemaTemplate(SharedBase):
    """The DDL of a tenant schema at one revision, captured once from the template schema."""

    __tablename__ = "schema_templates"

    revision: Mapped[str] = mapped_column(String(64), primary_key=True)
    ddl: Mapped[str] = mapped_column(Text)
    captured_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class TenantMigration(SharedBase):
    """The durable record of each tenant's last migration, written in the same transaction as
    the migration itself, so it cannot disagree with the tenant's schema."""

    __tablename__ = "tenant_migrations"

    tenant_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey(TenantRecord.id, ondelete="CASCADE"), primary_key=True
    )
    revision: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    last_error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    attempted_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class TenantMove(SharedBase):
    """The durable record of a tenant's move (see ``lifecycle.moving``)."""

    __tablename__ = "tenant_moves"

    tenant_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey(TenantRecord.id, ondelete="CASCADE"), primary_key=True
    )
    source_mode: Mapped[str] = mapped_column(String(16))
    source_server: Mapped[str] = mapped_column(String(63))
    source_schema: Mapped[str] = mapped_column(String(63))
    target_mode: Mapped[str] = mapped_column(String(16))
    target_server: Mapped[str] = mapped_column(String(63))
    target_schema: Mapped[str] = mapped_column(String(63))
    state: Mapped[str] = mapped_column(String(16))
    rows_copied: Mapped[int | None] = mapped_column(BigInteger)
    pause_ms: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    plan: Mapped[str | None] = mapped_column(String(63))  # the plan the switch puts it on
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class TenantDomain(SharedBase):
    """A custom domain a tenant is reached by once verified (``tenantapp.domains``)."""

    __tablename__ = "tenant_domains"

    domain: Mapped[str] = mapped_column(String(253), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey(TenantRecord.id, ondelete="CASCADE"), index=True
    )
    token: Mapped[str] = mapped_column(String(64))
    verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class TenantUsage(SharedBase):
    """A tenant's usage on one day, summed over the app processes (``tenantapp.metrics``)."""

    __tablename__ = "tenant_usage"

    tenant_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey(TenantRecord.id, ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    requests: Mapped[int] = mapped_column(BigInteger, server_default="0")
    errors: Mapped[int] = mapped_column(BigInteger, server_default="0")
    db_ms: Mapped[int] = mapped_column(BigInteger, server_default="0")
    rows: Mapped[int] = mapped_column(BigInteger, server_default="0")
    bytes: Mapped[int] = mapped_column(BigInteger, server_default="0")


TEMPLATE_SCHEMA = "tenant_template"
POOLED_SCHEMA = "tenant_shared"  # shared mode: every shared tenant's rows, on each server
MODES = ("schema", "shared", "database")


def schema_for_id(tenant_id: int) -> str:
    return f"tenant_{int(tenant_id)}"
