"""The tenant lifecycle behind ``tenantapp-admin`` and the operator API.

Each operation runs in one transaction of its own on the registry (and, for a tenant on another
server, one there that commits just before it), so PostgreSQL's transactional DDL makes it
all-or-nothing: a tenant exists with its registry row, storage at head and migration record, or
not at all, also when the process dies midway. What differs by isolation mode is the store's.
"""

import logging
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import String, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError, ProgrammingError

from ..encryption.columns import seal_text, sealed_attributes
from ..tenancy.directory import ENTRY, UNDEFINED_TABLE, TenantEntry, forget_tenant
from ..tenancy.errors import (  # noqa: F401 - re-exported: callers catch them from here
    ProvisioningError,
    ResidencyError,
    SharedSchemaMissing,
    TenantExists,
    UnknownServer,
    UnknownTenant,
)
from ..tenancy.models import SHARED_SCHEMA, TenantMigration, TenantRecord, tenant_id_seq
from ..tenancy.servers import DEFAULT
from ..tenancy.slugs import check_slug
from ..users.models import User
from . import residency
from .tenancy import Tenancy

log = logging.getLogger(__name__)
tenants = TenantRecord.__table__
records = TenantMigration.__table__


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
    mode: str = "schema"
    server: str = DEFAULT
    region: str | None = None  # pinned there (``residency``)

    def as_json(self) -> dict:
        return {
            "id": self.id,
            "slug": self.slug,
            "name": self.display_name,
            "status": self.status,
            "mode": self.mode,
            "server": self.server,
            "region": self.region,
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


INVALID_SCHEMA_NAME = "3F000"  # no tenantapp schema at all: an empty database
NOT_MIGRATED = "the shared schema is not migrated yet: run `tenantapp-admin CONFIG_URI migrate`"


def require_shared_schema(connection: Connection) -> None:
    found = connection.scalar(
        select(func.to_regclass(f"{SHARED_SCHEMA}.{records.name}").cast(String))
    )
    if found is None:
        raise SharedSchemaMissing(NOT_MIGRATED)


def create_tenant(
    tenancy: Tenancy,
    slug: str,
    name: str | None = None,
    owner_email: str | None = None,
    owner_password: str | None = None,
    hasher=None,
    use_template: bool = True,
    mode: str | None = None,
    server: str | None = None,
    region: str | None = None,
) -> tuple[TenantInfo, Owner | None]:
    """Create a tenant at head in ``mode`` (default: the configured one) on ``server``, with a
    first owner when ``owner_email`` is given (a password is generated unless one is passed
    in). ``region`` pins it there: on a server of that region (the region's first when no
    server is named), refused anywhere else."""
    check_slug(slug)
    display_name = (name or slug).strip() or slug
    if len(display_name) > 200:
        raise ProvisioningError("tenant name is longer than 200 characters")
    store = tenancy.store(mode)
    if server is not None:
        tenancy.servers[server]  # an unknown server is refused before anything is written
    server = residency.placed(tenancy.servers, server, region)
    owner = None
    if owner_email is not None:
        owner = Owner(owner_email.strip().lower(), owner_password or secrets.token_urlsafe(12))
    started = time.perf_counter()

    def add_owner(connection: Connection) -> None:
        name = seal_text(data_key, 1, owner.email.split("@")[0], sealed_attributes(User)["name"])
        connection.execute(
            User.__table__.insert().values(
                email=owner.email,
                name=name,
                role="owner",
                password_hash=hasher.hash(owner.password),
            )
        )

    with tenancy.registry.begin() as registry:
        entry = register_tenant(registry, slug, display_name, store, server, region)
        data_key = tenancy.keys.create(registry, entry.id)
        revision = store.create(registry, entry, use_template, add_owner if owner else None)
        elapsed_ms = round((time.perf_counter() - started) * 1000)
        record_migration(registry, entry.id, revision, "ok", None, elapsed_ms)
    log.info("created tenant %s (%s mode, server %s)", slug, store.mode, server)
    info = TenantInfo(
        entry.id,
        slug,
        entry.schema_name,
        display_name,
        "active",
        revision,
        mode=store.mode,
        server=server,
        region=region,
    )
    return info, owner


def register_tenant(
    connection: Connection,
    slug: str,
    display_name: str,
    store,
    server: str = DEFAULT,
    region: str | None = None,
) -> TenantEntry:
    """The registry row of a new tenant, in the caller's transaction (its first statement: a
    registry that is not there yet fails it, and nothing else has happened)."""
    try:
        tenant_id = connection.scalar(select(tenant_id_seq.next_value()))
    except ProgrammingError as error:
        if getattr(error.orig, "sqlstate", None) in (UNDEFINED_TABLE, INVALID_SCHEMA_NAME):
            raise SharedSchemaMissing(NOT_MIGRATED) from None
        raise
    schema = store.schema_name(tenant_id)
    try:
        # The row goes in first: a concurrent creator of the same slug waits on it and then
        # fails here, before any DDL of its own.
        connection.execute(
            tenants.insert().values(
                id=tenant_id,
                slug=slug,
                schema_name=schema,
                display_name=display_name,
                mode=store.mode,
                server=server,
                region=region,
            )
        )
    except IntegrityError:
        raise TenantExists(f"tenant {slug!r} already exists") from None
    return TenantEntry(tenant_id, slug, schema, display_name, "active", store.mode, server)


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
    if status == "ok":  # on the directory's entry too (``Tenant.has_revision``)
        connection.execute(
            update(tenants).where(tenants.c.id == tenant_id).values(revision=revision)
        )


def find_row(connection: Connection, slug: str, statuses: tuple[str, ...]) -> TenantEntry:
    """The registry entry of ``slug`` in one of ``statuses``, locked until the transaction
    ends."""
    check_slug(slug)
    require_shared_schema(connection)
    row = connection.execute(ENTRY.where(tenants.c.slug == slug).with_for_update()).first()
    if row is None or row.status not in statuses:
        raise UnknownTenant(f"no {' or '.join(statuses)} tenant {slug!r}")
    return TenantEntry.of(row)


def _set(connection: Connection, entry: TenantEntry, **values) -> None:
    connection.execute(tenants.update().where(tenants.c.id == entry.id).values(**values))


def archive_tenant(tenancy: Tenancy, slug: str) -> None:
    """Take a tenant out of service, restorably: marked deleted, its storage out of the
    binding's reach, its URLs 404."""
    with tenancy.registry.begin() as registry:
        entry = find_row(registry, slug, ("active", "suspended"))
        schema = tenancy.store(entry.mode).archive(registry, entry)
        _set(registry, entry, status="deleted", schema_name=schema)
    forget_tenant(slug)
    log.info("archived tenant %s", slug)


def restore_tenant(tenancy: Tenancy, slug: str) -> TenantInfo:
    with tenancy.registry.begin() as registry:
        entry = find_row(registry, slug, ("deleted",))
        schema = tenancy.store(entry.mode).restore(registry, entry)
        _set(registry, entry, status="active", schema_name=schema)
    forget_tenant(slug)
    log.info("restored tenant %s", slug)
    return get_tenant(tenancy, slug)


def purge_tenant(tenancy: Tenancy, slug: str) -> None:
    """Remove a tenant, archived or not, and all its data for good."""
    with tenancy.registry.begin() as registry:
        entry = find_row(registry, slug, ("active", "suspended", "deleted"))
        tenancy.store(entry.mode).drop(registry, entry)
        registry.execute(tenants.delete().where(tenants.c.id == entry.id))  # and its keys
    forget_tenant(slug)
    tenancy.keys.forget(entry.id)
    if tenancy.files is not None:  # sealed with keys that are gone: removed all the same
        tenancy.files.purge(entry.id)
    if tenancy.caches is not None:
        tenancy.caches.purge(entry.id)
    log.info("purged tenant %s (%s mode)", slug, entry.mode)


def rename_tenant(tenancy: Tenancy, old: str, new: str) -> TenantInfo:
    """The slug is only a public alias: the tenant's storage (named by id) stays put."""
    check_slug(new)
    with tenancy.registry.begin() as registry:
        entry = find_row(registry, old, ("active", "suspended"))
        try:
            _set(registry, entry, slug=new)
        except IntegrityError:
            raise TenantExists(f"tenant {new!r} already exists") from None
    forget_tenant(old)
    log.info("renamed tenant %s to %s", old, new)
    return get_tenant(tenancy, new)


def set_status(tenancy: Tenancy, slug: str, status: str) -> TenantInfo:
    """Suspend (``suspended``) or resume (``active``) a tenant; its data is untouched."""
    if status not in ("active", "suspended"):
        raise ProvisioningError(f"unknown status {status!r}")
    with tenancy.registry.begin() as registry:
        entry = find_row(registry, slug, ("active", "suspended"))
        _set(registry, entry, status=status)
    forget_tenant(slug)
    log.info("tenant %s is now %s", slug, status)
    return get_tenant(tenancy, slug)


def get_tenant(tenancy: Tenancy, slug: str) -> TenantInfo:
    check_slug(slug)
    for info in list_tenants(tenancy, slug):
        return info
    raise UnknownTenant(f"no tenant {slug!r}")


def tenants_with_records():
    """Tenants with their migration record: what listing and migrating both start from."""
    return select(
        *ENTRY.selected_columns,  # with the revision, written with the record (s026)
        records.c.status.label("migration_status"),
        records.c.last_error,
        tenants.c.region,
    ).outerjoin(records, records.c.tenant_id == tenants.c.id)


def entry_of(row) -> TenantEntry:
    return TenantEntry(
        row.id, row.slug, row.schema_name, row.display_name, row.status, row.mode, row.server
    )


def list_tenants(tenancy: Tenancy, slug: str | None = None) -> list[TenantInfo]:
    """Every tenant (or one) with its recorded revision and its data's size on disk."""
    with tenancy.registry.connect() as connection:
        require_shared_schema(connection)
        query = tenants_with_records().order_by(tenants.c.slug)
        if slug is not None:
            query = query.where(tenants.c.slug == slug)
        rows = connection.execute(query).all()
    sizes: dict[int, int] = {}
    by_mode: dict[str, list[TenantEntry]] = {}
    for row in rows:
        by_mode.setdefault(row.mode, []).append(entry_of(row))
    for mode, entries in by_mode.items():
        sizes.update(tenancy.store(mode).sizes(entries))
    return [
        TenantInfo(
            row.id,
            row.slug,
            row.schema_name,
            row.display_name,
            row.status,
            row.revision,
            sizes.get(row.id, 0),
            row.migration_status,
            row.last_error,
            row.mode,
            row.server,
            row.region,
        )
        for row in rows
    ]


def tenant_exists(connection: Connection, slug: str) -> bool:
    return connection.scalar(select(tenants.c.id).where(tenants.c.slug == slug)) is not None
