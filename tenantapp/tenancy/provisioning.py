"""The tenant lifecycle behind ``tenantapp-admin`` and the operator API.

Each operation runs in one transaction of its own, so PostgreSQL's transactional DDL makes it
all-or-nothing: a tenant exists with its registry row, schema, tables at head and migration
record, or not at all, also when the process dies midway.
"""

import logging
import secrets
import time
from contextlib import suppress
from dataclasses import dataclass

from sqlalchemy import column, func, inspect, select, table
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.schema import CreateSchema, DropSchema

from ..users.models import User
from . import migrations, templates
from .binding import bind_connection
from .directory import forget_tenant
from .models import SHARED_SCHEMA, TenantMigration, TenantRecord, schema_for_id, tenant_id_seq
from .slugs import check_slug

log = logging.getLogger(__name__)
tenants = TenantRecord.__table__
records = TenantMigration.__table__

ARCHIVE_SUFFIX = "_archived"


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
    size_bytes: int | None = None
    migration_status: str | None = None
    last_error: str | None = None

    def as_json(self) -> dict:
        return {
            "id": self.id,
            "slug": self.slug,
            "name": self.display_name,
            "status": self.status,
            "revision": self.revision,
            "schema": self.schema_name,
            "size_bytes": self.size_bytes,
            "migration": {"status": self.migration_status, "last_error": self.last_error},
        }


@dataclass(frozen=True)
class Owner:
    """The first owner of a new tenant. ``password`` is shown once and stored only hashed."""

    email: str
    password: str


def require_shared_schema(connection: Connection) -> None:
    if not inspect(connection).has_table(records.name, schema=SHARED_SCHEMA):
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
    use_template: bool = True,
) -> tuple[TenantInfo, Owner | None]:
    """Create a tenant at head, from the schema template when one is captured for head (else by
    running the migrations), with a first owner when ``owner_email`` is given (a password is
    generated unless one is passed in)."""
    check_slug(slug)
    display_name = (name or slug).strip() or slug
    if len(display_name) > 200:
        raise ProvisioningError("tenant name is longer than 200 characters")
    owner = None
    if owner_email is not None:
        owner = Owner(owner_email.strip().lower(), owner_password or secrets.token_urlsafe(12))
    head = migrations.head_revision("tenant")
    started = time.perf_counter()
    with engine.begin() as connection:
        tenant_id, schema = register_tenant(connection, slug, display_name)
        ddl = templates.template_ddl(connection, head) if use_template else None
        if ddl is not None:
            templates.apply_template(connection, ddl, schema, head)
        else:
            migrations.upgrade_tenant(connection, schema)
        if owner is not None:
            bind_connection(connection, schema)
            connection.execute(
                User.__table__.insert().values(
                    email=owner.email,
                    name=owner.email.split("@")[0],
                    role="owner",
                    password_hash=hasher.hash(owner.password),
                )
            )
        elapsed_ms = round((time.perf_counter() - started) * 1000)
        record_migration(connection, tenant_id, head, "ok", None, elapsed_ms)
    log.info("created tenant %s in schema %s", slug, schema)
    return TenantInfo(tenant_id, slug, schema, display_name, "active", head), owner


def register_tenant(connection: Connection, slug: str, display_name: str) -> tuple[int, str]:
    """The registry row and the empty schema of a new tenant, in the caller's transaction."""
    require_shared_schema(connection)
    tenant_id = connection.scalar(select(tenant_id_seq.next_value()))
    schema = schema_for_id(tenant_id)
    try:
        # The row goes in first: a concurrent creator of the same slug waits on it and then
        # fails here, before any DDL of its own.
        connection.execute(
            tenants.insert().values(
                id=tenant_id, slug=slug, schema_name=schema, display_name=display_name
            )
        )
    except IntegrityError:
        raise TenantExists(f"tenant {slug!r} already exists") from None
    connection.execute(CreateSchema(schema))
    return tenant_id, schema


def record_migration(
    connection: Connection,
    tenant_id: int,
    revision: str | None,
    status: str,
    error: str | None,
    duration_ms: int,
) -> None:
    values = {
        "revision": revision,
        "status": status,
        "last_error": error,
        "duration_ms": duration_ms,
        "attempted_at": func.now(),
    }
    stmt = insert(records).values(tenant_id=tenant_id, **values)
    if status == "failed":
        values.pop("revision")  # a failed attempt leaves the recorded revision as it was
    connection.execute(
        stmt.on_conflict_do_update(index_elements=[records.c.tenant_id], set_=values)
    )


def find_row(connection: Connection, slug: str, statuses: tuple[str, ...]):
    check_slug(slug)
    require_shared_schema(connection)
    row = connection.execute(
        select(tenants.c.id, tenants.c.schema_name, tenants.c.status, tenants.c.display_name)
        .where(tenants.c.slug == slug)
        .with_for_update()
    ).first()
    if row is None or row.status not in statuses:
        raise UnknownTenant(f"no {' or '.join(statuses)} tenant {slug!r}")
    return row


def _rename_schema(connection: Connection, old: str, new: str) -> None:
    preparer = connection.dialect.identifier_preparer
    connection.exec_driver_sql(
        f"ALTER SCHEMA {preparer.quote_schema(old)} RENAME TO {preparer.quote_schema(new)}"
    )
    connection.execute(tenants.update().where(tenants.c.schema_name == old).values(schema_name=new))


def archive_tenant(engine: Engine, slug: str) -> None:
    """Take a tenant out of service, restorably: marked deleted, schema renamed out of reach of
    the binding (which only accepts ``tenant_<id>``), its URLs 404."""
    with engine.begin() as connection:
        row = find_row(connection, slug, ("active", "suspended"))
        _rename_schema(connection, row.schema_name, row.schema_name + ARCHIVE_SUFFIX)
        connection.execute(tenants.update().where(tenants.c.id == row.id).values(status="deleted"))
    forget_tenant(slug)
    log.info("archived tenant %s", slug)


def restore_tenant(engine: Engine, slug: str) -> TenantInfo:
    with engine.begin() as connection:
        row = find_row(connection, slug, ("deleted",))
        _rename_schema(connection, row.schema_name, row.schema_name.removesuffix(ARCHIVE_SUFFIX))
        connection.execute(tenants.update().where(tenants.c.id == row.id).values(status="active"))
    forget_tenant(slug)
    log.info("restored tenant %s", slug)
    return get_tenant(engine, slug)


def purge_tenant(engine: Engine, slug: str) -> None:
    """Remove a tenant, archived or not, and all its data for good."""
    with engine.begin() as connection:
        row = find_row(connection, slug, ("active", "suspended", "deleted"))
        connection.execute(DropSchema(row.schema_name, cascade=True, if_exists=True))
        connection.execute(tenants.delete().where(tenants.c.id == row.id))
    forget_tenant(slug)
    log.info("purged tenant %s and schema %s", slug, row.schema_name)


def rename_tenant(engine: Engine, old: str, new: str) -> TenantInfo:
    """The slug is only a public alias: the schema (named by id) and its data stay put."""
    check_slug(new)
    with engine.begin() as connection:
        row = find_row(connection, old, ("active", "suspended"))
        try:
            connection.execute(tenants.update().where(tenants.c.id == row.id).values(slug=new))
        except IntegrityError:
            raise TenantExists(f"tenant {new!r} already exists") from None
    forget_tenant(old)
    log.info("renamed tenant %s to %s", old, new)
    return get_tenant(engine, new)


def set_status(engine: Engine, slug: str, status: str) -> TenantInfo:
    """Suspend (``suspended``) or resume (``active``) a tenant; its data is untouched."""
    if status not in ("active", "suspended"):
        raise ProvisioningError(f"unknown status {status!r}")
    with engine.begin() as connection:
        row = find_row(connection, slug, ("active", "suspended"))
        connection.execute(tenants.update().where(tenants.c.id == row.id).values(status=status))
    forget_tenant(slug)
    log.info("tenant %s is now %s", slug, status)
    return get_tenant(engine, slug)


def get_tenant(engine: Engine, slug: str) -> TenantInfo:
    check_slug(slug)
    for info in list_tenants(engine, slug):
        return info
    raise UnknownTenant(f"no tenant {slug!r}")


def tenants_with_records():
    """Tenants with their migration record: what listing and migrating both start from."""
    return select(
        tenants.c.id,
        tenants.c.slug,
        tenants.c.schema_name,
        tenants.c.display_name,
        tenants.c.status,
        records.c.revision,
        records.c.status.label("migration_status"),
        records.c.last_error,
    ).outerjoin(records, records.c.tenant_id == tenants.c.id)


def list_tenants(engine: Engine, slug: str | None = None) -> list[TenantInfo]:
    """Every tenant (or one) with its recorded revision and its schema's size on disk."""
    with engine.connect() as connection:
        require_shared_schema(connection)
        query = tenants_with_records().order_by(tenants.c.slug)
        if slug is not None:
            query = query.where(tenants.c.slug == slug)
        rows = connection.execute(query).all()
        sizes = schema_sizes(connection, [row.schema_name for row in rows])
    return [
        TenantInfo(
            row.id,
            row.slug,
            row.schema_name,
            row.display_name,
            row.status,
            row.revision,
            sizes.get(row.schema_name, 0),
            row.migration_status,
            row.last_error,
        )
        for row in rows
    ]


def schema_sizes(connection: Connection, schemas: list[str]) -> dict[str, int]:
    """Bytes on disk per schema (tables with their indexes and TOAST), in one query."""
    if not schemas:
        return {}
    pg_class = table("pg_class", column("oid"), column("relnamespace"), column("relkind"))
    pg_namespace = table("pg_namespace", column("oid"), column("nspname"))
    rows = connection.execute(
        select(pg_namespace.c.nspname, func.sum(func.pg_total_relation_size(pg_class.c.oid)))
        .select_from(pg_class.join(pg_namespace, pg_namespace.c.oid == pg_class.c.relnamespace))
        .where(pg_class.c.relkind.in_(("r", "m")), pg_namespace.c.nspname.in_(schemas))
        .group_by(pg_namespace.c.nspname)
    )
    return {name: int(size) for name, size in rows}


def tenant_exists(connection: Connection, slug: str) -> bool:
    return connection.scalar(select(tenants.c.id).where(tenants.c.slug == slug)) is not None


def provision_on_start(
    engine: Engine, demo_slugs: list[str], demo_password: str | None, hasher
) -> None:
    """Development convenience: migrate, then create the demo tenants that are missing, each
    with an owner ``owner@SLUG.example`` whose password is ``demo_password``."""
    from .migrating import migrate

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
