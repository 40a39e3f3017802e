"""Creating, dropping, listing and migrating tenants: the operations behind ``tenantapp-admin``.

Each operation runs in one transaction of its own, so PostgreSQL's transactional DDL makes it
all-or-nothing: a tenant exists with its registry row, schema and tables at head, or not at all,
also when the process dies midway.
"""

import logging
import secrets
from contextlib import suppress
from dataclasses import dataclass

from sqlalchemy import delete, inspect, select, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.schema import CreateSchema, DropSchema

from ..users.models import User
from . import migrations
from .models import SHARED_SCHEMA, TenantRecord, schema_for_id, tenant_id_seq
from .slugs import check_slug

log = logging.getLogger(__name__)
tenants = TenantRecord.__table__

# Serialises shared-schema migration between processes (pserve workers, admin runs).
MIGRATION_LOCK_KEY = 0x74656E616E74  # "tenant"


class ProvisioningError(Exception):
    """An operator request that cannot be carried out; the message says why."""


class TenantExists(ProvisioningError):
    pass


class UnknownTenant(ProvisioningError):
    pass


class SharedSchemaMissing(ProvisioningError):
    pass


@dataclass(frozen=True)
class TenantInfo:
    id: int
    slug: str
    schema_name: str
    display_name: str
    status: str
    revision: str | None = None

    def as_json(self) -> dict:
        return {
            "id": self.id,
            "slug": self.slug,
            "name": self.display_name,
            "status": self.status,
            "revision": self.revision,
            "schema": self.schema_name,
        }


@dataclass(frozen=True)
class Owner:
    """The first owner of a new tenant. ``password`` is shown once and stored only hashed."""

    email: str
    password: str


def require_shared_schema(connection: Connection) -> None:
    if not inspect(connection).has_table(tenants.name, schema=SHARED_SCHEMA):
        raise SharedSchemaMissing(
            "the shared schema is not migrated yet: run `tenantapp-admin CONFIG_URI migrate`"
        )


def create_tenant(
    engine: Engine,
    slug: str,
    name: str | None = None,
    owner_email: str | None = None,
    owner_password: str | None = None,
    hasher=None,
) -> tuple[TenantInfo, Owner | None]:
    """Create a tenant at head, with a first owner when ``owner_email`` is given (a password is
    generated unless one is passed in)."""
    check_slug(slug)
    owner = None
    if owner_email is not None:
        owner = Owner(owner_email.strip().lower(), owner_password or secrets.token_urlsafe(12))
    display_name = (name or slug).strip() or slug
    if len(display_name) > 200:
        raise ProvisioningError("tenant name is longer than 200 characters")
    with engine.begin() as connection:
        require_shared_schema(connection)
        tenant_id = connection.scalar(select(tenant_id_seq.next_value()))
        schema = schema_for_id(tenant_id)
        try:
            # The row goes in first: a concurrent creator of the same slug waits on it and
            # then fails here, before any DDL of its own.
            connection.execute(
                tenants.insert().values(
                    id=tenant_id, slug=slug, schema_name=schema, display_name=display_name
                )
            )
        except IntegrityError:
            raise TenantExists(f"tenant {slug!r} already exists") from None
        connection.execute(CreateSchema(schema))
        migrations.upgrade_tenant(connection, schema)
        if owner is not None:
            connection.execute(
                User.__table__.insert().values(
                    email=owner.email,
                    name=owner.email.split("@")[0],
                    role="owner",
                    password_hash=hasher.hash(owner.password),
                )
            )
    log.info("created tenant %s in schema %s", slug, schema)
    revision = migrations.head_revision("tenant")
    return TenantInfo(tenant_id, slug, schema, display_name, "active", revision), owner


def drop_tenant(engine: Engine, slug: str) -> None:
    check_slug(slug)
    with engine.begin() as connection:
        require_shared_schema(connection)
        schema = connection.scalar(
            delete(tenants).where(tenants.c.slug == slug).returning(tenants.c.schema_name)
        )
        if schema is None:
            raise UnknownTenant(f"no tenant {slug!r}")
        connection.execute(DropSchema(schema, cascade=True, if_exists=True))
    log.info("dropped tenant %s and schema %s", slug, schema)


def set_status(engine: Engine, slug: str, status: str) -> TenantInfo:
    """Suspend (``suspended``) or resume (``active``) a tenant; its data is untouched."""
    if status not in ("active", "suspended"):
        raise ProvisioningError(f"unknown status {status!r}")
    check_slug(slug)
    with engine.begin() as connection:
        require_shared_schema(connection)
        updated = connection.execute(
            tenants.update()
            .where(tenants.c.slug == slug, tenants.c.status.in_(("active", "suspended")))
            .values(status=status)
            .returning(tenants.c.slug)
        ).first()
    if updated is None:
        raise UnknownTenant(f"no tenant {slug!r}")
    log.info("tenant %s is now %s", slug, status)
    return get_tenant(engine, slug)


def get_tenant(engine: Engine, slug: str) -> TenantInfo:
    check_slug(slug)
    for info in list_tenants(engine, slug):
        return info
    raise UnknownTenant(f"no tenant {slug!r}")


def list_tenants(engine: Engine, slug: str | None = None) -> list[TenantInfo]:
    with engine.connect() as connection:
        require_shared_schema(connection)
        rows = connection.execute(
            select(
                tenants.c.id,
                tenants.c.slug,
                tenants.c.schema_name,
                tenants.c.display_name,
                tenants.c.status,
            )
            .where(tenants.c.slug == slug if slug is not None else True)
            .order_by(tenants.c.slug)
        ).all()
        return [
            TenantInfo(
                *row, revision=migrations.current_revision(connection, "tenant", row.schema_name)
            )
            for row in rows
        ]


def tenant_exists(connection: Connection, slug: str) -> bool:
    return connection.scalar(select(tenants.c.id).where(tenants.c.slug == slug)) is not None


def migrate(engine: Engine) -> list[str]:
    """Bring the shared schema, then every tenant schema, to head. Returns migrated slugs."""
    with engine.begin() as connection:
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        migrations.upgrade_shared(connection)
        rows = connection.execute(select(tenants.c.slug, tenants.c.schema_name)).all()
    head = migrations.head_revision("tenant")
    migrated = []
    for slug, schema in rows:
        with engine.begin() as connection:
            if migrations.current_revision(connection, "tenant", schema) == head:
                continue
            migrations.upgrade_tenant(connection, schema)
            migrated.append(slug)
    return migrated


def provision_on_start(
    engine: Engine, demo_slugs: list[str], demo_password: str | None, hasher
) -> None:
    """Development convenience: migrate, then create the demo tenants that are missing, each
    with an owner ``owner@SLUG.example`` whose password is ``demo_password``."""
    migrate(engine)
    for slug in demo_slugs:
        with engine.connect() as connection:
            if tenant_exists(connection, slug):
                continue
        owner_email = f"owner@{slug}.example" if demo_password else None
        with suppress(TenantExists):  # another process created it first
            create_tenant(
                engine, slug, slug.capitalize(), owner_email, demo_password, hasher=hasher
            )
